package cli

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// An operator who runs `hookshim run` by hand on a terminal gets a hook that
// can read the terminal, that Ctrl-C reaches, and that Ctrl-Z stops and
// SIGCONT (the shell's fg) resumes together with hookshim. In a process group
// of its own, in the background, the hook's first read stopped it (SIGTTIN)
// and hookshim waited for ever.
func TestRunOnTerminal(t *testing.T) {
	t.Run("the hook reads the terminal", func(t *testing.T) {
		term := startOnTerminal(t, "printf 'name? '\nread name\necho \"hello $name\"\n")
		term.expect(t, `name\? `)
		term.send(t, "operator\n")
		term.expect(t, `hello operator`)
		if code := term.exit(t); code != 0 {
			t.Fatalf("exit %d, want 0:\n%s", code, term.out)
		}
		term.assertReleased(t)
	})
	t.Run("Ctrl-C reaches the hook, and the lock is released", func(t *testing.T) {
		term := startOnTerminal(t, "echo ready\nread line\necho \"not interrupted: $line\"\n")
		term.expect(t, `ready`)
		term.send(t, "\x03") // the terminal's interrupt character: SIGINT to the foreground group
		if code := term.exit(t); code != 128+int(syscall.SIGINT) {
			t.Fatalf("exit %d, want %d:\n%s", code, 128+int(syscall.SIGINT), term.out)
		}
		if regexp.MustCompile(`not interrupted`).MatchString(term.out.String()) {
			t.Fatalf("the hook was not interrupted:\n%s", term.out)
		}
		term.assertReleased(t)
	})
	t.Run("Ctrl-Z stops hookshim and the hook, fg resumes both", func(t *testing.T) {
		// Under a shell with job control, as an operator's: the shell runs
		// hookshim as a job in the foreground; after the stop it runs fg.
		term := startOnTerminal(t, "echo ready\nread line\necho \"resumed: $line\"\n",
			"bash", "-c", `set -m; "$@"; echo "stopped: $?"; fg; echo "exit: $?"`, "bash")
		term.expect(t, `ready`)
		term.send(t, "\x1a") // the terminal's suspend character: SIGTSTP to the foreground group
		term.expect(t, `stopped: 148`)
		term.send(t, "go on\n")
		term.expect(t, `resumed: go on`)
		term.expect(t, `exit: 0`)
		if code := term.exit(t); code != 0 {
			t.Fatalf("the shell exited %d:\n%s", code, term.out)
		}
		term.assertReleased(t)
	})
}

// terminalRun is hookshim run --policy hold on a new pseudo-terminal that is
// its controlling terminal, with hookshim in the terminal's foreground, as
// under an interactive shell; or under the command given before it (a shell),
// which then gets hookshim's command line as its last arguments.
type terminalRun struct {
	cmd  *exec.Cmd
	ptmx *os.File
	out  *watchedBuf
	root string
	done chan struct{} // closed when the terminal's output has been read to its end
}

func startOnTerminal(t *testing.T, hookBody string, under ...string) *terminalRun {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "lockhost")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(dir, "hook")
	writeExe(t, hook, "#!/bin/sh\n"+hookBody)
	argv := append(under, faultHookshim(t), "run", "--root", root, "--service", "app", "--policy", "hold", "post-deploy", "--", hook)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, faultEnv(filepath.Join(dir, "home"))
	r := runOnTerminal(t, cmd)
	r.root = root
	return r
}

// runOnTerminal starts cmd on a new pseudo-terminal that is its controlling
// terminal, in a session of its own, so that its process group is the
// terminal's foreground group, as from an interactive shell; the terminal's
// output is read into the run's buffer until its end.
func runOnTerminal(t *testing.T, cmd *exec.Cmd) *terminalRun {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	r := &terminalRun{cmd: cmd, ptmx: ptmx, out: newWatchedBuf(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_, err := io.Copy(r.out, ptmx)
		// Linux reports the end of a pseudo-terminal whose other side is
		// closed as EIO.
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Errorf("reading the terminal: %v", err)
		}
		r.out.close()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	return r
}

func (r *terminalRun) expect(t *testing.T, pattern string) {
	t.Helper()
	if !r.out.waitFor(regexp.MustCompile(pattern), faultTimeout) {
		t.Fatalf("the terminal never showed %q:\n%s", pattern, r.out)
	}
}

func (r *terminalRun) send(t *testing.T, s string) {
	t.Helper()
	if _, err := r.ptmx.WriteString(s); err != nil {
		t.Fatalf("typing on the terminal: %v", err)
	}
}

// exit waits for hookshim (or the command it runs under) to end and returns
// its exit status.
func (r *terminalRun) exit(t *testing.T) int {
	t.Helper()
	if !r.out.waitEOF(faultTimeout) {
		t.Fatalf("hookshim did not end:\n%s", r.out)
	}
	err := r.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *terminalRun) assertReleased(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(r.root, ".kamal", "lock-app")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the hold's lock is still there (%v):\n%s", err, r.out)
	}
}
