package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/jobs"
	"github.com/hookshim/hookshim/lockfile"
)

// dtTimeout bounds every wait in the deferred-hook tests: things happen in
// milliseconds, the bound only turns a hang into a failure.
const dtTimeout = 60 * time.Second

// dtWorld is one deferred-hook test's world: a repository, a state dir, the
// lock host's home (an sshd host's, or a --root directory), and the
// environment hookshim and the hooks run with.
type dtWorld struct {
	t     *testing.T
	repo  string
	state string
	home  string
	host  *sshtest.Host
	env   []string
	where []string // --root HOME, or --host ... --ssh-config ...
	runs  string   // each run of the test hook appends a line here
}

// dtSecret is passed to hooks in their environment; nothing hookshim writes
// may contain it.
const dtSecret = "hunter2-s3cr3t-0x5eed"

// dtNewWorld makes a world whose lock is on a real sshd host (remote), with
// hookshim installed there (installed), or under --root.
func dtNewWorld(t *testing.T, remote, installed bool) *dtWorld {
	t.Helper()
	base, err := os.MkdirTemp("", "dt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	w := &dtWorld{t: t, repo: filepath.Join(base, "repo"), state: filepath.Join(base, "state"), runs: filepath.Join(base, "runs")}
	for _, d := range []string{w.repo, filepath.Join(base, "userhome")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dtWrite(t, filepath.Join(base, "gitconfig"), "[user]\n\tname = Dana Deployer\n\temail = dana@example.invalid\n", 0o644)
	w.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(base, "userhome"),
		"USER=dana", "LOGNAME=dana", "TMPDIR=/tmp", "LC_ALL=C",
		"GIT_CONFIG_GLOBAL=" + filepath.Join(base, "gitconfig"), "GIT_CONFIG_NOSYSTEM=1",
		"HOOKSHIM_LOG_LEVEL=info",
		"HOOKSHIM_STATE_DIR=" + w.state,
		"RUNS=" + w.runs,
		"SECRET_TOKEN=" + dtSecret,
		// The race detector's second at exit would only slow these tests.
		"GORACE=atexit_sleep_ms=0",
	}
	if !remote {
		w.home = filepath.Join(base, "lockhome")
		if err := os.Mkdir(w.home, 0o755); err != nil {
			t.Fatal(err)
		}
		w.where = []string{"--root", w.home}
		return w
	}
	bin := ""
	if installed {
		bin = filepath.Join(base, "hostbin")
		// hookshim on the host is this test binary (TestMain goes by the
		// name), logging at debug level into ~/watch.log, so a test can tell
		// when its watch is armed.
		script := "#!/bin/sh\nHOOKSHIM_LOG_LEVEL=debug GORACE=atexit_sleep_ms=0 exec " + sshx.Quote(dtHookshim(t)) + ` "$@" 2>>"$HOME/watch.log"` + "\n"
		dtWrite(t, filepath.Join(bin, "hookshim"), script, 0o755)
	}
	w.host = sshtest.Start(t, sshtest.Options{HostBin: bin})
	w.home = w.host.Home
	w.where = []string{"--host", w.host.Target.String(), "--ssh-config", w.host.ConfigFile}
	w.env = append(w.env, "HOOKSHIM_SSH_CONFIG="+w.host.ConfigFile, "KAMAL_EMU_SSH_CONFIG="+w.host.ConfigFile)
	return w
}

// dtHookshim is the hookshim the tests start: this test binary under that
// name (TestMain put it in PATH).
func dtHookshim(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("hookshim")
	if err != nil {
		t.Fatalf("hookshim is not in PATH: %v", err)
	}
	return p
}

func dtWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// hookshim runs hookshim in the repository and returns its status and output.
func (w *dtWorld) hookshim(env []string, args ...string) (int, string, string) {
	w.t.Helper()
	cmd := exec.Command(dtHookshim(w.t), args...)
	cmd.Dir, cmd.Env = w.repo, append(append([]string(nil), w.env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			w.t.Fatalf("hookshim %s: %v", strings.Join(args, " "), err)
		}
	case <-time.After(dtTimeout):
		_ = cmd.Process.Kill()
		w.t.Fatalf("hookshim %s did not finish (or something kept its output open)\nstderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// cmd is a hookshim command line with the flags that point at the lock.
func (w *dtWorld) cmd(command string, args ...string) []string {
	return append(append([]string{command}, w.where...), args...)
}

// lock takes lock path in the host's home as another deploy would.
func (w *dtWorld) lock(path, by string) {
	w.t.Helper()
	d := lockfile.Details{LockedBy: by, At: time.Now().UTC().Add(-time.Minute).Truncate(time.Second), Version: "0123456789abcdef", Message: lockfile.AutomaticMessage}
	if err := (lockfile.Local{Root: w.home}).Acquire(context.Background(), path, d); err != nil {
		w.t.Fatal(err)
	}
}

// release removes the lock as Kamal does: details, then the directory.
func (w *dtWorld) release(path string) {
	w.t.Helper()
	dir := filepath.Join(w.home, path)
	if err := os.Remove(filepath.Join(dir, "details")); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		w.t.Fatal(err)
	}
}

// jobs lists the world's jobs.
func (w *dtWorld) jobs() []jobs.Job {
	w.t.Helper()
	l, err := jobs.List(w.state)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// newest is the job created last.
func (w *dtWorld) newest() jobs.Job {
	w.t.Helper()
	l := w.jobs()
	if len(l) == 0 {
		w.t.Fatal("no job was recorded")
	}
	newest := l[0]
	for _, j := range l {
		if j.Created.After(newest.Created) {
			newest = j
		}
	}
	return newest
}

// follow waits until job j's waiter is gone and returns its final record.
func (w *dtWorld) follow(j jobs.Job) jobs.Job {
	w.t.Helper()
	var end jobs.Job
	ctx, cancel := context.WithTimeout(context.Background(), dtTimeout)
	defer cancel()
	f := &jobs.Follower{Done: func(j jobs.Job) { end = j }}
	if _, err := f.Follow(ctx, []jobs.Job{j}); err != nil {
		w.t.Fatalf("job %s did not end: %v", j.ID, err)
	}
	return end
}

// runCount is how many times the test hook ran.
func (w *dtWorld) runCount() int {
	b, err := os.ReadFile(w.runs)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// noSecretWritten checks that no file hookshim wrote holds the secret.
func (w *dtWorld) noSecretWritten() {
	w.t.Helper()
	n := 0
	err := filepath.Walk(w.state, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(dtSecret)) {
			w.t.Errorf("%s holds the hook's secret:\n%s", p, b)
		}
		if fi.Mode().Perm() != 0o600 {
			w.t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil || n == 0 {
		w.t.Fatalf("walking the state dir: %v (%d files)", err, n)
	}
}

// dtWaitCount blocks until the file holds substr count times, learning of
// changes from file system events.
func dtWaitCount(t *testing.T, path, substr string, count int) {
	t.Helper()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	if err := fw.Add(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(dtTimeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), substr) >= count {
			return
		}
		select {
		case <-fw.Events:
		case err := <-fw.Errors:
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("%s never held %q %d times:\n%s", path, substr, count, b)
		}
	}
}

// dtFifoOpened makes a fifo and returns a channel that gets the moment a
// writer opened it (the hook's first instruction: `: > FIFO`).
func dtFifoOpened(t *testing.T, path string) <-chan time.Time {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	ch := make(chan time.Time, 1)
	go func() {
		f, err := os.Open(path) // blocks until the hook opens it
		at := time.Now()
		if err != nil {
			close(ch)
			return
		}
		ch <- at
		var b [64]byte
		for {
			if _, err := f.Read(b[:]); err != nil {
				break
			}
		}
		f.Close()
	}()
	return ch
}

func dtMedian(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func dtMax(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

func dtRound(d []time.Duration) string {
	s := make([]string, len(d))
	for i, x := range d {
		s[i] = x.Round(100 * time.Microsecond).String()
	}
	return fmt.Sprint(s)
}

// dtSignal collects a stream and closes seen once it holds want.
type dtSignal struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newDtSignal(want string) *dtSignal { return &dtSignal{want: want, seen: make(chan struct{})} }

func (s *dtSignal) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if strings.Contains(s.buf.String(), s.want) {
		s.once.Do(func() { close(s.seen) })
	}
	return len(p), nil
}

func (s *dtSignal) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
