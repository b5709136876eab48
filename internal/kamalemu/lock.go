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
	// Secrets reach pre-connect since 2.11 (recorded: 2.6.0 passes none,
	// 2.12.0 does; Kamal 2.11 lib/kamal/cli/base.rb pre_connect_if_required).
	if err := e.runHook("pre-connect", hookOpts{secrets: e.ver.atLeast(2, 11)}); err != nil {
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

// raiseIfLocked is Kamal's raise_if_locked around try: a lock already in place
// (mkdir's "cannot create directory") is reported with the lock's status.
func (e *emu) raiseIfLocked(try func() error) error {
	err := try()
	if err == nil || !isExec(err, "cannot create directory") {
		return err
	}
	e.say("Deploy lock already in place!")
	if err := e.showLock(); err != nil {
		return err
	}
	return lockError()
}

// lockMissingError is Kamal::Cli::Base::LockMissingError raised without a
// message (Ruby's message is then the class name), as capture_lock_status
// raises it when the lock went away between the failed mkdir and the status.
func lockMissingError() error {
	const class = "Kamal::Cli::Base::LockMissingError"
	return &kamalError{class: class, msg: class}
}

// acquireLockWithWait is Kamal 2.12's acquire_lock_with_wait (--lock-wait,
// lib/kamal/cli/base.rb): retry the mkdir every interval until the deadline;
// after the first failure show the status once and give up at once unless its
// text contains "Automatic deploy lock" (a substring test: a lock without
// details has an empty status and is not waited on). Remaining seconds are
// truncated, as Ruby's to_i, and the sleep is min(interval, remaining).
func (e *emu) acquireLockWithWait() error {
	timeout, interval := e.opts.lockWaitTimeout, e.opts.lockWaitInterval
	deadline := time.Now().Add(timeout)
	e.say("Acquiring the deploy lock (waiting up to %ss)...", e.opts.lockWaitTimeoutText)
	shown := false
	for {
		err := e.execute(e.prim, e.cmdAcquire(lockfile.AutomaticMessage), false)
		if err == nil || !isExec(err, "cannot create directory") {
			return err
		}
		if !shown {
			status, err := e.capture(e.prim, e.cmdStatus())
			if err != nil {
				if isExec(err, "No such file or directory") {
					return lockMissingError()
				}
				return err
			}
			e.say("Deploy lock is held by:")
			e.say("%s", status)
			if !strings.Contains(status, lockfile.AutomaticMessage) {
				return &kamalError{class: "Kamal::Cli::LockError", msg: "Deploy lock held manually, not waiting. Run 'kamal lock help' for more information"}
			}
			shown = true
		}
		remaining := time.Until(deadline).Truncate(time.Second)
		if remaining <= 0 {
			e.say("Timed out after %ss waiting for the deploy lock", e.opts.lockWaitTimeoutText)
			return &kamalError{class: "Kamal::Cli::LockError", msg: "Timed out waiting for deploy lock"}
		}
		e.say("Retrying in %ss (%ds remaining)...", e.opts.lockWaitIntervalText, int(remaining/time.Second))
		time.Sleep(min(interval, remaining))
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
	return e.raiseIfLocked(func() error {
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
	})
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
	var err error
	if e.opts.lockWait && e.ver.atLeast(2, 12) {
		err = e.acquireLockWithWait()
	} else {
		err = e.raiseIfLocked(func() error {
			e.say("Acquiring the deploy lock...")
			return e.execute(e.prim, e.cmdAcquire(lockfile.AutomaticMessage), false)
		})
	}
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
