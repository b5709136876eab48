package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/deployconfig"
	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/settings"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

func runCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a Kamal hook the same way whichever Kamal command called it",
		ArgsUsage: "HOOK [-- COMMAND [ARG...]]",
		Description: `Without "--", runs every executable in <hooks dir>/HOOK.d in lexical order,
stopping at the first failure; with "--", runs COMMAND instead.

The lock is read on the primary host (or under --root) and the hook is run
now, under a hold, after a wait, deferred, or refused, by --policy:

  state        hold                 defer        strict          auto
  free         take, run, release   run now      run now         run now
  ours         run now              defer        refuse          2.6+: run now; older: defer
  theirs       wait, take, run      defer        wait, refuse    wait, refuse
  unreachable  refuse (exit 69)

Each step on the lock host (connecting, a look, a take, a release) is bounded
by 30s; one that runs out counts as unreachable (69), never as free. SIGINT
and SIGTERM end hookshim at once, releasing any lock it holds.`,
		Flags: withCommon(append(settingsFlags(false),
			&cli.StringFlag{Name: "policy", Value: "auto", Usage: "auto, hold, defer or strict; env HOOKSHIM_POLICY"},
			&cli.DurationFlag{Name: "wait", Usage: "wait up to `D` for a lock held by someone else (e.g. 5m); env HOOKSHIM_WAIT"},
			&cli.BoolFlag{Name: "wait-manual", Usage: "with --wait, wait for a manual lock (kamal lock acquire -m) too, which Kamal's own --lock-wait refuses to do; env HOOKSHIM_WAIT_MANUAL"},
			&cli.DurationFlag{Name: "heartbeat", Value: shim.DefaultHeartbeat, Usage: "while waiting for a lock, say every `D` who still holds it and how long the wait has left"},
			&cli.DurationFlag{Name: "poll", Value: time.Second, Usage: "look at a held lock every `D` while waiting"},
			&cli.IntFlag{Name: "conflict-exit-code", Value: exitcode.Conflict, Usage: "exit status `N` when the hook is refused because of the lock"},
			// Deferred hooks (defer_run.go).
			&cli.DurationFlag{Name: "defer-timeout", Value: defaultDeferTimeout, Usage: "a deferred hook expires, as failed, when the lock is not released within `D`; env HOOKSHIM_DEFER_TIMEOUT"},
			stateDirFlag(),
		)...),
		Action: func(c *cli.Context) error {
			o, err := readRunOptions(c, p)
			if err != nil {
				return err
			}
			return runHook(p, o)
		},
	}
}

// runOptions are `hookshim run`'s command line and HOOKSHIM_* variables,
// read once by readRunOptions. A deferred hook's waiter gets them back from
// the job record (storedRun), so they are JSON (durations in nanoseconds).
type runOptions struct {
	Log              logOptions    `json:"log"`
	Hook             string        `json:"hook"`
	Command          []string      `json:"command,omitempty"` // after `--`; nil runs HOOK.d
	HookArgs         []string      `json:"hook_args,omitempty"`
	Policy           shim.Policy   `json:"policy"`
	Wait             time.Duration `json:"wait"`
	WaitManual       bool          `json:"wait_manual,omitempty"`
	Heartbeat        time.Duration `json:"heartbeat"`
	Poll             time.Duration `json:"poll"`
	ConflictExitCode int           `json:"conflict_exit_code"`
	Root             string        `json:"root,omitempty"`   // --root or HOOKSHIM_ROOT
	RootFrom         string        `json:"-"`                // which of the two Root is, for an error
	Layout           string        `json:"layout,omitempty"` // --layout or HOOKSHIM_LAYOUT, checked by callerRange
	Where            whereOptions  `json:"where"`
	SSH              sshOptions    `json:"ssh"`
	// Given are the flags given, as --name=value words (--state-dir apart),
	// for the command line that runs the hook again (runAgain).
	Given []string `json:"given,omitempty"`
	// DeferTimeout is checked by setupDefer, only when the hook runs; the
	// waiter has the job's deadline instead.
	DeferTimeout setting `json:"-"`
	// StateDir is --state-dir as given; the waiter is told the one resolved.
	StateDir string `json:"-"`
}

// readRunOptions reads `hookshim run`'s command line and environment,
// checking what it can in the order the values are used.
func readRunOptions(c *cli.Context, p Process) (o runOptions, err error) {
	if o.WaitManual, err = flagOrEnv(c, p, "wait-manual", "HOOKSHIM_WAIT_MANUAL").bool(); err != nil {
		return o, err
	}
	o.Log = readLogOptions(c, p)
	if _, err := newLogger(p, o.Log); err != nil {
		return o, err
	}
	if o.Hook, o.Command, o.HookArgs, err = runArgs(c.Args().Slice()); err != nil {
		return o, err
	}
	if o.Policy, err = shim.ParsePolicy(flagOrEnv(c, p, "policy", "HOOKSHIM_POLICY").Value); err != nil {
		return o, err
	}
	if err := shim.CheckDeferrable(o.Policy, o.Hook); err != nil {
		return o, err
	}
	if o.Wait, err = flagOrEnv(c, p, "wait", "HOOKSHIM_WAIT").duration(); err != nil {
		return o, err
	}
	if o.ConflictExitCode = c.Int("conflict-exit-code"); o.ConflictExitCode < 1 || o.ConflictExitCode > 255 {
		return o, exitcode.Newf(exitcode.Usage, "--conflict-exit-code %d is not an exit status", o.ConflictExitCode).
			WithHint("pass a number from 1 to 255")
	}
	o.Heartbeat, o.Poll = c.Duration("heartbeat"), c.Duration("poll")
	root := flagOrEnv(c, p, "root", "HOOKSHIM_ROOT")
	o.Root, o.RootFrom = root.Value, root.from("root")
	o.Layout = flagOrEnv(c, p, "layout", "HOOKSHIM_LAYOUT").Value
	o.Where, o.SSH = readWhere(c), readSSHOptions(c, p)
	o.Given = setFlagArgs(c, "state-dir")
	o.DeferTimeout = flagOrEnv(c, p, "defer-timeout", "HOOKSHIM_DEFER_TIMEOUT")
	if isSet(c, "state-dir") {
		o.StateDir = c.String("state-dir")
	}
	return o, nil
}

// args is the hook with its arguments or `--` command, as typed.
func (o runOptions) args() []string {
	if o.Command != nil {
		return append([]string{o.Hook, "--"}, o.Command...)
	}
	return append([]string{o.Hook}, o.HookArgs...)
}

// runHook is `hookshim run`: the Runner, with deferral wired in, runs the hook.
func runHook(p Process, o runOptions) error {
	r, stop, err := newRunner(p, o)
	if err != nil {
		return err
	}
	defer stop()
	if err := checkHookName(r); err != nil {
		return err
	}
	if r.FromDir && len(r.Steps) == 0 {
		// A stub with no HOOK.d beside it is what a fresh clone holds: git keeps
		// no empty directory. Nothing to run is not an error for Kamal to abort on.
		r.Log.Info().Msgf("%s: nothing to run: %s is missing or empty", r.Hook, filepath.Join(r.HooksDir, r.Hook+".d"))
		return nil
	}
	r.Watch = lockWatch(r)
	// Deferred hooks (defer_run.go): sets r.Defer.
	if err := setupDefer(p, o, r); err != nil {
		return err
	}
	return withUnresolvedHint(r.Run(context.Background()))
}

// checkHookName looks at a hook name Kamal never runs (a typo such as
// post-deplyo, or a hook of the user's own): with no HOOK.d and no `--`
// command there is nothing it could ever run, almost surely a typo: refused
// (64) naming the closest Kamal hook; otherwise it runs, after a warning.
func checkHookName(r *shim.Runner) error {
	if slices.Contains(shim.KamalHooks, r.Hook) {
		return nil
	}
	closest := closestHook(r.Hook)
	dir := filepath.Join(r.HooksDir, r.Hook+".d")
	if r.FromDir {
		if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
			return exitcode.Newf(exitcode.Usage, "hookshim run %s: Kamal never runs a hook of that name, and %s is missing", r.Hook, dir).
				WithHint("did you mean %s? Kamal's hooks are %s", closest, strings.Join(shim.KamalHooks, ", "))
		}
	}
	r.Log.Warn().Msgf("%s: Kamal never runs a hook of that name (did you mean %s?); running it as asked", r.Hook, closest)
	return nil
}

// closestHook is the Kamal hook name closest to name, by urfave/cli's own
// suggestion (Jaro-Winkler, as for a mistyped flag); "" when that is built
// out (urfave_cli_no_suggest).
func closestHook(name string) string {
	flags := make([]cli.Flag, len(shim.KamalHooks))
	for i, h := range shim.KamalHooks {
		flags[i] = &cli.BoolFlag{Name: h}
	}
	return strings.TrimPrefix(suggestFlag(flags, name), "--")
}

// runArgs splits `hookshim run`'s arguments: the hook, then either `--` and
// the command to run instead of the hook's scripts, or the hook's arguments.
func runArgs(args []string) (hook string, command, hookArgs []string, err error) {
	if len(args) == 0 {
		return "", nil, nil, exitcode.Newf(exitcode.Usage, "hookshim run: which hook? none was named").
			WithHint("hookshim run post-deploy, or hookshim run post-deploy -- COMMAND")
	}
	hook, rest := args[0], args[1:]
	if err := shim.ValidateHook(hook); err != nil {
		return "", nil, nil, err
	}
	if len(rest) > 0 && rest[0] == "--" {
		command = rest[1:]
		if len(command) == 0 {
			return "", nil, nil, exitcode.Newf(exitcode.Usage, "hookshim run %s: nothing after --", hook).
				WithHint("hookshim run %s -- COMMAND [ARG...]", hook)
		}
		return hook, command, nil, nil
	}
	return hook, nil, rest, nil
}

// planSteps is shim.Plan, except that a missing HOOK.d is nothing to run
// (no steps, no error): `install --hooks` creates it empty and git does not
// keep empty directories, so every fresh clone lacks it.
func planSteps(hooksDir, hook string, command, hookArgs []string) ([]shim.Step, error) {
	if command == nil {
		if _, err := os.Lstat(filepath.Join(hooksDir, hook+".d")); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	return shim.Plan(hooksDir, hook, command, hookArgs)
}

// checkHooksDir refuses (66) a hooks directory that does not exist or is not
// a directory, naming where its value came from (s.Sources["hooks_dir"]): a
// typo in --hooks-dir, HOOKSHIM_HOOKS_DIR or deploy.yml's hooks_path would
// otherwise make every wrapped hook a silent no-op in a green deploy. Only
// HOOK.d may be missing (planSteps): the directory a stub is in always exists.
func checkHooksDir(hook string, s *settings.Settings) error {
	fi, err := os.Stat(s.HooksDir)
	problem := "does not exist"
	switch {
	case s.HooksDir == "":
		return nil
	case err == nil && !fi.IsDir():
		problem = "is not a directory"
	case !errors.Is(err, fs.ErrNotExist):
		return nil // unreadable: shim.Plan says why, in its own words
	}
	from, hint := hooksDirSource(s)
	return exitcode.Newf(exitcode.NoInput, "%s: hooks directory %s (%s) %s", hook, s.HooksDir, from, problem).
		WithHint("%s", hint)
}

// hooksDirSource says where the hooks directory's value came from, and how to
// fix it there.
func hooksDirSource(s *settings.Settings) (from, hint string) {
	const other = "the directory that holds the hook stubs (Kamal's default: .kamal/hooks)"
	switch src := s.Sources["hooks_dir"]; {
	case src == "--hooks-dir":
		return "from --hooks-dir", "pass --hooks-dir " + other
	case src == "HOOKSHIM_HOOKS_DIR":
		return "from HOOKSHIM_HOOKS_DIR", "set HOOKSHIM_HOOKS_DIR to " + other + ", or unset it"
	case strings.HasPrefix(src, "config/"):
		return "from hooks_path in " + src, "fix hooks_path in " + src + " (Kamal looks for its hooks there too), or pass --hooks-dir DIR (or set HOOKSHIM_HOOKS_DIR)"
	default:
		return "the default, .kamal/hooks in " + s.RepoDir, "run hookshim in the Kamal repository, as Kamal runs hooks, or pass --hooks-dir DIR (or set HOOKSHIM_HOOKS_DIR, or hooks_path in config/deploy.yml)"
	}
}

// runPlan is what `hookshim run` resolved about where the lock is and what
// to run: the settings, the lock's Spec, the steps, the calling Kamal, and the
// store (nil, with dial, for a hook that does not look at the lock).
type runPlan struct {
	resolved *settings.Settings
	spec     lockfile.Spec
	steps    []shim.Step
	kamal    shim.KamalEnv
	store    lockfile.Store
	dial     func(context.Context) (lockfile.Store, io.Closer, error)
}

// planRun resolves the settings (deploy.yml < KAMAL_* < HOOKSHIM_* < flags),
// the hook's steps, the calling Kamal's release and the lock store.
func planRun(p Process, o runOptions, log zerolog.Logger) (rp runPlan, err error) {
	if rp.kamal, err = shim.ReadKamalEnv(p.LookupEnv); err != nil {
		return rp, err
	}
	hook, command := o.Hook, o.Command
	looks := shim.LooksAtLock(hook)
	rp.resolved, err = resolveSettings(p, o.Where, settings.Need{Service: true, PrimaryHost: o.Root == "" && looks, HooksDir: command == nil, GroupHosts: shim.GroupHosts(hook)})
	if err != nil {
		return rp, err
	}
	s := rp.resolved
	rp.spec = lockfile.Spec{Service: s.Service, Destination: s.Destination, RunDir: s.RunDir}
	if err := lockfile.ValidateRunDir(rp.spec.RunDir); err != nil {
		// run_directory comes only from deploy.yml: a config error (78).
		return rp, exitcode.New(exitcode.Config, fmt.Errorf("%s: run_directory: %w", deployconfig.DeployFile, err))
	}
	if err := rp.spec.Validate(); err != nil {
		return rp, exitcode.New(exitcode.Usage, err)
	}
	if command == nil {
		if err := checkHooksDir(hook, s); err != nil {
			return rp, err
		}
	}
	if rp.steps, err = planSteps(s.HooksDir, hook, command, o.HookArgs); err != nil {
		return rp, err
	}
	if rp.kamal.Range, err = callerRange(p, o.Layout, rp.kamal, hook); err != nil {
		return rp, err
	}
	if looks {
		rp.store, rp.dial, err = lockStore(p, log, o.Root, o.RootFrom, o.SSH, s)
	}
	return rp, err
}

// newRunner builds the Runner of `hookshim run` (or of `hookshim waiter`,
// from the options stored with the job). stop ends the trapping of signals.
func newRunner(p Process, o runOptions) (r *shim.Runner, stop func(), err error) {
	log, err := newLogger(p, o.Log)
	if err != nil {
		return nil, nil, err
	}
	rp, err := planRun(p, o, log)
	if err != nil {
		return nil, nil, err
	}

	var sigs <-chan os.Signal
	stop = func() {}
	if p.Signals != nil {
		sigs, stop = p.Signals()
	}
	gitUser := gitUserName(p)
	performer := sync.OnceValue(func() string { return auditPerformer(p) })
	if o.Policy == shim.Hold {
		// A hold writes it into the lock: ask git while the lock is being read.
		go gitUser()
		go performer()
	}
	hostname, _ := os.Hostname()
	return &shim.Runner{
		Hook:             o.Hook,
		Steps:            rp.steps,
		Policy:           o.Policy,
		Wait:             o.Wait,
		Poll:             o.Poll,
		ConflictExitCode: o.ConflictExitCode,
		FromDir:          o.Command == nil,
		HooksDir:         rp.resolved.HooksDir,
		Spec:             rp.spec,
		Layouts:          shim.LiveLayouts(rp.kamal.Range, rp.spec.Destination),
		WaitManual:       o.WaitManual,
		Heartbeat:        o.Heartbeat,
		Store:            rp.store,
		Dial:             rp.dial,
		Kamal:            rp.kamal,
		GitUser:          gitUser,
		Revision:         gitRevision(p),
		Exec:             shim.Exec{Dir: workDir(p), Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr, Signals: sigs},
		Env:              p.Env,
		Log:              log,
		User:             loginName(p),
		Hostname:         hostname,
		PID:              os.Getpid(),
		Rerun:            func(flag, value string) string { return runAgain(o, "", flag, value) },
		Stamp:            selfStamp,
		Performer:        performer,
		Report:           func(err error) { exitcode.Report(stderrLines(p, o.Log.Format), err) },
	}, stop, nil
}

// loginName names the deployer in a hold message.
func loginName(p Process) string {
	for _, k := range []string{"USER", "LOGNAME"} {
		if v := p.Getenv(k); v != "" {
			return v
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}
