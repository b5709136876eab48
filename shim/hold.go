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
	token := lockfile.NewToken()
	h := lockfile.Hold{Hook: r.Hook, Token: token, User: r.User, Host: r.Hostname, PID: r.PID}
	d := lockfile.Details{LockedBy: r.GitUser(), At: r.Now().UTC().Truncate(time.Second), Version: r.Kamal.Version, Message: h.Message()}
	p := o.Lock.Path
	note := ""
	if r.Kamal.Under && !r.Kamal.HonoursKamalLock() {
		note = "Kamal < 2.6 ignores KAMAL_LOCK, so kamal commands inside the hook will find this lock"
	}
	r.decided(o, "taking it for the hook", note)
	if err := s.Acquire(ctx, p, d); err != nil {
		var held *lockfile.HeldError
		if errors.As(err, &held) {
			// Someone was faster between our look and our mkdir: judge them afresh.
			return r.act(ctx, Classify(held.Lock, r.Kamal, r.Hook, r.GitUser))
		}
		// The mkdir may have happened even though its answer was lost: clean up.
		if rerr := s.Release(context.WithoutCancel(ctx), p, token); rerr == nil {
			r.Log.Warn().Msgf("%s: removed the lock taken just before the connection failed", r.Hook)
		}
		return r.lockError(s, "take", err)
	}
	l := lockfile.Lock{Path: p, Layout: r.TakeLayout, State: lockfile.Held, Details: &d}
	runErr := r.runSteps(ctx, Ownership{State: Ours, Reason: "held by hookshim for this hook", Lock: l}, token)
	relErr := r.release(s, p, token)
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
		err = s.Release(ctx, p, token)
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
