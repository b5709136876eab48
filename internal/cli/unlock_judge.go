package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// unlockVerdict is what unlock may do with one lock it looked at.
type unlockVerdict struct {
	release bool   // remove it without asking
	ask     bool   // remove it after a confirmation (or --yes)
	why     string // why it is safe, or what decides, for people and the audit log
	// what is the lock as the question (and a refusal to ask) names it:
	// why without the flag that allowed it, since it is not removed yet.
	what   string
	refuse *exitcode.Error
}

// judgeUnlock decides, from the lock alone, whether it may go. A hookshim hold
// taken on this machine is judged by its processes (internal/liveness): gone ->
// released; running -> refused. Anything else by its kind and age.
func judgeUnlock(l lockfile.Lock, o unlockOptions, where string) unlockVerdict {
	if h, ok := l.Hold(); ok {
		if h.Host != o.hostname {
			return judgeByAge(l, o, where, fmt.Sprintf("a hookshim hold taken on %s, not on this machine (%s): only its age can tell", h.Host, o.hostname))
		}
		v := checkHold(h)
		switch v.Liveness {
		case liveness.Dead:
			return unlockVerdict{release: true, why: fmt.Sprintf("hookshim's hold for %s (token %s) is dead: %s", h.Hook, h.Token, v.Why)}
		case liveness.Alive:
			return unlockVerdict{refuse: exitcode.Newf(exitcode.Conflict, "lock %s on %s is a live hookshim hold for %s (token %s): %s; not removed", l.Path, where, h.Hook, h.Token, v.Why).
				WithHint("a running hookshim releases it when its hook ends; if hookshim itself was killed, run hookshim unlock again once the hook has ended: it then removes the hold without asking")}
		}
		return judgeByAge(l, o, where, "a hookshim hold of this machine that cannot be proven dead: "+v.Why)
	}
	switch {
	case l.State == lockfile.NoDetails:
		return judgeByAge(l, o, where, "a lock directory without details (a Kamal between its mkdir and its write, or one that crashed there)")
	case l.Details != nil && l.Details.KamalWaitsFor():
		return judgeByAge(l, o, where, "an automatic deploy lock")
	}
	kind := "a manual lock (kamal lock acquire -m)"
	if l.Details == nil {
		kind = "an unreadable lock (" + l.Problem + ")"
	}
	if !o.force {
		return unlockVerdict{refuse: exitcode.Newf(exitcode.Conflict, "lock %s on %s is %s, held by %s; not removed", l.Path, where, kind, shim.Holder(l, o.now)).
			WithHint("only its holder knows when it is done; to remove it anyway: %s", unlockAgain(o, l.Path, "--force"))}
	}
	return unlockVerdict{ask: true, what: kind, why: kind + ", removed with --force"}
}

// judgeByAge: younger than --older-than is refused; older is removed after a
// confirmation.
func judgeByAge(l lockfile.Lock, o unlockOptions, where, kind string) unlockVerdict {
	since := l.Since()
	age := o.now.Sub(since)
	if since.IsZero() || age < o.olderThan {
		ago := "of unknown age"
		if !since.IsZero() {
			ago = shim.Ago(age) + " old"
		}
		return unlockVerdict{refuse: exitcode.Newf(exitcode.Conflict, "lock %s on %s is %s, held by %s: %s, younger than --older-than %s; not removed", l.Path, where, kind, shim.Holder(l, o.now), ago, shim.Ago(o.olderThan)).
			WithHint("if you know its holder is gone: %s", unlockAgain(o, l.Path, "--older-than=0s"))}
	}
	why := fmt.Sprintf("%s, %s old, older than --older-than %s", kind, shim.Ago(age), shim.Ago(o.olderThan))
	return unlockVerdict{ask: true, what: why, why: why}
}

// unlockOne judges one lock, asks when it must, and removes it only if it is
// still the lock that was looked at, writing the audit line on the host.
func unlockOne(ctx context.Context, log zerolog.Logger, p Process, store lockfile.Unlocker, seen lockfile.Seen, o unlockOptions) error {
	where := store.Where()
	v := judgeUnlock(seen.Lock, o, where)
	if v.refuse != nil {
		return v.refuse
	}
	how := "no confirmation needed"
	if v.ask {
		q := fmt.Sprintf("lock %s on %s is %s, held by %s", seen.Path, where, v.what, shim.Holder(seen.Lock, o.now))
		switch {
		case o.yes:
			how = "--yes"
		case !isTerminal(p.Stdin):
			// Nothing was removed: say so first, then why (it could not ask).
			return exitcode.Newf(exitcode.Conflict, "%s; not removed: removing it needs a confirmation, and stdin is not a terminal to ask on", q).
				WithHint("to remove it without asking, add --yes: %s", unlockAgain(o, seen.Path, append([]string{"--yes"}, keptFlags(o)...)...))
		case !confirm(p, q+". Remove it?"):
			return exitcode.Newf(exitcode.Conflict, "lock %s on %s not removed: not confirmed", seen.Path, where)
		default:
			how = "confirmed on a terminal"
		}
	}
	text := fmt.Sprintf("hookshim unlock removed the deploy lock %s held by %s: %s; %s", seen.Path, auditHolder(seen.Lock), v.why, how)
	err := store.RemoveSeen(ctx, seen, lockfile.NewAudit(o.auditFile(seen.Lock), time.Now(), o.performer, o.destination, text))
	switch {
	case errors.Is(err, lockfile.ErrChanged):
		return exitcode.Newf(exitcode.Conflict, "lock %s on %s changed since it was looked at (now %s); not removed", seen.Path, where, nowHolder(ctx, store, seen.Path, o)).
			WithHint("to judge the lock that is there now, run again: %s", unlockAgain(o, seen.Path, keptFlags(o)...))
	case errors.Is(err, lockfile.ErrGone):
		_, err := fmt.Fprintln(p.Stdout, "There is no deploy lock")
		return err
	case errors.Is(err, lockfile.ErrAudit):
		log.Info().Msgf("released lock %s on %s (%s)", seen.Path, where, v.why)
		return exitcode.New(exitcode.IOErr, fmt.Errorf("the lock was removed, but its line could not be added to Kamal's audit log: %w", err))
	case err != nil:
		return unlockStoreError(store, seen.Path, "remove", err)
	}
	log.Info().Msgf("released lock %s on %s: %s; %s", seen.Path, where, v.why, how)
	return nil
}

// keptFlags are the --force and --older-than given (not in o.given): what
// judged the lock as it was judged.
func keptFlags(o unlockOptions) []string {
	var words []string
	if o.force {
		words = append(words, "--force")
	}
	if o.olderThanGiven {
		words = append(words, "--older-than="+o.olderThan.String())
	}
	return words
}

// unlockAgain is the shell command line that runs `hookshim unlock` on the
// lock at path with the flags that selected it (o.given: --root, --host,
// --service, --destination, --ssh-*, as given) and extra, so that pasting a
// hint acts on the lock it is about, not on another host's or layout's. When
// a word cannot be shown as it must be typed (shellWords), it says so in
// words instead.
func unlockAgain(o unlockOptions, path string, extra ...string) string {
	words := append(append(append([]string{"hookshim", "unlock"}, o.given...), extra...), path)
	if line, ok := shellWords(words); ok {
		return line
	}
	return fmt.Sprintf("hookshim unlock %s, with the same flags as this one", strings.Join(append(extra, path), " "))
}

// auditFile is the audit log the removal is written to: the service's (and
// destination's) when known, else named after the lock.
func (o unlockOptions) auditFile(l lockfile.Lock) string {
	if o.service != "" {
		return lockfile.AuditFile(o.service, o.destination)
	}
	return lockfile.AuditFile(l.Name, "")
}

// auditHolder names whose the lock was, on one line.
func auditHolder(l lockfile.Lock) string {
	if d := l.Details; d != nil {
		name := d.LockedBy
		if name == "" {
			name = `""` // git config user.name was unset
		}
		return fmt.Sprintf("%s since %s (version %s, message %q)", name, d.AtText, d.Version, d.Message)
	}
	return "an unknown holder (" + l.Problem + ")"
}

// nowHolder says who holds the lock at path now, after a refused removal.
func nowHolder(ctx context.Context, store lockfile.Unlocker, path string, o unlockOptions) string {
	seen, err := store.Look(ctx, path)
	switch {
	case err != nil:
		return "unreadable: " + err.Error()
	case !seen.State.IsHeld():
		return "free"
	}
	return "held by " + shim.Holder(seen.Lock, o.now)
}
