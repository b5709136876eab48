//go:build linux

package kamalemu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hookshim/hookshim/internal/sshtest"
)

func mkfifo(t *testing.T, name string) {
	t.Helper()
	if err := syscall.Mkfifo(name, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start starts the emulator with its stdout on a line channel; wait drains it
// and returns every line and the exit status.
func start(t *testing.T, r *repo, args ...string) (<-chan string, func() ([]string, int)) {
	t.Helper()
	c := r.cmd(args...)
	pipe, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ch := lines(pipe)
	var seen []string
	wait := func() ([]string, int) {
		for l := range ch {
			seen = append(seen, l)
		}
		err := c.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return seen, code
	}
	return ch, wait
}

// TestHoldFIFO: with KAMAL_EMU_HOLD_FIFO a deploy stops at its hold point,
// lock held, until the test lets it go on.
func TestHoldFIFO(t *testing.T) {
	for _, command := range []string{"deploy", "setup"} {
		t.Run(command, func(t *testing.T) {
			r, trace := traceRepo(t, "2.12.0", ".kamal/lock-app")
			fifo := filepath.Join(r.work, "hold")
			mkfifo(t, fifo)
			r.setenv(EnvHoldFIFO, fifo)
			c := r.cmd(command)
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			held := make(chan string, 1)
			go func() {
				s, err := WaitHeld(fifo)
				if err != nil {
					s = "error: " + err.Error()
				}
				held <- s
			}()
			select {
			case s := <-held:
				if want := "held " + command + " .kamal/lock-app"; s != want {
					t.Errorf("announcement %q, want %q", s, want)
				}
			case err := <-done:
				Unblock(fifo)
				t.Fatalf("kamal %s ended before its hold point: %v\n%s", command, err, out.String())
			}

			// Held: the lock is there, pre-deploy ran, the rest waits.
			d := readDetails(t, r, ".kamal/lock-app")
			if !d.IsAutomatic() {
				t.Errorf("lock %+v", d)
			}
			got := readLines(t, trace)
			if last := got[len(got)-1]; !strings.HasPrefix(last, "pre-deploy held") {
				t.Errorf("last hook before the hold: %q", last)
			}
			other := newRepo(t, "2.12.0", deployYML)
			other.setenv(EnvRoot, r.home)
			if out, _, code := other.run("deploy"); code != 1 || !strings.Contains(out, "Deploy lock found") {
				t.Errorf("a second deploy during the hold: exit %d\n%s", code, out)
			}

			if err := Continue(fifo); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("kamal %s: %v\n%s", command, err, out.String())
			}
			if got := readLines(t, trace); !strings.HasPrefix(got[len(got)-1], "post-deploy") {
				t.Errorf("hooks: %q", got)
			}
			if r.exists(".kamal/lock-app") {
				t.Errorf("lock left behind")
			}
		})
	}
}

// lockWaitShape is the part of a `deploy --lock-wait` output from "Acquiring
// the deploy lock (waiting" on that the lock wait prints, normalised (times,
// versions, timings), without the "Retrying in ..." lines, which it checks
// apart: well formed, with the interval as Kamal prints it and the remaining
// seconds counting down. How many there are depends on the machine's speed
// (remaining is the time left, truncated), so no test counts them.
func lockWaitShape(t *testing.T, out, interval string) (shape []string, retries int) {
	t.Helper()
	retry := regexp.MustCompile(`^Retrying in ` + regexp.QuoteMeta(interval) + `s \((\d+)s remaining\)\.\.\.$`)
	keep := regexp.MustCompile(`^(Acquiring the deploy lock \(waiting|Deploy lock is held by:|Locked by: |Version: |Message: |Timed out after |  Finished all in |  ERROR |$)`)
	started := false
	last := -1
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(l, "Acquiring the deploy lock (waiting") {
			started = true
		}
		if !started {
			continue
		}
		if m := retry.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if last >= 0 && n >= last {
				t.Errorf("remaining seconds do not count down: %q after %ds", l, last)
			}
			last = n
			retries++
			continue
		}
		if strings.HasPrefix(l, "Retrying") {
			t.Errorf("malformed retry line %q (interval %s)", l, interval)
			continue
		}
		if !keep.MatchString(l) {
			break // the deploy goes on
		}
		l = regexp.MustCompile(` at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|<TIME>)$`).ReplaceAllString(l, " at TIME")
		l = regexp.MustCompile(`^Version: .*`).ReplaceAllString(l, "Version: V")
		l = regexp.MustCompile(`Finished all in [0-9.]+ seconds`).ReplaceAllString(l, "Finished all in X seconds")
		shape = append(shape, l)
	}
	return shape, retries
}

// lockWaitFixture is a recorded --lock-wait output: its shape and exit code.
func lockWaitFixture(t *testing.T, name, interval string) ([]string, int) {
	t.Helper()
	text := readReal(t, "2.12.0", name)
	body, rc, ok := strings.Cut(text, "\nrc=")
	if !ok {
		t.Fatalf("%s: no rc= line", name)
	}
	code, err := strconv.Atoi(strings.TrimSpace(rc))
	if err != nil {
		t.Fatal(err)
	}
	shape, _ := lockWaitShape(t, body+"\n", interval)
	return shape, code
}

// TestLockWait: Kamal 2.12's --lock-wait, against the real Kamal's output
// (testdata/real/v2.12.0/deploy-lock-wait-*.out, misc-lock-*.txt). No test
// depends on how fast the machine is: the waits are whole seconds and only
// their shape is compared, the release happens after an event (the first
// "Retrying" line), and the timeouts only bound how long a test takes.
func TestLockWait(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, message     string
		timeout, interval string // "" for Kamal's defaults
		fixture           string
		minRetries        int
	}{
		{"manual", "maintenance window", "", "", "deploy-lock-wait-manual.out", 0},
		{"substring", "Automatic deploy lock (held by another tool)", "2", "1", "deploy-lock-wait-substring.out", 0},
		{"timeout", "Automatic deploy lock", "3", "1", "deploy-lock-wait-timeout.out", 0},
		// Fractions are printed as Ruby prints a Float (misc-lock-wait-float.txt).
		{"float", "Automatic deploy lock", "1.5", "1.0", "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, "2.12.0", deployYML)
			r.mustRun("lock", "acquire", "-m", c.message)
			args := []string{"deploy", "--skip-push", "-H", "--lock-wait"}
			if c.timeout != "" {
				args = append(args, "--lock-wait-timeout", c.timeout, "--lock-wait-interval", c.interval)
			}
			out, _, code := r.run(args...)
			interval := c.interval
			if interval == "" {
				interval = "15"
			}
			got, _ := lockWaitShape(t, out, interval)
			var want []string
			wantCode := 1
			if c.fixture != "" {
				want, wantCode = lockWaitFixture(t, c.fixture, interval)
			} else {
				want = floatLockWaitShape(t)
			}
			if code != wantCode || !slices.Equal(got, want) {
				t.Errorf("exit %d (want %d):\n%s\nfull output:\n%s", code, wantCode, diffLines(got, want), out)
			}
			if d := readDetails(t, r, ".kamal/lock-app"); d.Message != c.message {
				t.Errorf("the lock waited on changed: %+v", d)
			}
		})
	}
	t.Run("released", func(t *testing.T) {
		t.Parallel()
		r := newRepo(t, "2.12.0", deployYML)
		r.mustRun("lock", "acquire", "-m", "Automatic deploy lock")
		// 600 s only bounds the test on a stalled machine; the release comes
		// on the first "Retrying" line, and the next attempt a second later.
		ch, wait := start(t, r, "deploy", "--skip-push", "-H", "--lock-wait", "--lock-wait-timeout", "600", "--lock-wait-interval", "1")
		var seen []string
		for l := range ch {
			seen = append(seen, l)
			if strings.HasPrefix(l, "Retrying in 1s (") {
				break
			}
		}
		// Kamal shows the lock once, before the first retry, so a release
		// that removes details before the directory is safe from here on.
		r.mustRun("lock", "release")
		rest, code := wait()
		out := strings.Join(append(seen, rest...), "\n") + "\n"
		got, retries := lockWaitShape(t, out, "1")
		want, wantCode := lockWaitFixture(t, "deploy-lock-wait-released.out", "1")
		want[0] = strings.Replace(want[0], "30s", "600s", 1) // the recording waited up to 30 s
		if code != wantCode || retries < 1 || !slices.Equal(got, want) || !slices.Contains(rest, "Releasing the deploy lock...") {
			t.Errorf("exit %d, %d retries:\n%s\nfull output:\n%s", code, retries, diffLines(got, want), out)
		}
		if r.exists(".kamal/lock-app") {
			t.Errorf("lock left behind")
		}
	})
	t.Run("no-details", func(t *testing.T) {
		t.Parallel()
		// A lock directory without details: its status is empty, which does
		// not contain "Automatic deploy lock": refused at once
		// (misc-lock-no-details.txt).
		r := newRepo(t, "2.12.0", deployYML)
		if err := os.MkdirAll(filepath.Join(r.home, ".kamal", "lock-app"), 0o755); err != nil {
			t.Fatal(err)
		}
		out, _, code := r.run("deploy", "--skip-push", "-H", "--lock-wait", "--lock-wait-timeout", "3", "--lock-wait-interval", "1")
		got, _ := lockWaitShape(t, out, "1")
		want := []string{"Acquiring the deploy lock (waiting up to 3s)...", "Deploy lock is held by:", "",
			"  Finished all in X seconds",
			"  ERROR (Kamal::Cli::LockError): Deploy lock held manually, not waiting. Run 'kamal lock help' for more information"}
		if code != 1 || !slices.Equal(got, want) {
			t.Errorf("exit %d:\n%s\nfull output:\n%s", code, diffLines(got, want), out)
		}
		if !r.exists(".kamal/lock-app") {
			t.Errorf("the lock directory went away")
		}
	})
}

// floatLockWaitShape is the shape of the second deploy in
// misc-lock-wait-float.txt (--lock-wait-timeout 1.5 --lock-wait-interval 1.0).
func floatLockWaitShape(t *testing.T) []string {
	t.Helper()
	text := readReal(t, "2.12.0", "misc-lock-wait-float.txt")
	const cmd = "$ kamal deploy --skip-push -H --lock-wait --lock-wait-timeout 1.5 --lock-wait-interval 1.0\n"
	_, rest, ok := strings.Cut(text, cmd)
	if !ok {
		t.Fatalf("misc-lock-wait-float.txt has no %q", cmd)
	}
	body, _, _ := strings.Cut(rest, "\n# ")
	shape, _ := lockWaitShape(t, body+"\n", "1.0")
	return shape
}

// waitExit blocks until process pid has exited (a zombie counts), through a
// pidfd: no polling. A pid that is gone already returns at once.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	const sysPidfdOpen = 434 // the same number on every Linux architecture
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ESRCH {
		return
	}
	if errno != 0 {
		t.Fatalf("pidfd_open: %v", errno)
	}
	defer syscall.Close(int(fd))
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(fd), &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
		t.Fatal(err)
	}
	evs := make([]syscall.EpollEvent, 1)
	for {
		n, err := syscall.EpollWait(ep, evs, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
}

// TestHookPipesReadToEnd: like Kamal, the emulator reads a hook's output to
// end-of-file before it goes on, so a process the hook leaves holding its
// stdout keeps the emulator waiting after the hook itself has exited.
func TestHookPipesReadToEnd(t *testing.T) {
	r := newRepo(t, "2.12.0", deployYML)
	fifo := filepath.Join(r.work, "child")
	mkfifo(t, fifo)
	r.setenv("CHILD_FIFO", fifo)
	r.hook("pre-connect", "#!/bin/sh\n( read x < \"$CHILD_FIFO\"; echo child-done ) &\necho \"hook-pid $$\"\n")
	ch, wait := start(t, r, "lock", "status")
	pid := 0
	for l := range ch {
		if p, ok := strings.CutPrefix(l, "hook-pid "); ok {
			pid, _ = strconv.Atoi(p)
			break
		}
	}
	if pid == 0 {
		Unblock(fifo)
		out, code := wait()
		t.Fatalf("no hook pid (exit %d):\n%s", code, strings.Join(out, "\n"))
	}
	waitExit(t, pid)
	// The hook has exited; its child still holds the pipe and waits for us.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "go")
	f.Close()
	out, code := wait()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, strings.Join(out, "\n"))
	}
	var order []string
	for _, l := range out {
		switch {
		case l == "child-done", l == "There is no deploy lock":
			order = append(order, l)
		case strings.Contains(l, "Finished in"):
			order = append(order, "hook finished")
		}
	}
	if want := []string{"child-done", "hook finished", "There is no deploy lock"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
}

// TestOverSSH runs the lock commands and a setup with the recordings'
// post-deploy hook against a real sshd on 127.0.0.1, as the recordings were
// made: the host sees exactly the emulator's commands, and they and the hook's
// view match the 2.12.0 recordings.
func TestOverSSH(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	deploy := deployYML + fmt.Sprintf("ssh:\n  user: %s\n  port: %d\n", u.Username, h.Port)
	r := newRepo(t, "2.12.0", deploy)
	r.unsetenv(EnvRoot)
	r.setenv(EnvSSHConfig, h.ConfigFile)
	hookOut := filepath.Join(r.work, "hook.out")
	r.setenv("HOOK_OUT", hookOut)
	r.setenv("LOCKHOME", h.Home)
	r.hook("post-deploy", recorderHook)

	var all []string
	for _, step := range []struct {
		args    []string
		fixture string
	}{
		{[]string{"lock", "acquire", "-m", "test"}, "acquire"},
		{[]string{"lock", "status"}, "status"},
		{[]string{"lock", "release"}, "release"},
		{[]string{"setup"}, "setup"},
	} {
		r.mustRun(step.args...)
		got := r.commands()
		all = append(all, got...)
		var want []string
		for _, c := range fixtureCommands(t, readFixture(t, "2.12.0", step.fixture+".remote-commands.txt")) {
			if lockRelated(c) {
				want = append(want, normalizeCommand(t, c))
			}
		}
		if got := normalizeCommands(t, got); !slices.Equal(got, want) {
			t.Errorf("kamal %v over SSH:\n%s", step.args, diffLines(got, want))
		}
	}
	if got := h.Commands(t); !slices.Equal(got, all) {
		t.Errorf("the host ran:\n%s", diffLines(got, all))
	}
	data, err := os.ReadFile(hookOut)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := normalizeRecording(string(data), r.work), normalizeRecording(readFixture(t, "2.12.0", "setup-post-deploy-hook.txt"), "\x00"); got != want {
		t.Errorf("setup-post-deploy-hook.txt differs:\n%s", diffLines(strings.Split(got, "\n"), strings.Split(want, "\n")))
	}
	if _, err := os.Stat(filepath.Join(h.Home, ".kamal", "lock-app")); !os.IsNotExist(err) {
		t.Errorf("lock left on the host: %v", err)
	}

	// An unreachable host is an error, not a missing lock.
	writeFile(t, filepath.Join(r.dir, "config", "deploy.yml"), strings.Replace(deploy, fmt.Sprint(h.Port), fmt.Sprint(sshtest.ClosedTarget(t).Port), 1), 0o644)
	out, _, code := r.run("lock", "status")
	if code != 1 || !strings.Contains(out, "  ERROR (SSHKit::Runner::ExecuteError): Exception while executing on host 127.0.0.1: ") {
		t.Errorf("unreachable host: exit %d\n%s", code, out)
	}
}
