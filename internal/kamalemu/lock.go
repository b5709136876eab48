package kamalemu

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// lockError is Kamal::Cli::LockError as raise_if_locked raises it.
func lockError() error {
	return &kamalError{class: "Kamal::Cli::LockError", msg: "Deploy lock found. Run 'kamal lock help' for more information"}
}

// rubyJoin is Ruby's File.join for relative pieces: one "/" between them.
func rubyJoin(parts ...string) string {
	out := ""
	for i, p := range parts {
		if i == 0 {
			out = p
			continue
		}
		out = strings.TrimRight(out, "/") + "/" + strings.TrimLeft(p, "/")
	}
	return out
}

// lockDir is where this Kamal keeps its lock, relative to the SSH user's home
// (or absolute, for an absolute run_directory before 2.0).
func (e *emu) lockDir() string {
	name := e.svc
	if e.dest != "" {
		name += "-" + e.dest
	}
	switch {
	case e.ver.atLeast(2, 0):
		return rubyJoin(".kamal", "lock-"+name)
	case e.ver.atLeast(1, 5):
		return rubyJoin(e.runDir, "locks", name)
	default:
		// "#{config.run_directory}/lock-#{config.service}": no destination yet.
		return e.runDir + "/lock-" + e.svc
	}
}

// The lock commands, built the way Kamal's Commands::Lock builds them.

func (e *emu) cmdEnsureRunDir() string { return "/usr/bin/env mkdir -p " + e.runDir }

func (e *emu) cmdEnsureLocksDir() string {
	return "/usr/bin/env mkdir -p " + rubyJoin(e.runDir, "locks")
}

func (e *emu) cmdAcquire(message string) string {
	d := lockfile.Details{
		LockedBy: e.lockedBy,
		At:       time.Now().UTC().Truncate(time.Second),
		Version:  e.deployVersion,
		Message:  message,
	}
	dir := e.lockDir()
	return "/usr/bin/env mkdir " + dir + ` && echo "` + lockfile.Encode64([]byte(d.Text())) + `" > ` + rubyJoin(dir, "details")
}

func (e *emu) cmdRelease() string {
	dir := e.lockDir()
	return "/usr/bin/env rm " + rubyJoin(dir, "details") + " && rm -r " + dir
}

func (e *emu) cmdStatus() string {
	dir := e.lockDir()
	return "/usr/bin/env stat " + dir + " > /dev/null && cat " + rubyJoin(dir, "details") + " | base64 -d"
}

// on runs pre-connect first, as Kamal's `on` does.
func (e *emu) preConnect() error {
	if e.connected {
		return nil
	}
	if err := e.runHook("pre-connect", hookOpts{secrets: true}); err != nil {
		return err
	}
	e.connected = true
	return nil
}

// ensureRunDirectory is Kamal's ensure_run_directory (2.x) or
// ensure_run_and_locks_directory (1.5-1.9): mkdir -p on every host of this
// command, and the locks directory on the primary host.
func (e *emu) ensureRunDirectory(withLocks bool) error {
	if err := e.preConnect(); err != nil {
		return err
	}
	for _, h := range e.hosts {
		if err := e.execute(h, e.cmdEnsureRunDir(), true); err != nil {
			return err
		}
	}
	if withLocks && e.ver.atLeast(1, 5) && !e.ver.atLeast(2, 0) {
		return e.execute(e.prim, e.cmdEnsureLocksDir(), true)
	}
	return nil
}

func isExec(err error, pattern string) bool {
	var xe *execError
	return errors.As(err, &xe) && strings.Contains(xe.Error(), pattern)
}

// handleMissingLock is Kamal::Cli::Lock#handle_missing_lock.
func (e *emu) handleMissingLock(err error) error {
	if err != nil && isExec(err, "No such file or directory") {
		e.say("There is no deploy lock")
		return nil
	}
	return err
}

// showLock is raise_if_locked's `puts capture_with_debug(*KAMAL.lock.status)`.
func (e *emu) showLock() error {
	if err := e.preConnect(); err != nil {
		return err
	}
	out, err := e.capture(e.prim, e.cmdStatus())
	if err != nil {
		return err
	}
	e.say("%s", out)
	return nil
}

// raiseIfLocked is Kamal's raise_if_locked around try (called with the attempt
// number); with --lock-wait (2.12+) it polls while an automatic lock is held.
func (e *emu) raiseIfLocked(try func(attempt int) error, canWait bool) error {
	wait := canWait && e.opts.lockWait && e.ver.atLeast(2, 12)
	deadline := time.Now().Add(e.opts.lockWaitTimeout)
	announced := false
	for attempt := 0; ; attempt++ {
		err := try(attempt)
		if err == nil || !isExec(err, "cannot create directory") {
			return err
		}
		if wait && time.Now().Before(deadline) {
			out, serr := e.capture(e.prim, e.cmdStatus())
			if serr != nil && isExec(serr, "No such file or directory") {
				continue // released meanwhile: try again at once
			}
			if serr == nil {
				d, perr := lockfile.ParseText([]byte(out))
				if perr == nil && d.IsAutomatic() {
					if !announced {
						e.say("Deploy lock held by %s since %s (%s), waiting for it (up to %s, checking every %s)...",
							d.LockedBy, d.AtText, d.Message, e.opts.lockWaitTimeout, e.opts.lockWaitInterval)
						announced = true
					}
					pause := e.opts.lockWaitInterval
					if left := time.Until(deadline); left < pause {
						pause = left
					}
					time.Sleep(pause)
					continue
				}
				if perr == nil {
					e.say("Not waiting for a deploy lock taken by hand (Message: %s)", d.Message)
				}
			}
		}
		e.say("Deploy lock already in place!")
		if err := e.showLock(); err != nil {
			return err
		}
		return lockError()
	}
}

// lockStatus is `kamal lock status`.
func (e *emu) lockStatus() error {
	if err := e.preConnect(); err != nil {
		return err
	}
	if !e.ver.atLeast(2, 0) {
		if err := e.execute(e.prim, e.cmdEnsureRunDir(), true); err != nil {
			return e.handleMissingLock(err)
		}
	}
	out, err := e.capture(e.prim, e.cmdStatus())
	if err != nil {
		return e.handleMissingLock(err)
	}
	e.say("%s", out)
	return nil
}

// lockAcquire is `kamal lock acquire -m MSG`.
func (e *emu) lockAcquire(message string) error {
	if e.ver.atLeast(2, 0) {
		if err := e.ensureRunDirectory(false); err != nil {
			return err
		}
	}
	return e.raiseIfLocked(func(int) error {
		if err := e.preConnect(); err != nil {
			return err
		}
		if !e.ver.atLeast(2, 0) {
			if err := e.execute(e.prim, e.cmdEnsureRunDir(), true); err != nil {
				return err
			}
		}
		if err := e.execute(e.prim, e.cmdAcquire(message), false); err != nil {
			return err
		}
		e.say("Acquired the deploy lock")
		return nil
	}, false)
}

// lockRelease is `kamal lock release`.
func (e *emu) lockRelease() error {
	if err := e.preConnect(); err != nil {
		return err
	}
	if !e.ver.atLeast(2, 0) {
		if err := e.execute(e.prim, e.cmdEnsureRunDir(), true); err != nil {
			return e.handleMissingLock(err)
		}
	}
	if err := e.execute(e.prim, e.cmdRelease(), false); err != nil {
		return e.handleMissingLock(err)
	}
	e.say("Released the deploy lock")
	return nil
}

// acquireLock is Kamal's acquire_lock (with the directories made first).
func (e *emu) acquireLock() error {
	if err := e.ensureRunDirectory(true); err != nil {
		return err
	}
	err := e.raiseIfLocked(func(attempt int) error {
		if attempt == 0 {
			e.say("Acquiring the deploy lock...")
		}
		if err := e.preConnect(); err != nil {
			return err
		}
		return e.execute(e.prim, e.cmdAcquire(lockfile.AutomaticMessage), false)
	}, true)
	if err != nil {
		return err
	}
	e.holdingLock = true
	return nil
}

// releaseLock is Kamal's release_lock.
func (e *emu) releaseLock() error {
	e.say("Releasing the deploy lock...")
	if err := e.preConnect(); err != nil {
		return err
	}
	if err := e.execute(e.prim, e.cmdRelease(), false); err != nil {
		return err
	}
	e.holdingLock = false
	return nil
}

// withLock is Kamal's with_lock: run fn holding the lock, taking it unless this
// Kamal holds it already, and releasing what it took on the way out, also when
// fn fails.
func (e *emu) withLock(fn func() error) error {
	if e.holdingLock {
		return fn()
	}
	if err := e.acquireLock(); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if rerr := e.releaseLock(); rerr != nil {
			e.say("Error releasing the deploy lock: %s", strings.TrimRight(rerr.Error(), "\n"))
		}
		return err
	}
	return e.releaseLock()
}

// errorf is a RuntimeError.
func errorf(format string, args ...any) error {
	return &kamalError{class: "RuntimeError", msg: fmt.Sprintf(format, args...)}
}
