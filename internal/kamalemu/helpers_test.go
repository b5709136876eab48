package kamalemu

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookshim/hookshim/lockfile"
)

// kamalBin is the test binary under the name "kamal": run so, it is the
// emulator (see TestMain). binDir holds it, for PATH.
var kamalBin, binDir string

// TestMain makes this test binary the emulator when it runs as "kamal": in
// testscript scripts (testscript.Main) and as kamalBin.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "kamal" {
		Main()
	}
	syscall.Umask(0o022) // the fixtures' modes (drwxr-xr-x, -rw-r--r--)
	cleanup, err := setupBin()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testscript.Main(exitHook{m, cleanup}, map[string]func(){"kamal": Main})
}

// exitHook removes the bin dir after the tests (testscript.Main exits itself).
type exitHook struct {
	m       *testing.M
	cleanup func()
}

func (x exitHook) Run() int {
	defer x.cleanup()
	return x.m.Run()
}

// setupBin links this test binary as binDir/kamal.
func setupBin() (func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kamalemu-bin")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	binDir = dir
	kamalBin = filepath.Join(dir, "kamal")
	if err := os.Symlink(exe, kamalBin); err != nil {
		cleanup()
		return nil, err
	}
	return cleanup, nil
}

const (
	fixtureDir     = "../../lockfile/testdata/kamal"
	fixtureVersion = "d018f90b8de4599db01a44090e61eeb581595c52"
	testerName     = "Hookshim Tester"
	testerEmail    = "tester@example.invalid"
)

const deployYML = `service: app
image: x/app
servers:
  - 127.0.0.1
registry:
  server: localhost:5555
  username: u
  password: p
builder:
  arch: amd64
`

// repo is a Kamal application directory with its own stand-in host home.
type repo struct {
	t    *testing.T
	work string // stands for the fixtures' $HS_WORK
	dir  string // $HS_WORK/project: the repository
	home string // the lock host's home (KAMAL_EMU_ROOT)
	log  string // KAMAL_EMU_LOG
	env  []string
}

// newRepo makes $HS_WORK/project with config/deploy.yml and a git identity
// like the recordings', for Kamal version ver, with hosts in KAMAL_EMU_ROOT.
func newRepo(t *testing.T, ver, deploy string) *repo {
	t.Helper()
	work := t.TempDir()
	r := &repo{
		t:    t,
		work: work,
		dir:  filepath.Join(work, "project"),
		home: filepath.Join(work, "home"),
		log:  filepath.Join(work, "remote-commands"),
	}
	for _, d := range []string{filepath.Join(r.dir, "config"), filepath.Join(r.dir, ".kamal", "hooks"), r.home, filepath.Join(work, "userhome")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gitconfig := filepath.Join(work, "gitconfig")
	writeFile(t, gitconfig, "[user]\n\tname = "+testerName+"\n\temail = "+testerEmail+"\n", 0o644)
	writeFile(t, filepath.Join(r.dir, "config", "deploy.yml"), deploy, 0o644)
	r.env = []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + filepath.Join(work, "userhome"),
		"LC_ALL=C",
		"GIT_CONFIG_GLOBAL=" + gitconfig,
		"GIT_CONFIG_NOSYSTEM=1",
		EnvVersion + "=" + ver,
		EnvRoot + "=" + r.home,
		EnvLog + "=" + r.log,
		EnvDeployVersion + "=" + fixtureVersion,
		// A -race build sleeps a second at exit by default, in every emulator.
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	}
	return r
}

func writeFile(t *testing.T, name, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

// setenv sets a variable for the emulator (and so its hooks).
func (r *repo) setenv(key, value string) { r.env = setenv(r.env, key, value) }

func (r *repo) unsetenv(key string) {
	out := r.env[:0]
	for _, kv := range r.env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	r.env = out
}

// hook writes an executable hook script.
func (r *repo) hook(name, script string) {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.dir, ".kamal", "hooks", name), script, 0o755)
}

func (r *repo) cmd(args ...string) *exec.Cmd {
	c := exec.Command(kamalBin, args...)
	c.Dir = r.dir
	c.Env = r.env
	return c
}

// run runs the emulator to the end: stdout, stderr, exit status.
func (r *repo) run(args ...string) (string, string, int) {
	r.t.Helper()
	var out, errb bytes.Buffer
	c := r.cmd(args...)
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("kamal %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// mustRun runs the emulator and fails the test unless it exits 0.
func (r *repo) mustRun(args ...string) string {
	r.t.Helper()
	out, errs, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("kamal %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// commands returns the remote commands logged so far and clears the log.
func (r *repo) commands() []string {
	r.t.Helper()
	data, err := os.ReadFile(r.log)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		r.t.Fatal(err)
	}
	if err := os.Remove(r.log); err != nil {
		r.t.Fatal(err)
	}
	return splitNUL(data)
}

func splitNUL(data []byte) []string {
	var out []string
	for _, c := range strings.SplitAfter(string(data), "\x00") {
		if c != "" {
			out = append(out, strings.TrimSuffix(c, "\x00"))
		}
	}
	return out
}

func (r *repo) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(r.home, rel))
	return err == nil
}

// readFixture returns a fixture file's content.
func readFixture(t *testing.T, ver, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, "v"+ver, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fixtureCommands splits a *.remote-commands.txt into commands: a command whose
// double quotes are not balanced at the end of a line goes on to the next one
// (the base64 in `echo "..."` spans lines).
func fixtureCommands(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	var cur []string
	open := false
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		cur = append(cur, line)
		if strings.Count(line, `"`)%2 == 1 {
			open = !open
		}
		if !open {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	if open {
		t.Fatalf("fixture ends inside a quoted string:\n%s", text)
	}
	return out
}

var acquireRE = regexp.MustCompile(`(?s)^(/usr/bin/env mkdir \S+ && echo ")([^"]*)(" > \S+/details)$`)

// normalizeCommand replaces the time in an acquire command's base64 details by
// a fixed one (and re-encodes), after checking that the base64 is exactly
// Ruby's Base64.encode64 of the details. Other commands are returned as they are.
func normalizeCommand(t *testing.T, cmd string) string {
	t.Helper()
	m := acquireRE.FindStringSubmatch(cmd)
	if m == nil {
		return cmd
	}
	text, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(m[2], "\n", ""))
	if err != nil {
		t.Fatalf("acquire command with bad base64: %v\n%s", err, cmd)
	}
	if got, want := m[2], lockfile.Encode64(text); got != want {
		t.Fatalf("acquire command's base64 is not Base64.encode64:\n got %q\nwant %q", got, want)
	}
	d, err := lockfile.ParseText(text)
	if err != nil || d.At.IsZero() || d.Text() != string(text) {
		t.Fatalf("acquire command's details %q do not parse back (%v)", text, err)
	}
	d.At = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return m[1] + lockfile.Encode64([]byte(d.Text())) + m[3]
}

func normalizeCommands(t *testing.T, cmds []string) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = normalizeCommand(t, c)
	}
	return out
}

// lockRelated says whether a recorded command is part of the lock protocol (or
// makes the run directory), the commands the emulator runs; the Docker work and
// audit log lines it leaves out.
func lockRelated(cmd string) bool {
	if cmd == "/usr/bin/env mkdir -p .kamal" || cmd == "/usr/bin/env mkdir -p .kamal/locks" {
		return true
	}
	for _, p := range []string{"/usr/bin/env mkdir .kamal/lock", "/usr/bin/env rm .kamal/lock", "/usr/bin/env stat .kamal/lock"} {
		if strings.HasPrefix(cmd, p) {
			return true
		}
	}
	return false
}

var outputREs = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`INFO \[[0-9a-f]{8}\]`), "INFO [ID]"},
	{regexp.MustCompile(`Finished in [0-9.]+ seconds`), "Finished in X seconds"},
	{regexp.MustCompile(`Finished all in [0-9.]+ seconds`), "Finished all in X seconds"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`), "TIME"},
	{regexp.MustCompile(`wall_s=[0-9.]+`), "wall_s=X"},
	{regexp.MustCompile(`KAMAL_RUNTIME=\d+`), "KAMAL_RUNTIME=X"},
}

// normalizeOutput blanks what differs from run to run: SSHKit command ids,
// timings and times.
func normalizeOutput(s string) string {
	for _, r := range outputREs {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

// lines returns a pipe reader's lines on a channel (closed at end-of-file).
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func diffLines(a, b []string) string {
	var sb strings.Builder
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		mark := "  "
		if x != y {
			mark = "!="
		}
		fmt.Fprintf(&sb, "%s %3d got  %q\n       want %q\n", mark, i, x, y)
	}
	return sb.String()
}

// readDetails parses the details file of the lock at rel under the host home.
func readDetails(t *testing.T, r *repo, rel string) lockfile.Details {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(r.home, rel, "details"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := lockfile.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
