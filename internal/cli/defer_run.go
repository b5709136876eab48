package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/jobs"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// defaultDeferTimeout bounds how long a deferred hook waits for the lock.
const defaultDeferTimeout = 30 * time.Minute

// Run policies of a deferred job: under a hold on Kamal 2.6+ (so no other
// deploy slips in between), else only once the lock is free.
const (
	runPolicyHold   = "hold"
	runPolicyStrict = "strict"
)

// setupDefer wires deferred hooks into a `hookshim run` Runner: Defer records
// a job and starts its waiter; Watch learns of a lock's release from file
// system events (here with --root, on the host through `hookshim watch`). In
// `hookshim waiter` it runs the job instead and returns done.
func setupDefer(c *cli.Context, p Process, r *shim.Runner) (done bool, err error) {
	r.Watch = lockWatch(r)
	if c.Command != nil && c.Command.Name == waiterName {
		return true, runWaiter(c, p, r)
	}
	timeout, err := durationFlagOrEnv(c, p, "defer-timeout", "HOOKSHIM_DEFER_TIMEOUT")
	if err != nil {
		return false, err
	}
	if timeout <= 0 {
		return false, exitcode.Newf(exitcode.Usage, "--defer-timeout %s is not a positive duration", timeout).
			WithHint("use a duration such as 30m")
	}
	r.Defer = func(ctx context.Context, o shim.Ownership, why string) error {
		return deferHook(c, p, r, o, why, timeout)
	}
	return false, nil
}

// stateDir is where deferred jobs are kept: --state-dir, HOOKSHIM_STATE_DIR,
// $XDG_STATE_HOME/hookshim, else ~/.local/state/hookshim; always absolute.
func stateDir(c *cli.Context, p Process) (string, error) {
	dir := ""
	switch {
	case isSet(c, "state-dir") && c.String("state-dir") != "":
		dir = c.String("state-dir")
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
func deferHook(c *cli.Context, p Process, r *shim.Runner, o shim.Ownership, why string, timeout time.Duration) error {
	dir, err := stateDir(c, p)
	if err != nil {
		return notDeferred(c, r.Hook, p, err)
	}
	exe, err := executable()
	if err != nil {
		return notDeferred(c, r.Hook, p, exitcode.New(exitcode.Software, fmt.Errorf("cannot find hookshim's own executable to start the waiter: %w", err)))
	}
	args := c.Args().Slice()
	var command []string
	if len(args) > 1 && args[1] == "--" {
		command = args[2:]
	}
	now := time.Now().UTC()
	runPolicy := runPolicyStrict
	if r.Kamal.HonoursKamalLock() {
		runPolicy = runPolicyHold
	}
	reason := o.Reason
	if why != "" {
		reason += "; " + why
	}
	j := jobs.Job{
		Hook:        r.Hook,
		Command:     command,
		RepoDir:     workDir(p),
		Service:     r.Spec.Service,
		Destination: r.Spec.Destination,
		Lock:        jobs.LockRef{Host: r.Store.Where(), Path: o.Lock.Path},
		Policy:      string(r.Policy),
		RunPolicy:   runPolicy,
		Reason:      reason,
		Created:     now,
		Deadline:    now.Add(timeout),
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
		return notDeferred(c, r.Hook, p, exitcode.New(code, fmt.Errorf("cannot record the deferred job in %s: %w", dir, err)).
			WithHint("give hookshim a writable state directory: --state-dir DIR or HOOKSHIM_STATE_DIR"))
	}
	w := jobs.Waiter{
		Path: exe,
		Args: waiterArgs(c, j.ID, dir),
		Env:  append(withoutEnv(p.Env, "HOOKSHIM_JOB"), "HOOKSHIM_JOB="+j.ID),
		Dir:  workDir(p),
	}
	pid, err := jobs.StartWaiter(j, w, jobs.StartTimeout)
	if err != nil {
		abandoned, aerr := jobs.Abandon(dir, j.ID, "the waiter did not start: "+err.Error())
		if abandoned || aerr != nil {
			return notDeferred(c, r.Hook, p, exitcode.New(exitcode.CantCreate, fmt.Errorf("job %s: %w", j.ID, err)).
				WithHint("its log: %s", j.LogPath()))
		}
		// The waiter holds the job after all: it only answered late.
		r.Log.Warn().Msgf("%s: job %s: %v; it has picked the job up since", r.Hook, j.ID, err)
	}
	r.Log.Info().Msgf("%s: deferred as job %s (waiter pid %d): it runs once lock %s on %s is released, within %s; log: %s",
		r.Hook, j.ID, pid, o.Lock.Path, r.Store.Where(), timeout, j.LogPath())
	r.Log.Info().Msgf("%s: to wait for it and get its exit status: hookshim wait (or: hookshim wait %s)", r.Hook, j.ID)
	return nil
}

// notDeferred is the refusal when a hook could not be deferred: it says the
// hook was not run, and how to run it by hand.
func notDeferred(c *cli.Context, hook string, p Process, err error) error {
	var e *exitcode.Error
	if !errors.As(err, &e) {
		e = exitcode.New(exitcode.CantCreate, err)
	}
	return exitcode.New(e.Code, fmt.Errorf("%s was NOT run and could not be deferred: %w", hook, err)).
		WithHint("run it by hand once the deploy has released the lock: %s", byHand(c, workDir(p)))
}

// byHand is the command line that runs the hook again as c ran it, from dir,
// or, when it cannot be shown safely, words that say so.
func byHand(c *cli.Context, dir string) string {
	if line := runAgain(c, dir, "", ""); line != "" {
		return line
	}
	return "the same hookshim run command, from " + lockreport.Clean(dir)
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

// waiterArgs is the waiter's command line: `hookshim waiter --job ID`, the
// flags `hookshim run` was given (so it resolves the same settings), and the
// hook with its arguments or `--` command.
func waiterArgs(c *cli.Context, id, dir string) []string {
	args := []string{"hookshim", waiterName, "--job", id, "--ready-fd", strconv.Itoa(jobs.ReadyFD), "--state-dir", dir}
	args = append(args, setFlagArgs(c, "state-dir")...)
	return append(args, c.Args().Slice()...)
}

func withoutEnv(env []string, keys ...string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		skip := false
		for _, key := range keys {
			skip = skip || k == key
		}
		if !skip {
			out = append(out, kv)
		}
	}
	return out
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

// runWaiter is `hookshim waiter`: it picks up the job, waits for the lock
// that caused the deferral to be released (and for any lock taken after it,
// within --defer-timeout), then runs the hook with the environment it was
// started with: under a hold on Kamal 2.6+, else once the lock is free. It
// records the outcome, and its exit status is the job's.
func runWaiter(c *cli.Context, p Process, r *shim.Runner) error {
	id, readyFD := c.String("job"), c.Int("ready-fd")
	dir, err := stateDir(c, p)
	if err != nil {
		jobs.CloseReadyFD(readyFD)
		return err
	}
	cl, err := jobs.Claim(context.Background(), dir, id, os.Getpid())
	if err != nil {
		jobs.CloseReadyFD(readyFD)
		var ce *jobs.CorruptError
		switch {
		case isUnsafe(err):
			return exitcode.New(exitcode.NoPerm, err, "the hook was not run")
		case errors.As(err, &ce):
			return exitcode.New(exitcode.DataErr, err, "the hook was not run")
		case errors.Is(err, jobs.ErrNotStarting), errors.Is(err, jobs.ErrTaken):
			return exitcode.New(exitcode.Conflict, err, "the hook is not run again by this waiter")
		case errors.Is(err, jobs.ErrNotFound):
			return exitcode.New(exitcode.NoInput, err)
		}
		return exitcode.New(exitcode.IOErr, err)
	}
	defer cl.Close()
	if err := jobs.Ready(readyFD); err != nil {
		r.Log.Warn().Msgf("job %s: telling hookshim run that the job is picked up: %v", id, err)
	}
	j := cl.Job
	log := r.Log
	how := "once nobody holds it (Kamal < 2.6)"
	r.Policy = shim.Strict
	// A deferred hook waits for the lock whatever kind it is: deferring was
	// the decision to run once it is released, a manual lock included.
	r.WaitManual = true
	if j.RunPolicy == runPolicyHold {
		how = "under a hold, so no other deploy slips in (Kamal 2.6+)"
		r.Policy = shim.Hold
	}
	log.Info().Msgf("job %s: %s deferred at %s (%s); waiting for lock %s on %s to be released, until %s; then running it %s",
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
	if _, ok := p.LookupEnv("KAMAL_LOCK"); ok {
		// What is true when the hook runs: true under the hold (set by the
		// Runner), false otherwise.
		r.Env = append(withoutEnv(r.Env, "KAMAL_LOCK"), "KAMAL_LOCK=false")
	}
	var started atomic.Bool
	var startedAt time.Time
	r.Exec.BeforeStart = func() error {
		at := time.Now().UTC()
		if err := cl.Update(func(j *jobs.Job) { j.State, j.Started = jobs.Running, &at }); err != nil {
			return fmt.Errorf("job %s: cannot record that the hook starts: %w", j.ID, err)
		}
		startedAt = at
		started.Store(true)
		log.Info().Msgf("job %s: %s started at %s", j.ID, j.Hook, at.Format(time.RFC3339Nano))
		return nil
	}

	var runErr error
	expired := false
	for {
		left := time.Until(j.Deadline)
		if left <= 0 {
			expired = true
			break
		}
		if left > time.Second {
			left = left.Truncate(time.Second)
		}
		r.Wait = left
		runErr = r.Run(context.Background())
		if runErr == nil || started.Load() {
			break
		}
		code := exitcode.Code(runErr)
		if code == r.ConflictExitCode {
			expired = true
			break
		}
		if code != exitcode.Unavailable || time.Until(j.Deadline) <= 0 {
			break
		}
		// The host could not be reached for the first look: try again until
		// the deadline.
		poll := max(r.Poll, 100*time.Millisecond)
		log.Warn().Msgf("job %s: %v; trying again in %s", j.ID, runErr, poll)
		t := time.NewTimer(min(poll, time.Until(j.Deadline)))
		interrupted := false
		select {
		case <-t.C:
		case sig := <-r.Exec.Signals:
			t.Stop()
			interrupted = true
			runErr = exitcode.Newf(exitcode.SignalBase+signalNumber(sig), "job %s: interrupted by %v while waiting for the lock; the hook was not run", j.ID, sig)
		}
		if interrupted {
			break
		}
	}

	ended := time.Now().UTC()
	didStart := started.Load()
	var final jobs.State
	status := 0
	msg := ""
	switch {
	case expired:
		final, status = jobs.Expired, exitcode.Conflict
		msg = fmt.Sprintf("lock %s on %s was still held at the deadline, %s after the hook was deferred (--defer-timeout); the hook was not run",
			j.Lock.Path, j.Lock.Host, j.Deadline.Sub(j.Created).Round(time.Millisecond))
		runErr = exitcode.Newf(exitcode.Conflict, "job %s (%s) expired: %s", j.ID, j.Hook, msg).
			WithHint("run it by hand once the lock is free: %s", byHand(c, j.RepoDir))
	case runErr == nil:
		final = jobs.Succeeded
		if !didStart {
			msg = "nothing was run (no hook scripts, or the hook was already running in an enclosing hookshim)"
		}
	case didStart:
		final, status = jobs.Failed, exitcode.Code(runErr)
	default:
		final, status = jobs.Failed, exitcode.Code(runErr)
		msg = "the hook was not run: " + runErr.Error()
	}
	switch {
	case final == jobs.Succeeded && didStart:
		log.Info().Msgf("job %s: %s succeeded at %s, after %s", j.ID, j.Hook, ended.Format(time.RFC3339Nano), ended.Sub(startedAt).Round(time.Millisecond))
	case final == jobs.Failed && didStart:
		log.Info().Msgf("job %s: %s failed with exit status %d at %s, after %s", j.ID, j.Hook, status, ended.Format(time.RFC3339Nano), ended.Sub(startedAt).Round(time.Millisecond))
	case msg != "" && final != jobs.Expired:
		log.Info().Msgf("job %s: %s %s: %s", j.ID, j.Hook, final, msg)
	}
	if runErr != nil {
		// Said here, into the log, before the job is recorded as ended and
		// its lock released: whoever follows the job sees it all.
		runErr = exitcode.Status(exitcode.Report(escapedLines{p.Stderr}, runErr))
	}
	if err := cl.Update(func(j *jobs.Job) {
		j.State, j.ExitStatus, j.Ended, j.Error = final, &status, &ended, msg
		if didStart {
			j.Started = &startedAt
		}
	}); err != nil {
		log.Error().Msgf("job %s: recording its end: %v", j.ID, err)
	}
	return runErr
}

func signalNumber(s os.Signal) int {
	if ss, ok := s.(syscall.Signal); ok {
		return int(ss)
	}
	return 0
}
