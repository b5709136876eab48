package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// Run policies of a deferred job (Job.RunPolicy): under a hold on Kamal 2.6+
// (so no other deploy slips in between), else only once the lock is free.
const (
	RunPolicyHold   = "hold"
	RunPolicyStrict = "strict"
)

// Deferred is one run of `hookshim waiter`: the job it picks up and how to
// build its Runner.
type Deferred struct {
	StateDir string
	ID       string
	ReadyFD  int // where to say the job is picked up (ReadyFD), closed either way
	// Runner builds the Runner that runs the hook from the job's record
	// (Job.Settings: what the `hookshim run` that deferred it resolved). It
	// is called before the job is claimed, so that a waiter that cannot run
	// it leaves it to `hookshim run` to say so. RunDeferred takes the Runner
	// over for the job: it sets Policy, WaitManual, Kamal, Defer, Env, Wait
	// and Exec.BeforeStart.
	Runner func(Job) (*shim.Runner, error)
	// KamalLockSet is whether the calling Kamal set KAMAL_LOCK.
	KamalLockSet bool
	// ByHand is the command line that runs the hook by hand from repoDir,
	// for the hint of a job that expired.
	ByHand func(repoDir string) string
	// Report prints the job's final error into the job's log (the waiter's
	// stderr) and returns its exit status: exitcode.Report.
	Report func(error) int
}

// RunDeferred picks up job d.ID, waits for the lock that caused the deferral
// to be released (and for any lock taken after it, until the job's
// deadline), then runs the hook with the environment the waiter was started
// with: under a hold on Kamal 2.6+, else once the lock is free. It records
// the outcome; its error carries the job's exit status, already reported.
func RunDeferred(ctx context.Context, d Deferred) error {
	r, err := runnerFor(d)
	if err != nil {
		return err
	}
	cl, err := claimForWaiter(ctx, d)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := Ready(d.ReadyFD); err != nil {
		r.Log.Warn().Msgf("job %s: telling hookshim run that the job is picked up: %v", d.ID, err)
	}
	j := cl.Job
	prepareRunner(r, j, d.KamalLockSet)
	var started atomic.Bool
	var startedAt time.Time
	r.Exec.BeforeStart = func() error {
		at := time.Now().UTC()
		if err := cl.Update(func(j *Job) { j.State, j.Started = Running, &at }); err != nil {
			return fmt.Errorf("job %s: cannot record that the hook starts: %w", j.ID, err)
		}
		startedAt = at
		started.Store(true)
		r.Log.Info().Msgf("job %s: %s started at %s", j.ID, j.Hook, at.Format(lockfile.TimeLayout))
		return nil
	}
	runErr, expired := runUntilDeadline(ctx, r, j, &started)
	ended := time.Now().UTC()
	o := outcome(j, runErr, expired, started.Load(), d.ByHand)
	from := logSize(j)
	if err := cl.Update(func(j *Job) {
		j.State, j.ExitStatus, j.Ended, j.Error = o.final, &o.status, &ended, o.msg
		if o.started {
			j.Started = &startedAt
		}
		j.ReportFrom = from
	}); err != nil {
		d.Report(fmt.Errorf("job %s: recording its end: %w", j.ID, err))
	}
	// Said into the log after the record, before the job's lock is released:
	// whoever follows the job learns its end from that release, so sees it
	// all; the record's ReportFrom tells `hookshim wait` where this starts.
	o.log(r, j, startedAt, ended)
	if o.err != nil {
		o.err = exitcode.Status(d.Report(o.err))
	}
	return o.err
}

// logSize is the size of the job's log now, or nil when it cannot be told.
func logSize(j Job) *int64 {
	fi, err := os.Lstat(j.LogPath())
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	n := fi.Size()
	return &n
}

// runnerFor reads the job's record and builds its Runner (Deferred.Runner),
// or closes the readiness descriptor and says why the hook is not run.
func runnerFor(d Deferred) (*shim.Runner, error) {
	j, err := Load(d.StateDir, d.ID)
	if err != nil {
		CloseReadyFD(d.ReadyFD)
		return nil, notRun(err)
	}
	r, err := d.Runner(j)
	if err != nil {
		CloseReadyFD(d.ReadyFD)
		return nil, err
	}
	return r, nil
}

// claimForWaiter claims the job, or closes the readiness descriptor and says
// why the hook is not run, with the exit status for it.
func claimForWaiter(ctx context.Context, d Deferred) (*Claimed, error) {
	cl, err := Claim(ctx, d.StateDir, d.ID, os.Getpid())
	if err == nil {
		return cl, nil
	}
	CloseReadyFD(d.ReadyFD)
	return nil, notRun(err)
}

// notRun is a job that cannot be read or claimed, with its exit status.
func notRun(err error) error {
	var ce *CorruptError
	var ue *UnsafeError
	switch {
	case errors.As(err, &ue):
		return exitcode.New(exitcode.NoPerm, err, "the hook was not run")
	case errors.As(err, &ce):
		return exitcode.New(exitcode.DataErr, err, "the hook was not run")
	case errors.Is(err, ErrNotStarting), errors.Is(err, ErrTaken):
		return exitcode.New(exitcode.Conflict, err, "the hook is not run again by this waiter")
	case errors.Is(err, ErrNotFound):
		return exitcode.New(exitcode.NoInput, err)
	}
	return exitcode.New(exitcode.IOErr, err)
}

// prepareRunner turns the Runner of the run that deferred the hook into the
// job's: its run policy, and no proof that the lock is ours.
func prepareRunner(r *shim.Runner, j Job, kamalLockSet bool) {
	how := "once nobody holds it (Kamal < 2.6)"
	r.DeferredFrom = r.Policy
	if h := j.Holder; h != nil {
		r.DeferredFor = &lockfile.Details{LockedBy: h.LockedBy, Version: h.Version, Message: h.Message, At: h.Since}
	}
	r.Policy = shim.Strict
	// A deferred hook waits for the lock whatever kind it is: deferring was
	// the decision to run once it is released, a manual lock included.
	r.WaitManual = true
	if j.RunPolicy == RunPolicyHold {
		how = "under a hold, so no other deploy slips in (Kamal 2.6+)"
		r.Policy = shim.Hold
	}
	if !r.Kamal.Under {
		// Deferred by hand: no Kamal, so no Kamal version to name.
		how, _, _ = strings.Cut(how, " (Kamal")
	}
	r.Log.Info().Msgf("job %s: %s deferred at %s (%s); waiting for lock %s on %s to be released, until %s; then running it %s",
		j.ID, j.Hook, j.Created.Format(time.RFC3339), j.Reason, j.Lock.Path, j.Lock.Host, j.Deadline.Format(time.RFC3339), how)

	// The proofs that the lock was ours belonged to the Kamal run that
	// deferred the hook, which has ended or is about to: its lock is now
	// someone else's, to be waited for.
	// For Kamal 2.6+ that is KAMAL_LOCK=false; for older Kamal, no proof
	// from the Kamal run applies.
	r.Kamal.Command, r.Kamal.Token = "", ""
	if r.Kamal.HonoursKamalLock() {
		r.Kamal.Lock = "false"
	} else {
		r.Kamal.Under = false
	}
	r.Defer = nil
	if kamalLockSet {
		// What is true when the hook runs: true under the hold (set by the
		// Runner), false otherwise.
		r.Env = append(shim.WithoutEnv(r.Env, "KAMAL_LOCK"), "KAMAL_LOCK=false")
	}
}

// runUntilDeadline runs the hook, waiting for the lock until the job's
// deadline, and trying again while the host cannot be reached for the first
// look. expired is true when the lock was still held at the deadline.
func runUntilDeadline(ctx context.Context, r *shim.Runner, j Job, started *atomic.Bool) (runErr error, expired bool) {
	for {
		left := time.Until(j.Deadline)
		if left <= 0 {
			return runErr, true
		}
		if left > time.Second {
			left = left.Truncate(time.Second)
		}
		r.Wait = left
		runErr = r.Run(ctx)
		if runErr == nil || started.Load() {
			return runErr, false
		}
		code := exitcode.Code(runErr)
		if code == r.ConflictExitCode {
			return runErr, true
		}
		if code != exitcode.Unavailable || time.Until(j.Deadline) <= 0 {
			return runErr, false
		}
		// The host could not be reached for the first look: try again until
		// the deadline.
		poll := max(r.Poll, 100*time.Millisecond)
		r.Log.Warn().Msgf("job %s: %v; trying again in %s", j.ID, runErr, poll)
		t := time.NewTimer(min(poll, time.Until(j.Deadline)))
		select {
		case <-t.C:
		case sig := <-r.Exec.Signals:
			t.Stop()
			return exitcode.Newf(exitcode.SignalBase+signalNumber(sig), "job %s: interrupted by %s while waiting for the lock; the hook was not run", j.ID, shim.SignalName(sig)), false
		}
	}
}

// jobOutcome is how a job ended: the state and status recorded, the message
// for the record, and the error the waiter exits with.
type jobOutcome struct {
	final   State
	status  int
	msg     string
	err     error
	started bool
}

func outcome(j Job, runErr error, expired, started bool, byHand func(string) string) jobOutcome {
	o := jobOutcome{err: runErr, started: started}
	switch {
	case expired:
		o.final, o.status = Expired, exitcode.Conflict
		o.msg = fmt.Sprintf("lock %s on %s was still held at the deadline, %s after the hook was deferred (--defer-timeout); the hook was not run",
			j.Lock.Path, j.Lock.Host, j.Deadline.Sub(j.Created).Round(time.Millisecond))
		o.err = exitcode.Newf(exitcode.Conflict, "job %s (%s) expired: %s", j.ID, j.Hook, o.msg).
			WithHint("run it by hand once the lock is free: %s", byHand(j.RepoDir))
	case runErr == nil:
		o.final = Succeeded
		if !started {
			o.msg = "nothing was run (no hook scripts, or the hook was already running in an enclosing hookshim)"
		}
	case started:
		o.final, o.status = Failed, exitcode.Code(runErr)
	default:
		o.final, o.status = Failed, exitcode.Code(runErr)
		o.msg = "the hook was not run: " + runErr.Error()
	}
	return o
}

// log says in the job's log how the hook ended.
func (o jobOutcome) log(r *shim.Runner, j Job, startedAt, ended time.Time) {
	took := Took(ended.Sub(startedAt))
	switch {
	case o.final == Succeeded && o.started:
		r.Log.Info().Msgf("job %s: %s succeeded at %s, took %s", j.ID, j.Hook, ended.Format(lockfile.TimeLayout), took)
	case o.final == Failed && o.started:
		r.Log.Info().Msgf("job %s: %s failed with exit status %d at %s, took %s", j.ID, j.Hook, o.status, ended.Format(lockfile.TimeLayout), took)
	case o.msg != "" && o.final != Expired:
		r.Log.Info().Msgf("job %s: %s %s: %s", j.ID, j.Hook, o.final, o.msg)
	}
}

func signalNumber(s os.Signal) int {
	if ss, ok := s.(syscall.Signal); ok {
		return int(ss)
	}
	return 0
}
