package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// Exec runs a hook's steps as child processes.
type Exec struct {
	Env    []string
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// BeforeStart, when set, is called just before the first step starts; an
	// error stops the hook from starting. A deferred hook's waiter records its
	// job as running here, so that a crash after the hook starts can never be
	// taken for "the hook was not run".
	BeforeStart func() error
	// Signals delivers the signals hookshim received (SIGINT, SIGTERM, SIGHUP).
	// Each is forwarded to the running step's process group; a second SIGINT or
	// SIGTERM kills the group. On a foreground terminal (see
	// onForegroundTerminal) only SIGTERM is forwarded, to the step itself: the
	// terminal sends SIGINT and SIGHUP to the hook as well. Nil means no
	// forwarding.
	Signals <-chan os.Signal
}

// Run runs the steps in order, stopping at the first that fails, and returns
// the exit status to pass on: the failing step's own, 128+N for a step killed
// by signal N, 127 or 126 for one that could not be started, 128+N for a
// signal that arrived before a step started.
func (e Exec) Run(ctx context.Context, steps []Step, env []string) (int, error) {
	for i, s := range steps {
		if sig, ok := pending(e.Signals); ok {
			return exitcode.SignalBase + signum(sig), fmt.Errorf("received %s before %s started", SignalName(sig), s.Name())
		}
		if i == 0 && e.BeforeStart != nil {
			if err := e.BeforeStart(); err != nil {
				return exitcode.CantCreate, exitcode.New(exitcode.CantCreate, fmt.Errorf("%s was not started: %w", s.Name(), err))
			}
		}
		status, err := e.runStep(ctx, s, env)
		if err != nil || status != 0 {
			return status, err
		}
	}
	return 0, nil
}

func (e Exec) runStep(ctx context.Context, s Step, env []string) (int, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env, cmd.Dir = env, e.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stdout, e.Stderr
	// Its own process group, so that a signal reaches the hook and everything
	// it started, and so that hookshim survives to release the lock. Not on a
	// terminal where hookshim is in the foreground: there the hook shares
	// hookshim's group, so that the terminal treats both as one job.
	interactive := onForegroundTerminal(e.Stdin)
	if !interactive {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
			return exitcode.NotFound, exitcode.Newf(exitcode.NotFound, "hook command %q not found", s.Path)
		case errors.Is(err, fs.ErrPermission):
			return exitcode.CannotExecute, exitcode.Newf(exitcode.CannotExecute, "hook command %q cannot be executed: permission denied", s.Path)
		}
		return exitcode.CannotExecute, exitcode.Newf(exitcode.CannotExecute, "hook command %q cannot be started: %v", s.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Where forwarded signals go: the hook's process group, or the hook
	// itself when it shares hookshim's.
	target := -cmd.Process.Pid
	if interactive {
		target = cmd.Process.Pid
	}
	var got os.Signal
	for {
		select {
		case <-done:
			return statusOf(cmd, got), nil
		case sig := <-e.Signals:
			if sig == got && sig != syscall.SIGHUP {
				_ = syscall.Kill(target, syscall.SIGKILL)
				continue
			}
			got = sig
			if interactive && sig != syscall.SIGTERM {
				continue // the terminal sent SIGINT or SIGHUP to the whole job, the hook included
			}
			_ = syscall.Kill(target, sig.(syscall.Signal))
		case <-ctx.Done():
			_ = syscall.Kill(target, syscall.SIGTERM)
			ctx = context.Background() // the step's end is awaited above
		}
	}
}

// statusOf turns a finished command into an exit status as sh reports it. A
// step that exits 0 after hookshim was signalled still counts as interrupted.
func statusOf(cmd *exec.Cmd, sig os.Signal) int {
	ps := cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitcode.SignalBase + int(ws.Signal())
	}
	if code := ps.ExitCode(); code != 0 || sig == nil {
		return code
	}
	return exitcode.SignalBase + signum(sig)
}

func pending(ch <-chan os.Signal) (os.Signal, bool) {
	select {
	case s := <-ch:
		return s, true
	default:
		return nil, false
	}
}

// SignalName names a signal as people and kill(1) write it: SIGTERM, SIGINT,
// SIGHUP, ... (Go's String() gives "terminated", "interrupt"), or "signal N".
func SignalName(s os.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP",
		syscall.SIGQUIT: "SIGQUIT", syscall.SIGKILL: "SIGKILL", syscall.SIGPIPE: "SIGPIPE",
		syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2",
	}
	if ss, ok := s.(syscall.Signal); ok {
		if n, ok := names[ss]; ok {
			return n
		}
		return fmt.Sprintf("signal %d", int(ss))
	}
	return s.String()
}

func signum(s os.Signal) int {
	if ss, ok := s.(syscall.Signal); ok {
		return int(ss)
	}
	return 0
}
