package shim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// releaseTries bounds how often a release is retried across a network blip;
// leaving a lock behind blocks every later deploy, so it is worth a few seconds.
const releaseTries = 4

// hold takes the lock the Kamal way, runs the hook with the hold's identity,
// and releases the lock however the hook ends.
func (r *Runner) hold(ctx context.Context, o Ownership) error {
	s := r.session(ctx)
	note := ""
	if r.Kamal.Under && !r.Kamal.HonoursKamalLock() {
		note = "Kamal < 2.6 ignores KAMAL_LOCK, so kamal commands inside the hook will find this lock"
	}
	t, held, err := r.take(ctx, s, o.Lock.Path)
	switch {
	case err != nil:
		return err
	case held != nil:
		// Someone was faster between our look and our mkdir: judge them afresh
		// (the line then says who holds it, never that we took it).
		return r.act(ctx, r.classify(held.Lock, s))
	}
	// Said only once the mkdir won: concurrent holds that all saw it free
	// must not all claim to take it.
	r.decided(o, "took it for the hook", note)
	return r.runHeld(ctx, t)
}

// taken is a hold that take made (or found after a take whose answer was
// lost), and the store it lives on.
type taken struct {
	store       lockfile.Store
	path, token string
	details     lockfile.Details
}

// take tries once to take the lock at p: it returns the hold, or who holds
// the lock (mkdir tells, in the same round trip), or an error. A take whose
// answer was lost (a failed connection, a deadline) is settled over a fresh
// connection before the error returns: a lock with its token is ours.
func (r *Runner) take(ctx context.Context, s lockfile.Store, p string) (taken, *lockfile.HeldError, error) {
	token := lockfile.NewToken()
	h := lockfile.Hold{Hook: r.Hook, Token: token, User: r.User, Host: r.Hostname, PID: r.PID}
	if r.Stamp != nil {
		h.Stamp = r.Stamp()
	}
	d := lockfile.Details{LockedBy: r.GitUser(), At: r.Now().UTC().Truncate(time.Second), Version: r.holdVersion(), Message: h.Message()}
	// Not ended by a signal: a take cut off half-way would leave a lock that
	// only settleTake could find again. A signal is seen before the hook starts.
	actx, cancel := context.WithTimeout(r.withHoldAudit(ctx, "took", p, token), r.stepTimeout())
	err := s.Acquire(actx, p, d)
	cancel()
	var held *lockfile.HeldError
	switch {
	case err == nil:
		return taken{store: s, path: p, token: token, details: d}, nil, nil
	case errors.As(err, &held):
		if t, ok := r.ownLeftover(s, held.Lock); ok {
			return t, nil, nil
		}
		return taken{}, held, nil
	}
	r.Log.Warn().Msgf("%s: taking lock %s on %s failed (%v); looking over a fresh connection whether the lock is now hookshim's own hold %s", r.Hook, p, s.Where(), err, token)
	if t, ok := r.settleTake(s, p, token); ok {
		return t, nil, nil
	}
	return taken{}, nil, r.lockError(s, "take", err)
}

// holdVersion is the Version: a hold writes: KAMAL_VERSION, else what Kamal
// itself would deploy from this repository.
func (r *Runner) holdVersion() string {
	if r.Kamal.Version != "" || r.Revision == nil {
		return r.Kamal.Version
	}
	return r.Revision()
}

// undoFor bounds how long a take whose answer was lost is looked into: the
// host's shell goes on after the connection dropped and writes the details
// within moments, so a lock without details may still become ours.
const undoFor = 15 * time.Second

// settleTake finds out, over a fresh connection, what a take whose answer was
// lost left at p. A lock with the take's token is ours and is used. When the
// host cannot tell, it says so plainly (the lock, the host, the token and the
// command that removes it) and remembers the token, so that a later look that
// finds it uses it instead of waiting for it.
func (r *Runner) settleTake(s lockfile.Store, p, token string) (taken, bool) {
	if r.lostTokens == nil {
		r.lostTokens = map[string]bool{}
	}
	r.lostTokens[token] = true
	deadline := time.Now().Add(undoFor)
	pause := 100 * time.Millisecond
	for {
		s = r.redial(s)
		ctx, cancel := context.WithTimeout(context.Background(), r.stepTimeout())
		ls, err := s.Read(ctx, p)
		cancel()
		if err == nil && len(ls) == 1 {
			if t, ok := r.ownLeftover(s, ls[0]); ok {
				return t, true
			}
			if ls[0].State != lockfile.NoDetails {
				// Free, or someone else's: nothing of ours is there.
				delete(r.lostTokens, token)
				return taken{}, false
			}
		}
		if time.Now().Add(pause).After(deadline) {
			break
		}
		time.Sleep(pause) // back off across a network blip
		pause = min(2*pause, 2*time.Second)
	}
	r.report(exitcode.Newf(exitcode.Unavailable, "%s: the answer to taking lock %s on %s was lost, and the host could not say whether it now holds hookshim's hold %s", r.Hook, p, s.Where(), token).
		WithHint("if `hookshim locks` shows that hold, remove it with: %s", s.RemoveCommand(p)))
	return taken{}, false
}

// ownLeftover uses a lock that a take of this run made but never heard back
// from: it is ours, never one to wait for.
func (r *Runner) ownLeftover(s lockfile.Store, l lockfile.Lock) (taken, bool) {
	h, ok := l.Hold()
	if !ok || !r.lostTokens[h.Token] || !l.State.IsHeld() || l.Details == nil {
		return taken{}, false
	}
	delete(r.lostTokens, h.Token)
	r.Log.Warn().Msgf("%s: took its own lock %s on %s (hookshim hold %s): the take made it, but its answer was lost; running the hook under it", r.Hook, l.Path, s.Where(), h.Token)
	return taken{store: s, path: l.Path, token: h.Token, details: *l.Details}, true
}

// runHeld runs the hook under a hold take made, and releases it however the
// hook ends.
func (r *Runner) runHeld(ctx context.Context, t taken) error {
	l := lockfile.Lock{Path: t.path, Layout: r.Layouts[0], State: lockfile.Held, Details: &t.details}
	runErr := r.runSteps(ctx, Ownership{State: Ours, Reason: "held by hookshim for this hook", Lock: l}, t.token)
	relErr := r.release(t.store, t.path, t.token)
	switch {
	case relErr == nil:
		return runErr
	case runErr != nil:
		// The hook's own status passes through; the stuck lock is still told,
		// with the command that removes it.
		r.report(relErr)
		return runErr
	}
	return relErr
}

// release removes the hold, retrying across a dropped connection. A lock that
// is no longer ours is left alone, with a warning naming who has it now.
func (r *Runner) release(s lockfile.Store, p, token string) error {
	var err error
	for i := range releaseTries {
		// Released even when the run was interrupted: never tie it to ctx.
		ctx, cancel := context.WithTimeout(context.Background(), r.stepTimeout())
		err = s.Release(r.withHoldAudit(ctx, "released", p, token), p, token)
		cancel()
		switch {
		case err == nil:
			r.Log.Info().Msgf("%s: released lock %s on %s", r.Hook, p, s.Where())
			return nil
		case errors.Is(err, lockfile.ErrNotOurs):
			r.Log.Warn().Msgf("%s: lock %s on %s was taken over while the hook ran (%s); left it alone", r.Hook, p, s.Where(), r.currentHolder(s, p))
			return nil
		case errors.Is(err, lockfile.ErrGone):
			r.Log.Warn().Msgf("%s: lock %s on %s was removed by someone else while the hook ran", r.Hook, p, s.Where())
			return nil
		}
		if i < releaseTries-1 {
			time.Sleep(time.Duration(250<<i) * time.Millisecond) // back off across a network blip
			s = r.redial(s)
		}
	}
	return exitcode.New(exitcode.Unavailable, fmt.Errorf("%s: could not release lock %s on %s: %w", r.Hook, p, s.Where(), err),
		fmt.Sprintf("it is hookshim's hold %s; remove it with: %s", token, s.RemoveCommand(p)))
}

func (r *Runner) currentHolder(s lockfile.Store, p string) string {
	ls, err := s.Read(context.Background(), p)
	if err != nil || len(ls) == 0 {
		return "holder unknown"
	}
	if !ls[0].State.IsHeld() {
		return "now free"
	}
	return "now held by " + holder(ls[0], r.Now())
}

// report says err, which does not decide the exit status, through Report.
func (r *Runner) report(err error) {
	if r.Report != nil {
		r.Report(err)
		return
	}
	r.Log.Error().Msg(err.Error())
}
