package cli

// Helpers for the fault-injection tests (fault_*_test.go): real hookshim
// processes, real sshd hosts, and synchronisation on observable events only
// (a line on hookshim's stderr, a line a hook writes to a fifo, a process
// exiting), never on sleeps.
//
// The hookshim processes are this test binary, which testscript.Main (see
// TestMain) has put in PATH under the name "hookshim": the same code as the
// real binary, started as a real process that can be killed.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// faultTimeout bounds every wait for an event in the fault tests. Events come
// within milliseconds; the bound only turns a hang into a failure.
const faultTimeout = 30 * time.Second

// faultHookshim is the path of the hookshim the fault tests start.
func faultHookshim(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("hookshim")
	if err != nil {
		t.Fatalf("hookshim is not in PATH (TestMain puts the test binary there): %v", err)
	}
	return p
}

// faultEnv is a clean environment for a hookshim process: no KAMAL_* or
// HOOKSHIM_* from the test's own environment, a home of its own, no git
// identity (Locked by: Unknown), USER=deployer.
func faultEnv(home string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"USER=deployer",
		"LOGNAME=deployer",
		"TMPDIR=/tmp",
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOOKSHIM_LOG_LEVEL=info",
		// Under -race, hookshim is a race-enabled binary that would sleep 1 s at
		// every exit (waiting for late race reports) without this.
		"GORACE=atexit_sleep_ms=0",
		// These tests check that a run leaves no connection open; the shared
		// one that stays by design is tested in internal/sshx.
		"HOOKSHIM_SSH_PERSIST=0",
	}
	return append(env, extra...)
}

// watchedBuf collects a stream and lets a test wait for text to appear in it.
type watchedBuf struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write, and at EOF
	eof     bool
}

func newWatchedBuf() *watchedBuf { return &watchedBuf{changed: make(chan struct{})} }

func (w *watchedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *watchedBuf) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.eof = true
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watchedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor blocks until the text matches re, the stream ends, or the timeout.
func (w *watchedBuf) waitFor(re *regexp.Regexp, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		ok, eof, ch := re.Match(w.buf.Bytes()), w.eof, w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		if eof {
			return false
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// waitEOF waits until the stream has ended (every writer closed it).
func (w *watchedBuf) waitEOF(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		eof, ch := w.eof, w.changed
		w.mu.Unlock()
		if eof {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// proc is one hookshim process under test.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *watchedBuf
	done           chan struct{}
	name           string
}

// startHookshim starts hookshim with args in dir, with env. Its stdout and
// stderr are pipes the test reads; a hook it leaves running (when it is
// killed) may keep them open without blocking the test. The process is
// killed when the test ends, if it still runs.
func startHookshim(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	return startProgram(t, dir, env, faultHookshim(t), args...)
}

// startProgram starts any program the way startHookshim starts hookshim.
func startProgram(t *testing.T, dir string, env []string, prog string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir, cmd.Env = dir, env
	p := &proc{t: t, cmd: cmd, stdout: newWatchedBuf(), stderr: newWatchedBuf(), done: make(chan struct{}), name: filepath.Base(prog) + " " + strings.Join(args, " ")}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	outW.Close()
	errW.Close()
	for _, s := range []struct {
		r   *os.File
		buf *watchedBuf
	}{{outR, p.stdout}, {errR, p.stderr}} {
		go func() {
			defer s.r.Close()
			_, _ = s.r.WriteTo(s.buf)
			s.buf.close()
		}()
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s\n--- stdout:\n%s--- stderr:\n%s", p.name, p.stdout, p.stderr)
		}
	})
	return p
}

// waitLog waits until hookshim's stderr matches the regular expression.
func (p *proc) waitLog(pattern string) {
	p.t.Helper()
	if !p.stderr.waitFor(regexp.MustCompile(pattern), faultTimeout) {
		p.t.Fatalf("%s: stderr never matched %q; it says:\n%s", p.name, pattern, p.stderr)
	}
}

// signal sends sig to the hookshim process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// exit waits for the process to end and returns its exit status as a shell
// reports it: the status, or 128+N when killed by signal N.
func (p *proc) exit() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(faultTimeout):
		p.t.Fatalf("%s did not exit within %s; stderr:\n%s", p.name, faultTimeout, p.stderr)
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// runHookshim runs hookshim to the end and returns its status, stdout and stderr.
func runHookshim(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	p := startHookshim(t, dir, env, args...)
	code := p.exit()
	// Let the pipes drain: the process and its hooks are gone.
	p.stdout.waitEOF(faultTimeout)
	p.stderr.waitEOF(faultTimeout)
	return code, p.stdout.String(), p.stderr.String()
}

// events is a fifo that hooks (and fake commands on a host) write one line to
// per event, and the test reads line by line. The test holds it open for
// reading and writing, so a writer never blocks and never sees EPIPE.
type events struct {
	Path string
	f    *os.File
	r    *bufio.Reader
	t    *testing.T
	seen []string
}

func newEvents(t *testing.T, dir string) *events {
	t.Helper()
	path := filepath.Join(dir, "events")
	f := openFifo(t, path)
	return &events{Path: path, f: f, r: bufio.NewReader(f), t: t}
}

// openFifo makes a fifo at path and holds it open for reading and writing
// until the test ends, so that neither side's open ever blocks.
func openFifo(t *testing.T, path string) *os.File {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// next returns the next event line.
func (e *events) next() string {
	e.t.Helper()
	_ = e.f.SetReadDeadline(time.Now().Add(faultTimeout))
	line, err := e.r.ReadString('\n')
	if err != nil {
		e.t.Fatalf("no event within %s (seen so far: %q): %v", faultTimeout, e.seen, err)
	}
	line = strings.TrimSuffix(line, "\n")
	e.seen = append(e.seen, line)
	return line
}

// nextOr returns the next event line, or ok false if the process p ends
// first (it then never wrote the event).
func (e *events) nextOr(p *proc) (line string, ok bool) {
	e.t.Helper()
	deadline := time.Now().Add(faultTimeout)
	var partial string
	for time.Now().Before(deadline) {
		_ = e.f.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		l, err := e.r.ReadString('\n')
		partial += l
		if err == nil {
			line = strings.TrimSuffix(partial, "\n")
			e.seen = append(e.seen, line)
			return line, true
		}
		select {
		case <-p.done:
			if partial == "" {
				return "", false
			}
		default:
		}
	}
	e.t.Fatalf("no event within %s (seen so far: %q)", faultTimeout, e.seen)
	return "", false
}

// expect returns the fields of the next event, which must begin with word.
func (e *events) expect(word string) []string {
	e.t.Helper()
	line := e.next()
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != word {
		e.t.Fatalf("event %q, want one beginning %q", line, word)
	}
	return f
}

// none checks that no event is pending right now (every writer has finished:
// call it only once the processes that could write are gone).
func (e *events) none() {
	e.t.Helper()
	_ = e.f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if line, err := e.r.ReadString('\n'); err == nil || line != "" {
		e.t.Fatalf("unexpected event %q (seen before: %q)", line, e.seen)
	}
}

// drain returns the events written so far (call it only once every process
// that could write is gone).
func (e *events) drain() []string {
	e.t.Helper()
	var out []string
	for {
		_ = e.f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		line, err := e.r.ReadString('\n')
		if err != nil {
			if line != "" {
				e.t.Fatalf("partial event %q", line)
			}
			return out
		}
		line = strings.TrimSuffix(line, "\n")
		e.seen = append(e.seen, line)
		out = append(out, line)
	}
}

// gate is a fifo a hook (or a fake command on a host) blocks on with
// `read x < GATE` until the test lets one of them through with open.
type gate struct {
	Path string
	f    *os.File
}

func newGate(t *testing.T, dir string) *gate {
	t.Helper()
	path := filepath.Join(dir, "gate")
	return &gate{Path: path, f: openFifo(t, path)}
}

// open lets n blocked readers through (each `read` takes one line).
func (g *gate) open(t *testing.T, n int) {
	t.Helper()
	if _, err := g.f.WriteString(strings.Repeat("go\n", n)); err != nil {
		t.Fatal(err)
	}
}

// hookScript writes the test hook: it reports "start ID PID TOKEN KAMAL_LOCK"
// on the events fifo, blocks on the gate, then reports "end ID". $$ is its
// process group (hookshim starts each hook in a group of its own), which the
// test kills should the hook outlive hookshim.
func hookScript(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "hook.sh")
	script := `#!/bin/sh
id=${1:-hook}
echo "start $id $$ ${HOOKSHIM_LOCK_TOKEN:--} ${KAMAL_LOCK:--}" > "$EVENTS"
if [ -n "${RUNLOG-}" ]; then echo "start $id" >> "$RUNLOG"; fi
read x < "$GATE" || { echo "interrupted $id" > "$EVENTS"; exit 143; }
if [ -n "${RUNLOG-}" ]; then echo "end $id" >> "$RUNLOG"; fi
echo "end $id" > "$EVENTS"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// killGroupLater kills process group pgid when the test ends: a hook left
// running by a killed hookshim.
func killGroupLater(t *testing.T, pgid string) {
	n, err := strconv.Atoi(pgid)
	if err != nil || n <= 1 {
		t.Fatalf("bad process group %q", pgid)
	}
	t.Cleanup(func() { _ = syscall.Kill(-n, syscall.SIGKILL) })
}

// lockJSON is the part of `hookshim locks --json` the fault tests look at.
type lockJSON struct {
	Host  string `json:"host"`
	Path  string `json:"path"`
	State string `json:"state"`
	Hold  *struct {
		Hook  string `json:"hook"`
		Token string `json:"token"`
		User  string `json:"user"`
		Host  string `json:"host"`
		PID   int    `json:"pid"`
	} `json:"hold"`
	Message *string `json:"message"`
}

// locksNow runs `hookshim locks --json ARGS` and returns the locks it lists;
// every host must have been read. (A process of its own: urfave/cli keeps
// global flag state, so Main cannot run in parallel tests in one process.)
func locksNow(t *testing.T, dir string, env []string, args ...string) []lockJSON {
	t.Helper()
	code, out, stderr := runHookshim(t, dir, env, append([]string{"locks", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("hookshim locks %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	var doc struct {
		Locks []lockJSON `json:"locks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("hookshim locks --json: %v\n%s", err, out)
	}
	return doc.Locks
}

// assertNoLocks checks that `hookshim locks` finds no lock at all.
func assertNoLocks(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	if ls := locksNow(t, dir, env, args...); len(ls) != 0 {
		t.Fatalf("locks left behind: %+v", ls)
	}
}

// assertLeftoverNamed checks that the only lock left is hookshim's hold with
// this token, taken by process pid on this machine, for hook: what an
// operator needs to trace and release it.
func assertLeftoverNamed(t *testing.T, dir string, env []string, hook, token string, pid int, args ...string) {
	t.Helper()
	ls := locksNow(t, dir, env, args...)
	if len(ls) != 1 {
		t.Fatalf("want exactly the leftover hold, got %d locks: %+v", len(ls), ls)
	}
	l := ls[0]
	host, _ := os.Hostname()
	switch {
	case l.State != "hookshim-hold":
		t.Fatalf("leftover %s has state %q, want hookshim-hold", l.Path, l.State)
	case l.Hold == nil:
		t.Fatalf("leftover %s has no hold", l.Path)
	case l.Hold.Token != token || l.Hold.PID != pid || l.Hold.Host != host || l.Hold.Hook != hook || l.Hold.User != "deployer":
		t.Fatalf("leftover hold is %+v, want hook %s token %s user deployer host %s pid %d", *l.Hold, hook, token, host, pid)
	}
}

// faultHost starts one sshd on loopback whose commands run with hostBin
// first in PATH (fake commands), and returns it with the hookshim flags that
// reach it.
func faultHost(t *testing.T, hostBin string) (*sshtest.Host, []string) {
	t.Helper()
	h := sshtest.Start(t, sshtest.Options{HostBin: hostBin})
	return h, []string{"--host", h.Target.String(), "--ssh-config", h.ConfigFile}
}

// writeExe writes an executable script.
func writeExe(t *testing.T, path, script string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// readLock returns the details file of the lock at path under home, or nil
// when there is no lock there.
func readLock(t *testing.T, home, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, path, "details"))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Lstat(filepath.Join(home, path)); err == nil {
			return []byte{}
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fieldOr(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
