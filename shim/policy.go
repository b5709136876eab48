package shim

import (
	"fmt"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// Policy says what to do with a hook for each lock state (README.md, the table
// "lock state" under "Wrapping a hook: hookshim run").
type Policy string

const (
	// Auto runs the hook now where that is safe, defers it where Kamal < 2.6
	// holds the lock for it, and waits for (or refuses) anyone else's lock.
	Auto Policy = "auto"
	// Hold makes the hook run under the lock: taken for it when free.
	Hold Policy = "hold"
	// Defer runs the hook only once nobody holds the lock.
	Defer Policy = "defer"
	// Strict runs the hook only when the lock is free.
	Strict Policy = "strict"
)

// ParsePolicy reads a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case Auto, Hold, Defer, Strict:
		return p, nil
	case "":
		return Auto, nil
	}
	return "", exitcode.Newf(exitcode.Usage, "policy %q is not one of auto, hold, defer, strict", s).
		WithHint("pass --policy auto|hold|defer|strict (or set HOOKSHIM_POLICY)")
}

// Action is what Decide chose.
type Action string

const (
	RunNow   Action = "run now"
	TakeLock Action = "take the lock and run"
	WaitLock Action = "wait for the lock"
	DeferRun Action = "defer"
	Refuse   Action = "refuse"
)

// Decide applies the policy table to a lock's state. why explains a choice
// that the table alone does not make obvious ("" otherwise).
//
// Two rules come before the table. A hook that gates what Kamal does next
// (every hook but post-deploy) is never deferred. A lock that the caller holds
// for this hook (CallerHolds is Held) can only be the caller's: when it does not
// look like it, the hook is refused at once, since waiting for the caller to
// release its lock while it waits for the hook could only time out.
func Decide(p Policy, o Ownership, c Caller) (a Action, why string) {
	hook, k := c.Hook, c.Kamal
	switch o.State {
	case Free:
		if p == Hold {
			return TakeLock, ""
		}
		return RunNow, ""
	case Ours:
		switch p {
		case Hold:
			return RunNow, ""
		case Defer:
			if Gates(hook) {
				return RunNow, fmt.Sprintf("%s must run before what it gates, so it is not deferred", hook)
			}
			return DeferRun, ""
		case Strict:
			return Refuse, "policy strict runs hooks only while the lock is free"
		}
		// auto
		if k.HonoursKamalLock() || o.ByToken {
			return RunNow, ""
		}
		if Gates(hook) {
			return RunNow, fmt.Sprintf("%s must run before what it gates, so it is not deferred; nested kamal commands will find the lock, as Kamal < 2.6 ignores KAMAL_LOCK", hook)
		}
		return DeferRun, "Kamal < 2.6 ignores KAMAL_LOCK, so nested kamal commands would fail on this lock"
	}
	// Theirs, Unknown
	if !k.HonoursKamalLock() && c.callersLock() && CallerHolds(hook, k) == Held {
		return Refuse, fmt.Sprintf("Kamal runs %s under its own lock during %s, so no other lock can be in place; waiting would only time out", hook, orDash(k.Command))
	}
	if p == Defer && !Gates(hook) {
		return DeferRun, ""
	}
	return WaitLock, ""
}

// CheckDeferrable refuses to defer a hook that gates what comes after it.
func CheckDeferrable(p Policy, hook string) error {
	if p == Defer && Gates(hook) {
		return exitcode.Newf(exitcode.Usage, "%s cannot be deferred: it must run before what it gates, not after the lock is released", hook).
			WithHint("use --policy auto or --policy hold for %s", hook)
	}
	return nil
}
