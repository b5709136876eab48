package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hookshim/hookshim/internal/sshx"
)

// WaitGone blocks until nothing exists at path any more (it returns nil), or
// ctx ends (it returns ctx.Err()). It learns of the removal from the file
// system's notifications on the parent directory, not by looking again and
// again: it returns within moments of Kamal's `rm -r` of a lock directory.
// A parent directory that is missing or goes away means path is gone.
func WaitGone(ctx context.Context, path string) error { return WaitGoneArmed(ctx, path, nil) }

// WaitGoneArmed is WaitGone, calling armed (when not nil) once the watch is
// in place and the path was still there: from then on its removal is seen.
func WaitGoneArmed(ctx context.Context, path string, armed func()) error {
	path = filepath.Clean(path)
	parent := filepath.Dir(path)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", parent, err)
	}
	defer w.Close()
	if err := w.Add(parent); err != nil {
		if gone, _ := Gone(path); gone {
			return nil
		}
		return fmt.Errorf("watching %s: %w", parent, err)
	}
	// Armed: a removal from now on is seen, so look once more for one that
	// came before.
	if gone, err := Gone(path); gone || err != nil {
		return err
	}
	if armed != nil {
		armed()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watching %s: the watch ended", parent)
			}
			if ev.Name != path && ev.Name != parent {
				continue
			}
			if gone, err := Gone(path); gone || err != nil {
				return err
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watching %s: the watch ended", parent)
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("watching %s: %w", parent, err)
			}
			// Events were dropped: look.
			if gone, err := Gone(path); gone || err != nil {
				return err
			}
		}
	}
}

// Gone reports whether nothing exists at path (not even a dangling symlink).
func Gone(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return true, nil
	}
	return false, err
}

// Script runner, with args as the script's positional parameters: an
// *sshx.Conn, or a client bound to a host (lockfile.OnHost); the same interface
// as lockfile.Runner.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader, args ...string) (sshx.Result, error)
}

// NotInstalledError says hookshim is not on the lock's host, so its lock
// cannot be watched there.
type NotInstalledError struct{ Host string }

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("hookshim is not installed on %s (install it there with hookshim install --ssh for a deferred hook to start the moment the lock is released)", e.Host)
}

// WatchStatusTimeout is `hookshim watch`'s exit status when its --timeout
// passed (or its caller went away) with the lock still there.
const WatchStatusTimeout = 75

// WatchScript is the remote command that watches PATH ("$1", relative to the
// SSH user's home, or absolute) for TIMEOUT ("$2", a Go duration) with the
// host's own hookshim: exit 0 once it is gone, 75 after timeout or when its
// standard input ends (the waiter is gone), 127 when hookshim is not installed
// there. The user's own bin directories are searched too, since a
// non-interactive SSH session's PATH leaves them out. WatchArgs gives its
// arguments.
const WatchScript = `PATH="$PATH:$HOME/.local/bin:$HOME/bin"; export PATH
command -v hookshim >/dev/null 2>&1 || exit 127
exec hookshim watch --until-eof --timeout "$2" -- "$1"
`

// WatchArgs are WatchScript's arguments for path and timeout (rounded to
// whole seconds).
func WatchArgs(path string, timeout time.Duration) []string {
	return []string{path, timeout.Round(time.Second).String()}
}

// RemoteWatch returns a Watch for shim.Runner that learns of the lock's
// release from `hookshim watch` on the lock's host: one SSH session (over
// runner(), the multiplexed connection when there is one) that returns the
// moment the directory is gone. It returns a *NotInstalledError when hookshim
// is not on the host, so the caller polls instead. ctx's deadline, plus a
// margin, bounds the remote watch too, and the remote watch ends as soon as
// this process does (its standard input is a pipe only this process holds).
func RemoteWatch(host string, runner func() Runner) func(ctx context.Context, path string) error {
	return func(ctx context.Context, path string) error {
		timeout := 24 * time.Hour
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) + 5*time.Second
		}
		if timeout < time.Second {
			timeout = time.Second
		}
		stdinR, stdinW, err := os.Pipe()
		if err != nil {
			return err
		}
		defer stdinR.Close()
		defer stdinW.Close()
		res, err := runner().Run(ctx, WatchScript, stdinR, WatchArgs(path, timeout)...)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch res.ExitStatus {
		case 0, WatchStatusTimeout:
			return nil // gone, or look again
		case 127:
			return &NotInstalledError{Host: host}
		}
		msg := strings.TrimSpace(string(res.Stderr))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("hookshim watch on %s failed (exit %d): %s", host, res.ExitStatus, msg)
	}
}
