package shim

import (
	"context"
	"fmt"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// wait polls the lock until it is free (or ours), then acts by policy; it gives
// up with a refusal at the --wait deadline. Polls go over one multiplexed SSH
// connection, so each costs a round trip, not a handshake.
func (r *Runner) wait(ctx context.Context, o Ownership) error {
	if r.Wait <= 0 {
		r.decided(o, "refusing", "")
		return r.conflict(o, "")
	}
	if refused := r.refuseManual(o); refused != nil {
		return refused
	}
	if r.waitUntil.IsZero() {
		r.waitUntil = r.Now().Add(r.Wait)
		r.lastBeat = r.Now()
		r.decided(o, fmt.Sprintf("waiting up to %s for it", r.Wait), "")
	}
	s := r.session(ctx)
	poll := r.Poll
	if poll <= 0 {
		poll = time.Second
	}
	last := o
	// A hold waiting on the very path it would take tries to take it at each
	// look (takeWhileWaiting). Elsewhere (a lock of another layout, or no
	// hold) it looks (lookWhileWaiting).
	direct := r.Policy == Hold && o.Lock.Path == r.Spec.Path(r.Layouts[0])
	for {
		left := r.waitUntil.Sub(r.Now())
		if left <= 0 {
			return r.conflict(last, "")
		}
		wake, stop := r.nextLook(ctx, last.Lock.Path, min(poll, left), min(left, r.heartbeat()))
		select {
		case <-ctx.Done():
			stop()
			return exitcode.New(exitcode.Conflict, fmt.Errorf("%s: stopped waiting for the lock: %w", r.Hook, ctx.Err()))
		case sig := <-r.Exec.Signals:
			stop()
			return exitcode.Newf(exitcode.SignalBase+signum(sig), "%s: interrupted by %s while waiting for the lock; nothing was run", r.Hook, SignalName(sig))
		case <-wake:
		}
		stop()
		look := r.lookWhileWaiting
		if direct {
			look = r.takeWhileWaiting
		}
		now, finished, err := look(ctx, &s, last)
		if finished {
			return err
		}
		last = now
	}
}

// takeWhileWaiting is one look of a hold waiting on the very path it would
// take: mkdir is the test-and-set, so one round trip takes the lock (and runs
// the hook: finished) or says who still holds it (now). A failed round trip
// redials *s and reports the lock as it was (last).
func (r *Runner) takeWhileWaiting(ctx context.Context, s *lockfile.Store, last Ownership) (now Ownership, finished bool, err error) {
	t, held, err := r.take(ctx, *s, last.Lock.Path)
	switch {
	case err != nil:
		r.Log.Warn().Msgf("%s: %v; retrying", r.Hook, err)
		*s = r.redial(*s)
		return last, false, nil
	case held == nil:
		r.Log.Info().Msgf("%s: lock %s on %s was released; took it for the hook (%s)", r.Hook, t.path, (*s).Where(), r.policyNote())
		return last, true, r.runHeld(ctx, t)
	}
	now = r.classify(held.Lock, *s)
	if now.State == Ours {
		return now, true, r.act(ctx, now)
	}
	return r.stillHeld(now, last)
}

// lookWhileWaiting is one look at the lock during a wait: free or ours acts
// (finished); still held reports it (now). A dropped connection is retried
// until the deadline: the lock is unknown, not free.
func (r *Runner) lookWhileWaiting(ctx context.Context, s *lockfile.Store, last Ownership) (now Ownership, finished bool, err error) {
	err = r.interruptible(ctx, "waiting for the lock", func(ctx context.Context) error {
		var err error
		now, err = r.observe(ctx, *s)
		return err
	})
	if exitcode.Code(err) > exitcode.SignalBase {
		return last, true, err
	}
	if err != nil {
		r.Log.Warn().Msgf("%s: %v; retrying", r.Hook, err)
		*s = r.redial(*s)
		return last, false, nil
	}
	if now.State == Free || now.State == Ours {
		return now, true, r.act(ctx, now)
	}
	return r.stillHeld(now, last)
}

// stillHeld logs a lock that is still held (when it changed) and refuses a
// manual one unless the run waits for manual locks.
func (r *Runner) stillHeld(now, last Ownership) (Ownership, bool, error) {
	r.logStillHeld(now, last)
	if refused := r.refuseManual(now); refused != nil {
		return now, true, refused
	}
	return now, false, nil
}

// refuseManual refuses to wait for a manual lock (`kamal lock acquire -m`),
// as Kamal 2.12's --lock-wait does (lib/kamal/cli/base.rb,
// acquire_lock_with_wait): a person took it for a reason and will release it
// by hand, so an unattended wait would only time out. --wait-manual waits
// anyway. nil means go on waiting.
func (r *Runner) refuseManual(o Ownership) error {
	if !isManual(o.Lock) || r.WaitManual {
		return nil
	}
	why := "it is a manual lock, and hookshim, like Kamal's --lock-wait, does not wait for one"
	r.decided(o, "refusing", why)
	return r.conflict(o, why)
}

// DefaultHeartbeat is how often a wait says it is still waiting when
// Heartbeat is 0: a CI log that stops for minutes without a word reads as a
// hang.
const DefaultHeartbeat = 30 * time.Second

func (r *Runner) heartbeat() time.Duration {
	if r.Heartbeat > 0 {
		return r.Heartbeat
	}
	return DefaultHeartbeat
}

// logStillHeld notes each look at a lock still held, says so when its holder
// changed, and at least every heartbeat says who still holds it and how long
// the wait has left.
func (r *Runner) logStillHeld(now, last Ownership) {
	r.Log.Debug().Msgf("%s: lock %s still held", r.Hook, now.Lock.Path)
	if holderKey(now.Lock) != holderKey(last.Lock) {
		r.Log.Info().Msgf("%s: lock %s is now held by %s", r.Hook, now.Lock.Path, holder(now.Lock, r.Now()))
		r.lastBeat = r.Now()
		return
	}
	if t := r.Now(); t.Sub(r.lastBeat) >= r.heartbeat() {
		r.lastBeat = t
		r.Log.Info().Msgf("%s: still waiting: lock %s on %s is held by %s; %s left of %s",
			r.Hook, now.Lock.Path, r.Store.Where(), holder(now.Lock, t), Ago(r.waitUntil.Sub(t)), r.Wait)
	}
}

// nextLook returns a channel that fires when it is time to look at the lock
// again: when Watch reports the lock directory gone (bounded by left, which is
// at most a heartbeat, so that a long watch still says it waits), or after
// poll when there is no Watch or it failed. stop releases what it started.
func (r *Runner) nextLook(ctx context.Context, path string, poll, left time.Duration) (<-chan struct{}, func()) {
	wake := make(chan struct{})
	if r.Watch == nil || r.watchFailed.Load() {
		t := time.AfterFunc(poll, func() { close(wake) })
		return wake, func() { t.Stop() }
	}
	wctx, cancel := context.WithTimeout(ctx, left)
	go func() {
		defer close(wake)
		if err := r.Watch(wctx, path); err != nil && wctx.Err() == nil {
			r.Log.Info().Msgf("%s: cannot watch the lock (%v); polling every %s instead", r.Hook, err, poll)
			r.watchFailed.Store(true)
		}
	}()
	return wake, cancel
}

func holderKey(l lockfile.Lock) string {
	if l.Details == nil {
		return string(l.State) + l.Path
	}
	return l.Path + "\x00" + l.Details.Text()
}

// session returns the store for repeated use: one multiplexed connection when
// Dial is set, opened once per run.
func (r *Runner) session(ctx context.Context) lockfile.Store {
	if r.sess != nil {
		return r.sess
	}
	if r.Dial == nil {
		return r.Store
	}
	dctx, cancel := context.WithTimeout(ctx, r.stepTimeout())
	defer cancel()
	s, c, err := r.Dial(dctx)
	if err != nil {
		r.Log.Debug().Err(err).Msg("multiplexed connection failed; using one SSH connection per look")
		return r.Store
	}
	r.sess, r.closer = s, c
	return s
}

// redial drops a broken multiplexed connection so the next look opens a new
// one, and returns the store to use from now on: s may be a connection that
// was replaced already (a settled take redials too).
func (r *Runner) redial(s lockfile.Store) lockfile.Store {
	if r.Dial == nil {
		return s
	}
	if r.sess != nil && s == r.sess {
		r.closeSession()
	}
	return r.session(context.Background())
}

func (r *Runner) closeSession() {
	if r.closer != nil {
		_ = r.closer.Close()
	}
	r.sess, r.closer = nil, nil
}
