package sshx_test

import (
	"bytes"
	"context"
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
	"github.com/hookshim/hookshim/internal/sshx"
)

// shareDir is a fresh private directory for shared sockets, short enough for
// a socket path.
func shareDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "shs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "d")
}

// hookProcess runs the test binary as a hook would run hookshim: one Run over
// the shared master in dir, its stdout and stderr pipes read to end-of-file as
// Kamal reads a hook's. It fails t if the pipes stay open for 60 s (a process
// left behind holds them).
func hookProcess(t *testing.T, h *sshtest.Host, dir string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		"GORACE=atexit_sleep_ms=0",
		"SSHX_TEST_SHARE_DIR="+dir,
		"SSHX_TEST_CONFIG="+h.ConfigFile,
		"SSHX_TEST_USER="+h.Target.User,
		"SSHX_TEST_HOST="+h.Target.Host,
		"SSHX_TEST_PORT="+strconv.Itoa(h.Target.Port),
	)
	cmd.Env = append(cmd.Env, env...)
	// Output reads both pipes to end-of-file before it returns: a master
	// holding either would hold this up until ctx kills the process.
	cmd.WaitDelay = 0
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("the hook's pipes stayed open after it exited (a process left holding them): %v", ctx.Err())
	}
	if err != nil || stderr.Len() != 0 {
		t.Fatalf("hook: %v; stderr %q", err, stderr.String())
	}
	return string(out)
}

// exitMaster ends the master on sock, so that the test leaves nothing running.
func exitMaster(t *testing.T, h *sshtest.Host, sock string) {
	t.Cleanup(func() {
		exec.Command("ssh", "-F", h.ConfigFile, "-S", sock, "-O", "exit", "x").Run()
	})
}

// masterPid asks the master on sock for its pid (ssh -O check).
func masterPid(t *testing.T, h *sshtest.Host, sock string) int {
	t.Helper()
	out, err := exec.Command("ssh", "-F", h.ConfigFile, "-S", sock, "-O", "check", "x").CombinedOutput()
	m := regexp.MustCompile(`pid=(\d+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("ssh -O check: %v: %s", err, out)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// onlySocket is the one control socket in dir.
func onlySocket(t *testing.T, dir string) string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var socks []string
	for _, e := range ents {
		if e.Type()&os.ModeSocket != 0 {
			socks = append(socks, filepath.Join(dir, e.Name()))
		}
	}
	if len(socks) != 1 {
		t.Fatalf("control sockets in %s: %v, want one", dir, socks)
	}
	return socks[0]
}

func TestSharedMasterOneLoginForManyHooks(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	dir := shareDir(t)
	for i := 0; i < 4; i++ {
		if out := hookProcess(t, h, dir); out != "over-the-shared-master\n" {
			t.Fatalf("hook %d: stdout %q", i, out)
		}
		if i == 0 {
			exitMaster(t, h, onlySocket(t, dir))
		}
	}
	if n := h.Logins(t); n != 1 {
		t.Fatalf("4 hooks made %d SSH logins, want 1 (one shared connection)", n)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

// TestSharedWarmHookStartsOneSSH: a hook that finds the shared master up
// starts one ssh, the session through it; not also an `ssh -G` to learn the
// host key policy (the test hosts' config sets StrictHostKeyChecking, so a
// direct connection would need one), which would be most of a warm hook's
// cost. Each hook is a fresh process, as each of Kamal's hooks is.
func TestSharedWarmHookStartsOneSSH(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	dir := shareDir(t)
	logDir := t.TempDir()
	log := filepath.Join(logDir, "ssh.log")
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	// The real ssh, each start logged with its first argument.
	wrapper := filepath.Join(logDir, "ssh")
	script := "#!/bin/sh\necho \"$1\" >> " + sshx.Quote(log) + "\nexec " + sshx.Quote(ssh) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	hookProcess(t, h, dir, "SSHX_TEST_BINARY="+wrapper)
	exitMaster(t, h, onlySocket(t, dir))
	os.Remove(log)
	if out := hookProcess(t, h, dir, "SSHX_TEST_BINARY="+wrapper); out != "over-the-shared-master\n" {
		t.Fatalf("warm hook: stdout %q", out)
	}
	b, _ := os.ReadFile(log)
	if starts := strings.Fields(string(b)); len(starts) != 1 || starts[0] == "-G" {
		t.Fatalf("a warm hook started ssh %d times (first arguments %q), want once: the session through the master", len(starts), starts)
	}
}

// TestSharedMasterWithProxyHoldsNoHookPipes: the master's ProxyCommand lives
// as long as the master and inherits its stderr; it must not be the hook's.
func TestSharedMasterWithProxyHoldsNoHookPipes(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	dir := shareDir(t)
	for i := 0; i < 2; i++ {
		if out := hookProcess(t, h, dir, "SSHX_TEST_PROXY=1"); out != "over-the-shared-master\n" {
			t.Fatalf("hook %d: stdout %q", i, out)
		}
		if i == 0 {
			exitMaster(t, h, onlySocket(t, dir))
		}
	}
	if n := h.Logins(t); n != 1 {
		t.Fatalf("2 hooks made %d SSH logins, want 1", n)
	}
}

func TestSharedMasterDeadOrStaleFallsBack(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	dir := shareDir(t)
	hookProcess(t, h, dir)
	sock := onlySocket(t, dir)
	exitMaster(t, h, sock)
	// Killed: the socket file stays behind with nothing listening.
	syscall.Kill(masterPid(t, h, sock), syscall.SIGKILL)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the killed master's socket: %v", err)
	}
	if out := hookProcess(t, h, dir); out != "over-the-shared-master\n" {
		t.Fatalf("after a stale socket: stdout %q", out)
	}
	// Gone with its socket.
	exec.Command("ssh", "-F", h.ConfigFile, "-S", sock, "-O", "exit", "x").Run()
	if out := hookProcess(t, h, dir); out != "over-the-shared-master\n" {
		t.Fatalf("after the master left: stdout %q", out)
	}
	hookProcess(t, h, dir)
	if n := h.Logins(t); n != 3 {
		t.Fatalf("%d logins, want 3 (one per master started)", n)
	}
}

func TestSharedMasterStartedOnceAtOnce(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	c := h.Client
	c.ShareDir = shareDir(t)
	ctx := testContext(t)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			res, err := c.Run(ctx, h.Target, "echo hi", nil)
			if err == nil && (string(res.Stdout) != "hi\n" || len(res.Stderr) != 0) {
				err = &os.PathError{Op: "run", Path: string(res.Stdout), Err: os.ErrInvalid}
			}
			errs <- err
		}()
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	exitMaster(t, h, onlySocket(t, c.ShareDir))
	if n := h.Logins(t); n != 1 {
		t.Fatalf("6 runs at once made %d logins, want 1", n)
	}
	// The lock that let one of them start the master is gone with it: the
	// directory keeps no file per host and port ever reached.
	if locks, _ := filepath.Glob(filepath.Join(c.ShareDir, "*.lock")); len(locks) != 0 {
		t.Fatalf("lock files left in the share directory: %v", locks)
	}
}

func TestSharedDirNotPrivateConnectsDirectly(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	c := h.Client
	c.ShareDir = shareDir(t)
	if err := os.Mkdir(c.ShareDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(c.ShareDir, 0o755)
	for i := 0; i < 2; i++ {
		if res, err := c.Run(testContext(t), h.Target, "echo hi", nil); err != nil || string(res.Stdout) != "hi\n" {
			t.Fatalf("run: %v, %q", err, res.Stdout)
		}
	}
	if ents, _ := os.ReadDir(c.ShareDir); len(ents) != 0 {
		t.Fatalf("a directory others may enter was used: %v", ents)
	}
	if n := h.Logins(t); n != 2 {
		t.Fatalf("%d logins, want 2 (no sharing)", n)
	}
}

func TestSharedUserControlPathWins(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	own := shareDir(t)
	if err := os.MkdirAll(own, 0o700); err != nil {
		t.Fatal(err)
	}
	base, _ := os.ReadFile(h.ConfigFile)
	cfg := filepath.Join(own, "config")
	userSock := filepath.Join(own, "cm-%p")
	if err := os.WriteFile(cfg, []byte("ControlPath "+userSock+"\nControlMaster auto\n"+string(base)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := h.Client
	c.ConfigFile = cfg
	c.ShareDir = shareDir(t)
	ctx := testContext(t)
	for i := 0; i < 2; i++ {
		if res, err := c.Run(ctx, h.Target, "echo hi", nil); err != nil || string(res.Stdout) != "hi\n" {
			t.Fatalf("run: %v, %q", err, res.Stdout)
		}
	}
	sock := strings.ReplaceAll(userSock, "%p", strconv.Itoa(h.Target.Port))
	exitMaster(t, h, sock)
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no master on the user's ControlPath %s: %v", sock, err)
	}
	if n := h.Logins(t); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}

// TestSharedConnRunsOverTheMaster: Dial with sharing uses the shared master
// and its Close leaves it for the next process.
func TestSharedConnRunsOverTheMaster(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	c := h.Client
	c.ShareDir = shareDir(t)
	ctx := testContext(t)
	for i := 0; i < 2; i++ {
		cn, err := c.Dial(ctx, h.Target)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := cn.Run(ctx, "echo hi", nil); err != nil || string(res.Stdout) != "hi\n" {
			t.Fatalf("run: %v, %q", err, res.Stdout)
		}
		// Positional parameters reach the script through the shared master too.
		if res, err := cn.Run(ctx, `printf '%s|' "$@"`, nil, "a b", "$(x)", ""); err != nil || string(res.Stdout) != "a b|$(x)||" {
			t.Fatalf("run with args: %v, %q", err, res.Stdout)
		}
		cn.Close()
	}
	sock := onlySocket(t, c.ShareDir)
	exitMaster(t, h, sock)
	masterPid(t, h, sock)
	if n := h.Logins(t); n != 1 {
		t.Fatalf("%d logins, want 1", n)
	}
}

var _ = sshx.ShareDir
