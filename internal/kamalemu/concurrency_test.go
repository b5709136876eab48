//go:build linux

package kamalemu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
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

// TestLockWait: Kamal 2.12's --lock-wait polls an automatic lock until it goes,
// refuses to wait on a manual one, and gives up after its timeout.
func TestLockWait(t *testing.T) {
	t.Run("released", func(t *testing.T) {
		r := newRepo(t, "2.12.0", deployYML)
		r.mustRun("lock", "acquire", "-m", "Automatic deploy lock")
		ch, wait := start(t, r, "deploy", "--lock-wait", "--lock-wait-interval", "0.005", "--lock-wait-timeout", "600")
		waiting := false
		for l := range ch {
			if strings.HasPrefix(l, "Deploy lock held by "+testerName) && strings.Contains(l, "waiting for it") {
				waiting = true
				break
			}
		}
		if !waiting {
			_, code := wait()
			t.Fatalf("deploy did not wait (exit %d)", code)
		}
		// Released in one step (a rename, then removal out of the way):
		// `kamal lock release` removes details before the directory, and a
		// waiting Kamal that looks in between sees a lock without details,
		// which it does not wait on. This test is about the waiting.
		gone := filepath.Join(r.home, ".kamal", "released")
		if err := os.Rename(filepath.Join(r.home, ".kamal", "lock-app"), gone); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(gone); err != nil {
			t.Fatal(err)
		}
		out, code := wait()
		if code != 0 || !slices.Contains(out, "Releasing the deploy lock...") {
			t.Errorf("exit %d:\n%s", code, strings.Join(out, "\n"))
		}
		if r.exists(".kamal/lock-app") {
			t.Errorf("lock left behind")
		}
	})
	t.Run("manual", func(t *testing.T) {
		r := newRepo(t, "2.12.0", deployYML)
		r.mustRun("lock", "acquire", "-m", "maintenance")
		out, _, code := r.run("deploy", "--lock-wait", "--lock-wait-interval", "0.005")
		if code != 1 || !strings.Contains(out, "Not waiting for a deploy lock taken by hand (Message: maintenance)\nDeploy lock already in place!\n") ||
			!strings.HasSuffix(out, "  ERROR (Kamal::Cli::LockError): Deploy lock found. Run 'kamal lock help' for more information\n") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		r := newRepo(t, "2.12.0", deployYML)
		r.mustRun("lock", "acquire", "-m", "Automatic deploy lock")
		out, _, code := r.run("setup", "--lock-wait", "--lock-wait-interval", "5ms", "--lock-wait-timeout", "30ms")
		if code != 1 || !strings.Contains(out, "waiting for it") || !strings.Contains(out, "Deploy lock found") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if d := readDetails(t, r, ".kamal/lock-app"); !d.IsAutomatic() {
			t.Errorf("the lock waited on changed: %+v", d)
		}
	})
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
