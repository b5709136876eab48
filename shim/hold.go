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
	r.decided(o, "taking it for the hook", note)
	t, held, err := r.take(ctx, s, o.Lock.Path)
	switch {
	case err != nil:
		return err
	case held != nil:
		// Someone was faster between our look and our mkdir: judge them afresh.
		return r.act(ctx, Classify(held.Lock, r.caller(s)))
	}
	return r.runHeld(ctx, s, t)
}

// taken is a hold that take made.
type taken struct {
	path, token string
	details     lockfile.Details
}

// take tries once to take the lock at p: it returns the hold, or who holds
// the lock (mkdir tells, in the same round trip), or an error. A take whose
// answer was lost in a failed connection is undone before the error returns.
func (r *Runner) take(ctx context.Context, s lockfile.Store, p string) (taken, *lockfile.HeldError, error) {
	token := lockfile.NewToken()
	h := lockfile.Hold{Hook: r.Hook, Token: token, User: r.User, Host: r.Hostname, PID: r.PID}
	if r.Stamp != nil {
		h.Stamp = r.Stamp()
	}
	d := lockfile.Details{LockedBy: r.GitUser(), At: r.Now().UTC().Truncate(time.Second), Version: r.holdVersion(), Message: h.Message()}
	err := s.Acquire(r.withHoldAudit(ctx, "took", p, token), p, d)
	var held *lockfile.HeldError
	switch {
	case err == nil:
		return taken{path: p, token: token, details: d}, nil, nil
	case errors.As(err, &held):
		return taken{}, held, nil
	}
	if rerr := s.Release(context.WithoutCancel(ctx), p, token); rerr == nil {
		r.Log.Warn().Msgf("%s: removed the lock taken just before the connection failed", r.Hook)
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

// runHeld runs the hook under a hold take made, and releases it however the
// hook ends.
func (r *Runner) runHeld(ctx context.Context, s lockfile.Store, t taken) error {
	l := lockfile.Lock{Path: t.path, Layout: r.Layouts[0], State: lockfile.Held, Details: &t.details}
	runErr := r.runSteps(ctx, Ownership{State: Ours, Reason: "held by hookshim for this hook", Lock: l}, t.token)
	relErr := r.release(s, t.path, t.token)
	switch {
	case relErr == nil:
		return runErr
	case runErr != nil:
		// The hook's own status passes through; the stuck lock is still told.
		r.Log.Error().Msg(relErr.Error())
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
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
		fmt.Sprintf("it is hookshim's hold %s; release it with: kamal lock release", token))
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
