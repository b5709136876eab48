package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// runShell runs cmd in the project until it exits, or until ctx is done (the
// sandbox got SIGINT, SIGTERM or SIGHUP): then an interactive shell gets
// SIGHUP, on which every shell exits and hangs up its jobs, and batch commands
// (in a process group of their own) get SIGTERM. It returns the shell's exit
// status, 128+N for a signal.
func runShell(ctx context.Context, cmd *exec.Cmd, app string, env []string, batch bool) int {
	cmd.Dir, cmd.Env = app, env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: batch}
	if batch {
		endWithSandbox(cmd.SysProcAttr, syscall.SIGTERM)
	} else {
		endWithSandbox(cmd.SysProcAttr, syscall.SIGHUP)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox: starting the shell:", err)
		return 1
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if batch {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			} else {
				cmd.Process.Signal(syscall.SIGHUP)
			}
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "sandbox: the shell:", err)
		return 1
	}
}

// interactiveShell is $SHELL (else /bin/sh) started interactively, with a
// start-up file that reads the user's own and then puts the sandbox's bin
// first in PATH again (in case that one set PATH) and marks the prompt.
func interactiveShell(dir string, env []string) (*exec.Cmd, []string, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	bin := filepath.Join(dir, "bin")
	again := "PATH=" + shQuote(bin) + `:"$PATH"` + "\n"
	rc := filepath.Join(dir, "shellrc")
	switch filepath.Base(shell) {
	case "bash":
		err := os.WriteFile(rc, []byte(`[ -f ~/.bashrc ] && . ~/.bashrc
`+again+`PS1="(hookshim sandbox) $PS1"
`), 0o600)
		return exec.Command(shell, "--rcfile", rc, "-i"), env, err
	case "zsh":
		zdot := filepath.Join(dir, "zsh")
		if err := os.Mkdir(zdot, 0o700); err != nil {
			return nil, nil, err
		}
		err := os.WriteFile(filepath.Join(zdot, ".zshrc"), []byte(`[ -f "$HOME/.zshenv" ] && . "$HOME/.zshenv"
[ -f "$HOME/.zshrc" ] && . "$HOME/.zshrc"
`+again+`PROMPT="(hookshim sandbox) $PROMPT"
`), 0o600)
		return exec.Command(shell, "-i"), append(env, "ZDOTDIR="+zdot), err
	case "sh", "dash", "ash", "ksh", "mksh", "posh", "yash":
		// A POSIX shell reads $ENV when interactive.
		err := os.WriteFile(rc, []byte(again+`PS1="(hookshim sandbox) $ "
`), 0o600)
		return exec.Command(shell, "-i"), append(env, "ENV="+rc), err
	}
	return exec.Command(shell, "-i"), env, nil // PATH is in its environment already
}

// banner says what the sandbox is and what to try, on standard error.
func banner(port int) {
	fmt.Fprintf(os.Stderr, `
hookshim sandbox: a Kamal project, app, deployed to web1, a real sshd on 127.0.0.1 port %d.
  hookshim and kamal are first in PATH; kamal is hookshim's emulator of Kamal 2.12
  (KAMAL_EMU_VERSION=2.5.3 kamal ... behaves like Kamal 2.5.3). Nothing in ~/.ssh is used.
  Try the commands of README.md's section "Try it: a sandbox with Kamal and a host", e.g.
    cat .kamal/hooks/post-deploy
    hookshim install --hooks .kamal/hooks
    kamal deploy
  Leave the shell (exit, or Ctrl-D) to stop web1 and remove the sandbox.

`, port)
}
