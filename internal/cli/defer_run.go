package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/termsafe"
	"github.com/hookshim/hookshim/jobs"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// defaultDeferTimeout bounds how long a deferred hook waits for the lock.
const defaultDeferTimeout = 30 * time.Minute

// setupDefer wires deferred hooks into a `hookshim run` Runner: Defer records
// a job, with o, and starts its waiter (`hookshim waiter`, which runs the job
// through jobs.RunDeferred).
func setupDefer(p Process, o runOptions, r *shim.Runner) error {
	timeout, err := o.DeferTimeout.duration()
	if err != nil {
		return err
	}
	if timeout <= 0 {
		what := fmt.Sprintf("--defer-timeout %s", timeout)
		if o.DeferTimeout.Env != "" {
			what = given(o.DeferTimeout.Env, "", o.DeferTimeout.Value)
		}
		return exitcode.Newf(exitcode.Usage, "%s is not a positive duration", what).
			WithHint("use a duration such as 30m")
	}
	opts := o
	r.Defer = func(ctx context.Context, o shim.Ownership, why string) error {
		return deferHook(p, opts, r, o, why, timeout)
	}
	return nil
}

// stateDir is where deferred jobs are kept: given (--state-dir),
// HOOKSHIM_STATE_DIR, $XDG_STATE_HOME/hookshim, else
// ~/.local/state/hookshim; always absolute.
func stateDir(p Process, given string) (string, error) {
	dir := ""
	switch {
	case given != "":
		dir = given
	case p.Getenv("HOOKSHIM_STATE_DIR") != "":
		dir = p.Getenv("HOOKSHIM_STATE_DIR")
	case filepath.IsAbs(p.Getenv("XDG_STATE_HOME")):
		dir = filepath.Join(p.Getenv("XDG_STATE_HOME"), "hookshim")
	case p.Getenv("HOME") != "":
		dir = filepath.Join(p.Getenv("HOME"), ".local", "state", "hookshim")
	default:
		return "", exitcode.Newf(exitcode.CantCreate, "cannot tell where to keep deferred hooks: neither XDG_STATE_HOME nor HOME is set").
			WithHint("pass --state-dir DIR or set HOOKSHIM_STATE_DIR")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(workDir(p), dir)
	}
	return filepath.Clean(dir), nil
}

// deferHook records the job, starts its waiter and returns at once. When the
// job cannot be recorded or the waiter does not come up, it refuses with a
// non-zero status and says the hook was not run: a hook is never dropped
// silently.
func deferHook(p Process, opts runOptions, r *shim.Runner, o shim.Ownership, why string, timeout time.Duration) error {
	dir, err := stateDir(p, opts.StateDir)
	if err != nil {
		return notDeferred(p, opts, err)
	}
	exe, err := executable()
	if err != nil {
		return notDeferred(p, opts, exitcode.New(exitcode.Software, fmt.Errorf("cannot find hookshim's own executable to start the waiter: %w", err)))
	}
	settings, err := storeRun(opts)
	if err != nil {
		return notDeferred(p, opts, exitcode.New(exitcode.Software, err))
	}
	now := time.Now().UTC()
	runPolicy := jobs.RunPolicyStrict
	if r.Kamal.HonoursKamalLock() {
		runPolicy = jobs.RunPolicyHold
	}
	reason := o.Reason
	if why != "" {
		reason += "; " + why
	}
	j := jobs.Job{
		Hook:        r.Hook,
		Command:     opts.Command,
		RepoDir:     workDir(p),
		Service:     r.Spec.Service,
		Destination: r.Spec.Destination,
		Lock:        jobs.LockRef{Host: r.Store.Where(), Path: o.Lock.Path},
		Policy:      string(r.Policy),
		RunPolicy:   runPolicy,
		Reason:      reason,
		Created:     now,
		Deadline:    now.Add(timeout),
		Settings:    settings,
	}
	if d := o.Lock.Details; d != nil {
		j.Holder = &jobs.Holder{LockedBy: d.LockedBy, Version: d.Version, Message: d.Message, Since: o.Lock.Since()}
	}
	j, err = jobs.Create(dir, j)
	if err != nil {
		code := exitcode.CantCreate
		switch {
		case isIOError(err):
			code = exitcode.IOErr
		case isUnsafe(err):
			code = exitcode.NoPerm
		}
		return notDeferred(p, opts, exitcode.New(code, fmt.Errorf("cannot record the deferred job in %s: %w", dir, err)).
			WithHint("give hookshim a writable state directory: --state-dir DIR or HOOKSHIM_STATE_DIR"))
	}
	w := jobs.Waiter{
		Path: exe,
		Args: []string{"hookshim", waiterName, "--job", j.ID, "--ready-fd", strconv.Itoa(jobs.ReadyFD), "--state-dir", dir},
		Env:  append(shim.WithoutEnv(p.Env, "HOOKSHIM_JOB"), "HOOKSHIM_JOB="+j.ID),
		Dir:  workDir(p),
	}
	pid, err := jobs.StartWaiter(j, w, jobs.StartTimeout)
	if err != nil {
		abandoned, aerr := jobs.Abandon(dir, j.ID, "the waiter did not start: "+err.Error())
		if abandoned || aerr != nil {
			return notDeferred(p, opts, exitcode.New(exitcode.CantCreate, fmt.Errorf("job %s: %w", j.ID, err)).
				WithHint("its log: %s", j.LogPath()))
		}
		// The waiter holds the job after all: it only answered late.
		r.Log.Warn().Msgf("%s: job %s: %v; it has picked the job up since", r.Hook, j.ID, err)
	}
	pruneJobs(p, r, dir)
	r.Log.Info().Msgf("%s: deferred as job %s (waiter pid %d): it runs once lock %s on %s is released, within %s; log: %s",
		r.Hook, j.ID, pid, o.Lock.Path, r.Store.Where(), timeout, j.LogPath())
	r.Log.Info().Msgf("%s: to wait for it and get its exit status: hookshim wait (or: hookshim wait %s)", r.Hook, j.ID)
	return nil
}

// jobsKeep is how long finished jobs are kept after they ended:
// HOOKSHIM_JOBS_KEEP (a Go duration such as 168h; 0 keeps them forever),
// else jobs.DefaultKeep (7 days).
func jobsKeep(p Process) (time.Duration, error) {
	v := p.Getenv("HOOKSHIM_JOBS_KEEP")
	if v == "" {
		return jobs.DefaultKeep, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("HOOKSHIM_JOBS_KEEP=%q is not a duration such as 168h (0 keeps finished jobs forever)", v)
	}
	return d, nil
}

// pruneJobs removes, once a job is recorded, the jobs in dir that ended
// longer than jobsKeep ago, so the state dir does not grow with every deploy.
// It never fails the hook: what goes wrong is logged (at debug level, or a
// warning for a HOOKSHIM_JOBS_KEEP that is not a duration, which keeps
// every job).
func pruneJobs(p Process, r *shim.Runner, dir string) {
	keep, err := jobsKeep(p)
	if err != nil {
		r.Log.Warn().Msgf("%v; keeping every finished job", err)
		return
	}
	res := jobs.Prune(dir, keep, time.Now())
	for _, err := range res.Errors {
		r.Log.Debug().Msgf("removing old jobs: %v", err)
	}
	if len(res.Removed) > 0 {
		r.Log.Debug().Msgf("removed %d jobs that ended more than %s ago: %s", len(res.Removed), jobs.Took(keep), strings.Join(res.Removed, " "))
	}
}

// notDeferred is the refusal when a hook could not be deferred: it says the
// hook was not run, and how to run it by hand.
func notDeferred(p Process, o runOptions, err error) error {
	var e *exitcode.Error
	if !errors.As(err, &e) {
		e = exitcode.New(exitcode.CantCreate, err)
	}
	return exitcode.New(e.Code, fmt.Errorf("%s was NOT run and could not be deferred: %w", o.Hook, err)).
		WithHint("run it by hand once the deploy has released the lock: %s", byHand(o, workDir(p)))
}

// byHand is the command line that runs the hook again as o says, from dir,
// or, when it cannot be shown safely, words that say so.
func byHand(o runOptions, dir string) string {
	if line := runAgain(o, dir, "", ""); line != "" {
		return line
	}
	return "the same hookshim run command, from " + termsafe.Clean(dir)
}

// isIOError tells a full or failing disk from a directory that cannot be made.
func isIOError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// lockWatch is the Runner's Watch: fsnotify here for a lock under --root,
// `hookshim watch` on the host over the runner's multiplexed connection for a
// remote one.
func lockWatch(r *shim.Runner) func(ctx context.Context, path string) error {
	switch s := r.Store.(type) {
	case lockfile.Local:
		return func(ctx context.Context, p string) error {
			if !filepath.IsAbs(p) {
				p = filepath.Join(s.Root, filepath.FromSlash(p))
			}
			return jobs.WaitGone(ctx, p)
		}
	case lockfile.Remote:
		var mu sync.Mutex
		var conn jobs.Runner
		if dial := r.Dial; dial != nil {
			r.Dial = func(ctx context.Context) (lockfile.Store, io.Closer, error) {
				st, cl, err := dial(ctx)
				if rs, ok := st.(lockfile.Remote); ok && err == nil {
					mu.Lock()
					conn = rs.Runner
					mu.Unlock()
				}
				return st, cl, err
			}
		}
		return jobs.RemoteWatch(s.Host, func() jobs.Runner {
			mu.Lock()
			defer mu.Unlock()
			if conn != nil {
				return conn
			}
			return s.Runner
		})
	}
	return nil
}
