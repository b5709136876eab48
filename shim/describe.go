package shim

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/termsafe"
	"github.com/hookshim/hookshim/lockfile"
)

// staleAfter is the age past which a refusal suggests the lock may be stale.
const staleAfter = time.Hour

// describe says, for the decision line, whose the lock is and why.
func describe(o Ownership, now time.Time) string {
	switch o.State {
	case Free:
		return "free"
	case Ours:
		return fmt.Sprintf("ours (%s)", o.Reason)
	}
	return fmt.Sprintf("held by %s (%s)", holder(o.Lock, now), o.Reason)
}

// holder describes who holds a lock, since when, how long ago, version and message.
func holder(l lockfile.Lock, now time.Time) string {
	var b strings.Builder
	if l.Details != nil {
		b.WriteString(termsafe.Clean(l.Details.LockedBy))
	} else {
		b.WriteString("an unknown holder")
	}
	if since, ahead := l.Since(), l.Ahead(now); ahead > 0 {
		fmt.Fprintf(&b, " since %s (%s in the future: clock skew between this machine and the one that took it; its age is unknown)", since.Format(lockfile.TimeLayout), Ago(ahead))
	} else if !since.IsZero() {
		fmt.Fprintf(&b, " since %s (%s ago)", since.Format(lockfile.TimeLayout), Ago(now.Sub(since)))
	}
	// The lock's values are escaped here, once, as the locks table shows
	// them (termsafe.Clean, backslashes doubled, so that a Message that
	// spells \n is told from a newline); the line they end up in passes
	// termsafe.Line on its way out, which leaves them as they are.
	if d := l.Details; d != nil {
		fmt.Fprintf(&b, ", version %s, message \"%s\"", orDash(termsafe.Clean(d.Version)), termsafe.Clean(d.Message))
	} else if l.Problem != "" {
		fmt.Fprintf(&b, ", %s", l.Problem)
	}
	return b.String()
}

// Ago renders a duration the way people read ages: 45s, 3m12s, 2h5m, 3d4h.
func Ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// conflict is the refusal: which hook, which lock where, who holds it since
// when, why, and what to do. Only hints that can help are given: none to wait
// or defer when the caller itself must hold the lock, none to defer a hook
// that gates what follows.
func (r *Runner) conflict(o Ownership, why string) error {
	now := r.Now()
	var err *exitcode.Error
	if o.State == Ours {
		err = exitcode.Newf(r.ConflictExitCode, "%s: refused: lock %s on %s is ours (%s), and %s",
			r.Hook, o.Lock.Path, r.Store.Where(), o.Reason, why)
		return err.WithHint("to run it inside the lock (on Kamal 2.6+ --policy auto does too): %s", r.suggest("policy", "hold")).
			WithHint("to run it once the lock is released: %s", r.suggest("policy", "defer"))
	}
	msg := fmt.Sprintf("%s: refused: lock %s on %s is held by %s (%s)", r.Hook, o.Lock.Path, r.Store.Where(), holder(o.Lock, now), o.Reason)
	if why != "" {
		msg += ": " + why
	}
	err = exitcode.New(r.ConflictExitCode, errors.New(msg))
	c := r.caller(r.Store)
	if !r.Kamal.HonoursKamalLock() && c.callersLock() && CallerHolds(r.Hook, r.Kamal) == Held {
		return err.WithHint("hookshim looked for the lock of %s on %s; if this Kamal run took another, pass --service, --destination or --host to name it",
			specName(r.Spec.Service, r.Spec.Destination), r.Store.Where())
	}
	if !r.waitUntil.IsZero() { // only a wait that began has waited
		err.WithHint("waited %s for it to be released", r.Wait)
	}
	if !Gates(r.Hook) {
		err.WithHint("to run it once the lock is released: %s", r.suggest("policy", "defer"))
	}
	switch {
	case isManual(o.Lock) && !r.WaitManual:
		err.WithHint("it is a manual lock (kamal lock acquire), which Kamal's --lock-wait does not wait for either; to wait for it anyway: --wait 5m --wait-manual")
	case r.Wait > 0:
		err.WithHint("to wait longer: %s", r.suggest("wait", (4*r.Wait).String()))
	default:
		err.WithHint("to wait for it: %s", r.suggest("wait", "5m"))
	}
	if o.Lock.Layout != r.Layouts[0] {
		err.WithHint("it is in the %s layout; if you deploy with a newer Kamal, which never looks there, it is a leftover: say which Kamal with --layout %s or a Gemfile.lock", o.Lock.Layout.Versions(), r.Layouts[0])
	}
	if since := o.Lock.Since(); since.IsZero() || now.Sub(since) > staleAfter || o.State == Unknown {
		err.WithHint("if it is stale (its holder is gone): %s", r.releaseCommand(o.Lock))
	} else {
		err.WithHint("if it turns out to be stale: %s", r.releaseCommand(o.Lock))
	}
	return err
}

// isManual reports whether a lock is one that Kamal's --lock-wait refuses to
// wait for: readable details without "Automatic deploy lock" in them.
func isManual(l lockfile.Lock) bool { return l.Details != nil && !l.Details.KamalWaitsFor() }

// releaseCommand is the command that removes the lock l: `kamal lock release`
// (with the destination) when l is where the caller's Kamal keeps its lock,
// else a plain removal, since no other Kamal looks there.
func (r *Runner) releaseCommand(l lockfile.Lock) string {
	if l.Path == r.Spec.Path(r.Layouts[0]) {
		return KamalCommand(r.Spec.Destination, "lock", "release")
	}
	return r.Store.RemoveCommand(l.Path)
}

// KamalCommand renders a kamal command line for a hint, with -d DESTINATION
// when a destination is in use: Kamal keeps one lock per destination.
func KamalCommand(destination string, args ...string) string {
	cmd := "kamal " + strings.Join(args, " ")
	if destination != "" {
		cmd += " -d " + destination
	}
	return cmd
}

// suggest is the command line that runs the hook again with --flag=value,
// or, when there is none (Rerun unset, or a word that cannot be shown
// safely), the flag to add.
func (r *Runner) suggest(flag, value string) string {
	if r.Rerun != nil {
		if line := r.Rerun(flag, value); line != "" {
			return line
		}
	}
	return "--" + flag + " " + value
}
