package shim

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
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
		b.WriteString(l.Details.LockedBy)
	} else {
		b.WriteString("an unknown holder")
	}
	if since := l.Since(); !since.IsZero() {
		fmt.Fprintf(&b, " since %s (%s ago)", since.Format(lockfile.TimeLayout), Ago(now.Sub(since)))
	}
	// Raw: every line hookshim prints is escaped on its way out (see
	// lockreport.Clean); escaping here too would double the backslashes.
	if d := l.Details; d != nil {
		fmt.Fprintf(&b, ", version %s, message \"%s\"", orDash(d.Version), d.Message)
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
// when, and what to do.
func (r *Runner) conflict(o Ownership, why string) error {
	now := r.Now()
	var err *exitcode.Error
	if o.State == Ours {
		err = exitcode.Newf(r.ConflictExitCode, "%s: refused: lock %s on %s is ours (%s), and %s",
			r.Hook, o.Lock.Path, r.Store.Where(), o.Reason, why)
		return err.WithHint("to run it inside the lock (on Kamal 2.6+ --policy auto does too): %s", r.suggest("policy", "hold")).
			WithHint("to run it once the lock is released: %s", r.suggest("policy", "defer"))
	}
	err = exitcode.Newf(r.ConflictExitCode, "%s: refused: lock %s on %s is held by %s (%s)",
		r.Hook, o.Lock.Path, r.Store.Where(), holder(o.Lock, now), o.Reason)
	if r.Wait > 0 {
		err.WithHint("waited %s for it to be released", r.Wait)
	}
	if !Gates(r.Hook) {
		err.WithHint("to run it once the lock is released: %s", r.suggest("policy", "defer"))
	}
	err.WithHint("to wait for it: %s", r.suggest("wait", "5m"))
	if since := o.Lock.Since(); since.IsZero() || now.Sub(since) > staleAfter || o.State == Unknown {
		err.WithHint("if it is stale (its holder is gone): kamal lock release")
	} else {
		err.WithHint("if it turns out to be stale: kamal lock release")
	}
	return err
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
