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

	Spec       lockfile.Spec
	TakeLayout lockfile.Layout // where to take the lock when none exists
	Store      lockfile.Store  // where the lock lives
	// Dial opens a store for repeated use (one multiplexed SSH connection) for
	// waiting and holding; nil means Store is used for everything.
	Dial func(ctx context.Context) (lockfile.Store, io.Closer, error)

	Kamal   KamalEnv
	GitUser func() string // `git config user.name`, "Unknown" when unset, as Kamal writes it
	Exec    Exec
	Env     []string // the hook's environment as hookshim received it
	Log     zerolog.Logger
	Now     func() time.Time
	// Holder names this machine in a hold message.
	User, Hostname string
	PID            int
	// Watch, when set, blocks until the lock directory at path is gone (or
	// ctx ends), learning of it from the host's file system events; the wait
	// loop then looks again. Nil means polling every Poll.
	Watch func(ctx context.Context, path string) error
	// Defer hands the hook to a deferral; nil means deferring is not available.
	Defer func(ctx context.Context, o Ownership, why string) error
	// Rerun, when set, is the shell command line that runs this hook again
	// as it was run, with --flag=value instead of what was given; "" when it
	// cannot be shown safely. Refusals suggest it.
	Rerun func(flag, value string) string

	waitUntil   time.Time      // the --wait deadline, once waiting began
	watchFailed atomic.Bool    // Watch failed once: poll from then on
	sess        lockfile.Store // the multiplexed store, once dialled
	closer      io.Closer
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
	if err := r.checkHoldValues(); err != nil {
		return err
	}
	defer r.closeSession()
	first := r.Store
	if r.Policy == Hold || r.Wait > 0 {
		// A take, a release or more looks are likely to follow: make even the
		// first look over the one connection they will all share.
		first = r.session(ctx)
	}
	o, err := r.observe(ctx, first)
	if err != nil {
		return err
	}
	return r.act(ctx, o)
}

// observe reads every place the lock may be in one round trip and classifies
// the first that is held (newest layout first).
func (r *Runner) observe(ctx context.Context, s lockfile.Store) (Ownership, error) {
	locks, err := s.Read(ctx, r.Spec.Candidates()...)
	if err != nil {
		return Ownership{}, r.lockError(s, "read", err)
	}
	l := lockfile.Lock{Path: r.Spec.Path(r.TakeLayout), Layout: r.TakeLayout, State: lockfile.Free}
	for _, c := range locks {
		if c.State.IsHeld() {
			l = c
			break
		}
	}
	return Classify(l, r.Kamal, r.Hook, r.GitUser), nil
}

func (r *Runner) act(ctx context.Context, o Ownership) error {
	a, why := Decide(r.Policy, o, r.Kamal, r.Hook)
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

// decided writes the one line that says what was decided and why.
func (r *Runner) decided(o Ownership, what, why string) {
	msg := fmt.Sprintf("%s: lock %s on %s is %s; %s (policy %s)", r.Hook, o.Lock.Path, r.Store.Where(), describe(o, r.Now()), what, r.Policy)
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
			"check that `ssh "+ue.Target.String()+" true` works (BatchMode, keys, host key), or pass --host / --ssh-user / --ssh-port")
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
