package sshx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

// helperEnv, when set, makes the test binary act as a program that dials a host
// and exits without closing the connection (see TestMasterHoldsNoCallerPipes).
const helperEnv = "SSHX_TEST_DIAL_AND_EXIT"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(dialAndExit())
	}
	os.Exit(m.Run())
}

func dialAndExit() int {
	port, _ := strconv.Atoi(os.Getenv("SSHX_TEST_PORT"))
	c := &sshx.Client{ConfigFile: os.Getenv("SSHX_TEST_CONFIG"), ConnectTimeout: 5 * time.Second}
	t := sshx.Target{User: os.Getenv("SSHX_TEST_USER"), Host: os.Getenv("SSHX_TEST_HOST"), Port: port}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if dir := os.Getenv("SSHX_TEST_SHARE_DIR"); dir != "" {
		// A hook's process: a run through the shared master whose output goes
		// straight to the hook's own stdout and stderr, then exit.
		c.ShareDir = dir
		c.Binary = os.Getenv("SSHX_TEST_BINARY")
		if os.Getenv("SSHX_TEST_PROXY") != "" {
			// A ProxyCommand is a child of the master that outlives the
			// starting ssh with whatever stderr that ssh had.
			c.Options = append(c.Options, `ProxyCommand=bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'`)
		}
		cmd := c.Command(ctx, t, "echo over-the-shared-master")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	cn, err := c.Dial(ctx, t)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, sshx.SocketDir(cn))
	res, err := cn.Run(ctx, "echo over-the-master", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Stdout.Write(res.Stdout)
	return 0 // no Close: the master must not outlive us nor hold our pipes
}

func dial(t *testing.T, h *sshtest.Host) *sshx.Conn {
	t.Helper()
	cn, err := h.Client.Dial(testContext(t), h.Target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	return cn
}

// processGone reports whether no process has pid any more.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestConnManyRunsOneLogin(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	cn := dial(t, h)
	ctx := testContext(t)
	for i := 0; i < 15; i++ {
		res, err := cn.Run(ctx, fmt.Sprintf("echo run %d; pwd; exit %d", i, i%3), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("run %d\n%s\n", i, h.Home); string(res.Stdout) != want || res.ExitStatus != i%3 {
			t.Fatalf("run %d: stdout %q, status %d", i, res.Stdout, res.ExitStatus)
		}
	}
	// Five more at once.
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cn.Run(ctx, "cat", strings.NewReader(fmt.Sprint("parallel ", i)))
			if err == nil && string(res.Stdout) != fmt.Sprint("parallel ", i) {
				err = fmt.Errorf("got %q", res.Stdout)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Logins(t); n != 1 {
		t.Errorf("sshd logged %d logins for 20 runs over one Conn, want 1", n)
	}
	if n := len(h.Commands(t)); n != 21 {
		t.Errorf("host ran %d commands, want 21 (the master's and 20 runs)", n)
	}
}

func TestConnMasterIsolated(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cn, err := h.Client.Dial(ctx, h.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	cancel() // Dial's context bounds the dialling only
	pid := sshx.MasterPid(cn)
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("master's process group is %d (%v), want its own (%d)", pgid, err, pid)
	}
	// It holds none of our standard descriptors.
	ours := map[string]bool{}
	for fd := 0; fd < 3; fd++ {
		if l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && l != "/dev/null" {
			ours[l] = true
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ours[l] {
			t.Errorf("master's fd %s is our %s", fd.Name(), l)
		}
	}
	if dir := sshx.SocketDir(cn); len(dir) > 40 {
		t.Errorf("socket dir %q is long", dir)
	} else if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir: %v, %v", fi.Mode(), err)
	}
	res, err := cn.Run(testContext(t), "echo still-up", nil)
	if err != nil || string(res.Stdout) != "still-up\n" {
		t.Fatalf("after Dial's context ended: %q, %v", res.Stdout, err)
	}
}

func TestConnCloseTwice(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	cn := dial(t, h)
	if _, err := cn.Run(testContext(t), "true", nil); err != nil {
		t.Fatal(err)
	}
	pid, dir := sshx.MasterPid(cn), sshx.SocketDir(cn)
	start := time.Now()
	if err := cn.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := cn.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !processGone(pid) {
		t.Errorf("master %d still exists after Close", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket dir %s: %v, want it gone", dir, err)
	}
	h.WaitIdle(t, 5*time.Second)
	if _, err := cn.Run(testContext(t), "true", nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestConnAfterStop(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	cn := dial(t, h)
	if _, err := cn.Run(testContext(t), "true", nil); err != nil {
		t.Fatal(err)
	}
	h.Stop()
	start := time.Now()
	_, err := cn.Run(testContext(t), "echo should-not-run", nil)
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("Run after the host stopped: %v (%T), want an *UnreachableError", err, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to fail", d)
	}
	t.Logf("error: %v", err)
	if err := cn.Close(); err != nil {
		t.Fatal(err)
	}

	// Back up: a new connection works, with the same Home and keys.
	h.Restart()
	res, err := h.Client.Run(testContext(t), h.Target, "pwd", nil)
	if err != nil || string(res.Stdout) != h.Home+"\n" {
		t.Fatalf("after Restart: %q, %v", res.Stdout, err)
	}
	for _, c := range h.Commands(t) {
		if strings.Contains(c, "should-not-run") {
			t.Error("the host ran a command sent after it stopped")
		}
	}
}

func TestDialUnreachable(t *testing.T) {
	// Not parallel: TMPDIR is set to see what Dial leaves there.
	tmp, err := os.MkdirTemp("", "dialtmp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Setenv("TMPDIR", tmp)
	leftovers := func() {
		t.Helper()
		ents, _ := os.ReadDir(tmp)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "hs") {
				t.Errorf("Dial left %s in TMPDIR", e.Name())
			}
		}
	}

	t.Run("closed port", func(t *testing.T) {
		closed := sshtest.ClosedTarget(t)
		start := time.Now()
		_, err := (&sshx.Client{}).Dial(testContext(t), closed)
		var ue *sshx.UnreachableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Connection refused") {
			t.Fatalf("got %v (%T)", err, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
		leftovers()
	})
	t.Run("auth failure", func(t *testing.T) {
		h := sshtest.Start(t, sshtest.Options{RejectKey: true})
		_, err := h.Client.Dial(testContext(t), h.Target)
		var ue *sshx.UnreachableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Permission denied") {
			t.Fatalf("got %v (%T)", err, err)
		}
		leftovers()
	})
	t.Run("context", func(t *testing.T) {
		silent := sshtest.SilentTarget(t)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := (&sshx.Client{}).Dial(ctx, silent)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
		leftovers()
	})
}

// TestMasterHoldsNoCallerPipes runs a program that dials, runs a command and exits
// without Close, and reads its output through pipes to end-of-file, as Kamal reads
// a hook's: the master must not keep those pipes open, and must end by itself.
func TestMasterHoldsNoCallerPipes(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		"GORACE=atexit_sleep_ms=0", // the race detector's 1 s pause at exit
		"SSHX_TEST_CONFIG="+h.ConfigFile,
		"SSHX_TEST_USER="+h.Target.User,
		"SSHX_TEST_HOST="+h.Target.Host,
		"SSHX_TEST_PORT="+strconv.Itoa(h.Target.Port),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Wait returns once the pipes reach end-of-file; past this, it gives up on
	// them and says so with ErrWaitDelay.
	cmd.WaitDelay = 3 * time.Second
	start := time.Now()
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("something the helper left behind held its stdout or stderr open")
	}
	if err != nil || stdout.String() != "over-the-master\n" {
		t.Fatalf("helper: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	t.Logf("helper ran in %v", time.Since(start))
	// Its master saw its stdin close when the helper died, and left.
	h.WaitIdle(t, 5*time.Second)
	// Without Close, all that is left is the socket's directory, with nothing in
	// it once the master has removed its socket.
	dir := strings.TrimSpace(stderr.String())
	if !strings.HasPrefix(dir, os.TempDir()) && !strings.HasPrefix(dir, "/tmp/") {
		t.Fatalf("helper's stderr: %q", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.err")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("master.err is still in %s: %v", dir, err)
	}
	os.RemoveAll(dir)
}

// TestConnMasterKilled: once the master is gone, Run fails and never falls back to
// a connection of its own (which would log in again).
func TestConnMasterKilled(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	cn := dial(t, h)
	if err := syscall.Kill(sshx.MasterPid(cn), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // whether or not the Conn has seen it die yet
		_, err := cn.Run(testContext(t), "echo should-not-run", nil)
		var ue *sshx.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("Run %d after the master was killed: %v (%T)", i, err, err)
		}
		t.Logf("Run %d: %v", i, err)
	}
	// Even straight at the stale socket, ssh does not connect by itself.
	_, err := sshx.RunOverSocket(testContext(t), cn, "echo should-not-run")
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("ssh at the dead master's socket: %v (%T)", err, err)
	}
	t.Logf("at the socket: %v", err)
	if err := cn.Close(); err != nil {
		t.Fatal(err)
	}
	if n := h.Logins(t); n != 1 {
		t.Errorf("%d logins, want the master's only", n)
	}
	for _, c := range h.Commands(t) {
		if strings.Contains(c, "should-not-run") {
			t.Error("a command ran without the master")
		}
	}
}

// Over the master too, values go as positional parameters, with stdin alongside.
func TestConnRunArgs(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	cn := dial(t, h)
	res, err := cn.Run(testContext(t), `printf '%s|%s|' "$1" "$2"; cat`, strings.NewReader("in"), "$(id)", "it's")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$(id)|it's|in"; string(res.Stdout) != want {
		t.Errorf("stdout %q, want %q (stderr %q)", res.Stdout, want, res.Stderr)
	}
	if _, err := cn.Run(testContext(t), "true", nil, "\x00"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("an argument with a NUL byte: got %v", err)
	}
}
