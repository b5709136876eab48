package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// Runner carries out `hookshim run` for one hook.
type Runner struct {
	Hook   string
	Steps  []Step
	Policy Policy
	// DeferredFor is the lock's details as `hookshim run` saw them when it
	// deferred this hook (jobs.Job.Holder); nil outside a deferred hook. A
	// Kamal lock still held with exactly these is the Kamal command the hook
	// was deferred for, and the log says so rather than "another Kamal
	// command" (a manual lock or a hold is named as such all the same).
	DeferredFor *lockfile.Details
	// DeferredFrom is the policy the user chose, when this Runner runs a
	// deferred hook: jobs sets Policy to strict or hold for the wait, and
	// the log names the user's policy, not that one.
	DeferredFrom Policy
	// Wait bounds how long to wait for someone else's lock; Poll is how often to look.
	Wait, Poll time.Duration
	// ConflictExitCode is the status of a refusal (default exitcode.Conflict).
	ConflictExitCode int
	// FromDir is true when Steps come from HOOK.d (not a `--` command): only
	// then does the recursion guard apply.
	FromDir bool
	// HooksDir is the directory HOOK.d is in: part of the recursion guard's
	// key (GuardKey), so that another repository's hook is not taken for
	// this one.
	HooksDir string

	Spec lockfile.Spec
	// Layouts are the layouts whose lock the caller may hold or wait for,
	// newest first (LiveLayouts); the first is where a free lock is taken.
	// Empty means every layout.
	Layouts []lockfile.Layout
	// WaitManual makes --wait (and a hold's wait) wait for a manual lock too,
	// which Kamal's own --lock-wait refuses to do.
	WaitManual bool
	Store      lockfile.Store // where the lock lives; nil for a hook that does not look (LooksAtLock)
	// Dial opens a store for repeated use (one multiplexed SSH connection) for
	// waiting and holding; nil means Store is used for everything.
	Dial func(ctx context.Context) (lockfile.Store, io.Closer, error)

	Kamal   KamalEnv
	GitUser func() string // `git config user.name`, "Unknown" when unset, as Kamal writes it
	// Revision is what Kamal deploys when KAMAL_VERSION is not given (the
	// repository's `git rev-parse HEAD`), for a hold's Version:; nil or "" leaves it empty.
	Revision func() string
	Exec     Exec
	Env      []string // the hook's environment as hookshim received it
	Log      zerolog.Logger
	Now      func() time.Time
	// Holder names this machine in a hold message.
	User, Hostname string
	PID            int
	// Stamp, when set, gives the start time, session and boot of process PID,
	// written into a hold so that `hookshim unlock` can tell it from a later
	// process with the same pid.
	Stamp func() lockfile.Stamp
	// Report, when set, prints an error that does not decide the exit status
	// (a hold that could not be released after the hook failed), with its
	// hints, as the final error is printed (exitcode.Report); nil logs it.
	Report func(error)
	// Performer, when set, names the deployer in the lines a hold adds to
	// Kamal's audit log (Kamal's performer: git user.email, else the login name).
	Performer func() string
	// Watch, when set, blocks until the lock directory at path is gone (or
	// ctx ends), learning of it from the host's file system events; the wait
	// loop then looks again. Nil means polling every Poll.
	Watch func(ctx context.Context, path string) error
	// Defer hands the hook to a deferral; nil means deferring is not available.
	Defer func(ctx context.Context, o Ownership, why string) error
	// StepTimeout bounds each step on the lock host (connecting, a look, a
	// take, a release); 0 means DefaultStepTimeout.
	StepTimeout time.Duration
	// Rerun, when set, is the shell command line that runs this hook again
	// as it was run, with --flag=value instead of what was given; "" when it
	// cannot be shown safely. Refusals suggest it.
	Rerun func(flag, value string) string

	// Heartbeat is how often a wait says it still waits; 0 means DefaultHeartbeat.
	Heartbeat time.Duration

	waitUntil     time.Time      // the --wait deadline, once waiting began
	lastBeat      time.Time      // when the wait last said it waits
	leftoversSaid bool           // leftovers of another Kamal generation were reported
	watchFailed   atomic.Bool    // Watch failed once: poll from then on
	sess          lockfile.Store // the multiplexed store, once dialled
	closer        io.Closer
	lostTokens    map[string]bool // tokens of takes whose answer was lost: a lock with one is ours
}

// Run decides and acts. It returns nil when the hook ran and succeeded (or was
// deferred), and an error carrying the exit status otherwise.
func (r *Runner) Run(ctx context.Context) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.ConflictExitCode == 0 {
		r.ConflictExitCode = exitcode.Conflict
	}
	if r.FromDir && slices.Contains(activeHooks(r.Env), r.guardKey()) {
		// Said at warn, so that no log level hides a hook that did not run.
		r.Log.Warn().Msgf("%s: skipped: %s is already running in an enclosing hookshim run (a nested kamal ran it again); not running it inside itself",
			r.Hook, r.guardWhat())
		return nil
	}
	if len(r.Steps) == 0 {
		r.Log.Warn().Msgf("%s: no hook scripts to run; nothing to do", r.Hook)
		return nil
	}
	if len(r.Layouts) == 0 {
		r.Layouts = lockfile.Layouts
	}
	if !LooksAtLock(r.Hook) || r.Store == nil {
		r.Log.Info().Msgf("%s: runs before Kamal reaches any host (it may be what makes SSH work), so the lock is not looked at; running now (%s)", r.Hook, r.policyNote())
		return r.exec(ctx, identityEnv(r.Env, "", lockfile.Lock{}, "", false))
	}
	if err := r.checkHoldValues(); err != nil {
		return err
	}
	defer r.closeSession()
	var o Ownership
	err := r.interruptible(ctx, "reading the lock", func(ctx context.Context) error {
		first := r.Store
		if r.Policy == Hold || r.Wait > 0 {
			// A take, a release or more looks are likely to follow: make even the
			// first look over the one connection they will all share.
			first = r.session(ctx)
		}
		var err error
		o, err = r.observe(ctx, first)
		return err
	})
	if err != nil {
		return err
	}
	return r.act(ctx, o)
}

// DefaultStepTimeout bounds each step on the lock host when StepTimeout is 0:
// a host that answers the handshake and then hangs (a stuck file system, a
// login script that never returns) must not keep hookshim, or Kamal, for ever.
const DefaultStepTimeout = 30 * time.Second

func (r *Runner) stepTimeout() time.Duration {
	if r.StepTimeout > 0 {
		return r.StepTimeout
	}
	return DefaultStepTimeout
}

// interruptible runs f, a step that takes nothing on the host (connecting or
// looking), bounded by the step timeout and ended at once by SIGINT or SIGTERM:
// the error then carries 128+N and says nothing was run.
func (r *Runner) interruptible(ctx context.Context, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.stepTimeout())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case sig := <-r.Exec.Signals:
		cancel()
		<-done
		return exitcode.Newf(exitcode.SignalBase+signum(sig), "%s: interrupted by %s while %s; nothing was run", r.Hook, SignalName(sig), what)
	}
}

// observe reads, in one round trip, every place the caller's lock may be (the
// live layouts) and, when the caller's Kamal release is known, the places other
// Kamal generations kept it, and classifies the first live lock that is held
// (newest layout first). A lock held only in another generation's place is a
// leftover: reported once, never waited on.
func (r *Runner) observe(ctx context.Context, s lockfile.Store) (Ownership, error) {
	live := r.Spec.PathsFor(r.Layouts)
	paths := live
	if r.Kamal.Range.Known() {
		paths = r.Spec.PathsFor(append(slices.Clone(r.Layouts), lockfile.Layouts...))
	}
	locks, err := s.Read(ctx, paths...)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: no answer within %s", err, r.stepTimeout())
		}
		return Ownership{}, r.lockError(s, "read", err)
	}
	l := lockfile.Lock{Path: live[0], Layout: r.Layouts[0], State: lockfile.Free}
	var leftovers []lockfile.Lock
	for _, c := range locks {
		switch {
		case !c.State.IsHeld():
		case slices.Contains(live, c.Path):
			if !l.State.IsHeld() {
				l = c
			}
		case !slices.Contains(r.Layouts, c.Layout):
			leftovers = append(leftovers, c)
		}
	}
	r.reportLeftovers(s, leftovers)
	return r.classify(l, s), nil
}

// classify is Classify for this run, naming a lock that is still the one the
// hook was deferred for (DeferredFor) as such.
func (r *Runner) classify(l lockfile.Lock, s lockfile.Store) Ownership {
	o := Classify(l, r.caller(s))
	_, hold := l.Hold()
	if f, d := r.DeferredFor, l.Details; o.State == Theirs && f != nil && d != nil && d.IsAutomatic() && !hold &&
		d.LockedBy == f.LockedBy && d.Version == f.Version && d.Message == f.Message && l.Since().Equal(f.At) {
		o.Reason = "the Kamal command this hook was deferred for still holds it"
	}
	return o
}

// caller is what Classify and Decide need to know of this run.
func (r *Runner) caller(s lockfile.Store) Caller {
	return Caller{Hook: r.Hook, Kamal: r.Kamal, Spec: r.Spec, Ref: s.Ref, GitUser: r.GitUser}
}

// reportLeftovers says, once per run, which locks another Kamal generation
// left where the caller's Kamal never looks, and how to remove them.
func (r *Runner) reportLeftovers(s lockfile.Store, leftovers []lockfile.Lock) {
	if r.leftoversSaid || len(leftovers) == 0 {
		return
	}
	r.leftoversSaid = true
	for _, l := range leftovers {
		r.Log.Warn().Msgf("%s: leftover lock %s on %s (%s layout), held by %s: the caller is %s (%s), which never looks there, so it is not waited for; remove it with: %s",
			r.Hook, l.Path, s.Where(), l.Layout.Versions(), holder(l, r.Now()), r.Kamal.Range, r.Kamal.Range.Source, s.RemoveCommand(l.Path))
	}
}

func (r *Runner) act(ctx context.Context, o Ownership) error {
	a, why := Decide(r.Policy, o, r.caller(r.Store))
	switch a {
	case RunNow:
		r.decided(o, "running now", why)
		return r.runSteps(ctx, o, "")
	case TakeLock:
		return r.hold(ctx, o)
	case WaitLock:
		return r.wait(ctx, o)
	case DeferRun:
		if r.Defer == nil {
			r.decided(o, "cannot defer", why)
			return exitcode.Newf(r.ConflictExitCode, "%s: deferring a hook is not available in this build of hookshim", r.Hook).
				WithHint("run it with --policy hold, or after the lock is released")
		}
		r.decided(o, "deferring until it is released", why)
		return r.Defer(ctx, o, why)
	default:
		r.decided(o, "refusing", why)
		return r.conflict(o, why)
	}
}

// policyNote names the policy in a log line: "policy hold", or for a
// deferred hook the policy the user chose, "deferred under policy auto".
func (r *Runner) policyNote() string {
	if r.DeferredFrom != "" {
		return "deferred under policy " + string(r.DeferredFrom)
	}
	return "policy " + string(r.Policy)
}

// decided writes the one line that says what was decided and why.
func (r *Runner) decided(o Ownership, what, why string) {
	msg := fmt.Sprintf("%s: lock %s on %s is %s; %s (%s)", r.Hook, o.Lock.Path, r.Store.Where(), describe(o, r.Now()), what, r.policyNote())
	if why != "" {
		msg += ": " + why
	}
	r.Log.Info().Msg(msg)
}

// runSteps runs the hook with the identity variables that match the lock.
func (r *Runner) runSteps(ctx context.Context, o Ownership, token string) error {
	if token == "" && o.ByToken {
		token = r.Kamal.Token // pass the enclosing hold's token on to nested hooks
	}
	env := identityEnv(r.Env, r.Store.Ref(o.Lock.Path), o.Lock, token, o.State == Ours || token != "")
	return r.exec(ctx, env)
}

// exec runs the hook's steps with env and turns their outcome into an error
// carrying the exit status.
func (r *Runner) exec(ctx context.Context, env []string) error {
	if r.FromDir {
		env = withActiveHook(env, r.guardKey())
	}
	status, err := r.Exec.Run(ctx, r.Steps, env)
	if err != nil {
		var e *exitcode.Error
		if errors.As(err, &e) {
			return err
		}
		return exitcode.New(status, fmt.Errorf("%s: %w", r.Hook, err))
	}
	if status != 0 {
		return exitcode.Status(status)
	}
	return nil
}

// lockError reports a store where the lock could not be read (or taken):
// exit 69 for a host out of reach, never "lock held".
func (r *Runner) lockError(s lockfile.Store, verb string, err error) error {
	var ue *sshx.UnreachableError
	if errors.As(err, &ue) {
		return exitcode.New(exitcode.Unavailable, fmt.Errorf("%s: cannot %s the deploy lock: %w", r.Hook, verb, err),
			"check that `"+ue.CheckCommand()+"` works (hookshim runs it with BatchMode=yes: no prompts), or pass --host / --ssh-user / --ssh-port")
	}
	if errors.Is(err, os.ErrPermission) {
		return exitcode.New(exitcode.NoPerm, fmt.Errorf("%s: cannot %s the deploy lock on %s: %w", r.Hook, verb, s.Where(), err))
	}
	return exitcode.New(exitcode.Unavailable, fmt.Errorf("%s: cannot %s the deploy lock on %s: %w", r.Hook, verb, s.Where(), err))
}

func (r *Runner) guardKey() string {
	return GuardKey(r.Hook, r.Spec.Service, r.Spec.Destination, r.HooksDir)
}

// guardWhat names what the recursion guard matched, for the skip line.
func (r *Runner) guardWhat() string {
	what := fmt.Sprintf("%s of service %s", r.Hook, r.Spec.Service)
	if r.Spec.Destination != "" {
		what += " destination " + r.Spec.Destination
	}
	return what + " from " + r.HooksDir
}
