package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/deployconfig"
	"github.com/hookshim/hookshim/internal/exitcode"
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
			&cli.BoolFlag{Name: "wait-manual", EnvVars: []string{"HOOKSHIM_WAIT_MANUAL"}, Usage: "with --wait, wait for a manual lock (kamal lock acquire -m) too, which Kamal's own --lock-wait refuses to do"},
			&cli.DurationFlag{Name: "heartbeat", Value: shim.DefaultHeartbeat, Usage: "while waiting for a lock, say every `D` who still holds it and how long the wait has left"},
			&cli.DurationFlag{Name: "poll", Value: time.Second, Usage: "look at a held lock every `D` while waiting"},
			&cli.IntFlag{Name: "conflict-exit-code", Value: exitcode.Conflict, Usage: "exit status `N` when the hook is refused because of the lock"},
			// Deferred hooks (defer_run.go).
			&cli.DurationFlag{Name: "defer-timeout", Value: defaultDeferTimeout, Usage: "a deferred hook expires, as failed, when the lock is not released within `D`; env HOOKSHIM_DEFER_TIMEOUT"},
			&cli.StringFlag{Name: "state-dir", Usage: "keep deferred hooks' jobs in `DIR` (default $XDG_STATE_HOME/hookshim, else ~/.local/state/hookshim); env HOOKSHIM_STATE_DIR"},
		)...),
		Action: func(c *cli.Context) error { return runAction(c, p) },
	}
}

func runAction(c *cli.Context, p Process) error {
	log, err := newLogger(c, p)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		return exitcode.Newf(exitcode.Usage, "hookshim run: which hook? none was named").
			WithHint("hookshim run post-deploy, or hookshim run post-deploy -- COMMAND")
	}
	hook, rest := args[0], args[1:]
	if err := shim.ValidateHook(hook); err != nil {
		return err
	}
	var command, hookArgs []string
	if len(rest) > 0 && rest[0] == "--" {
		command = rest[1:]
		if len(command) == 0 {
			return exitcode.Newf(exitcode.Usage, "hookshim run %s: nothing after --", hook).
				WithHint("hookshim run %s -- COMMAND [ARG...]", hook)
		}
	} else {
		hookArgs = rest
	}
	policy, err := shim.ParsePolicy(flagOrEnv(c, p, "policy", "HOOKSHIM_POLICY"))
	if err != nil {
		return err
	}
	if err := shim.CheckDeferrable(policy, hook); err != nil {
		return err
	}
	wait, err := durationFlagOrEnv(c, p, "wait", "HOOKSHIM_WAIT")
	if err != nil {
		return err
	}
	if code := c.Int("conflict-exit-code"); code < 1 || code > 255 {
		return exitcode.Newf(exitcode.Usage, "--conflict-exit-code %d is not an exit status", code).
			WithHint("pass a number from 1 to 255")
	}
	kamal, err := shim.ReadKamalEnv(p.LookupEnv)
	if err != nil {
		return err
	}
	root := flagOrEnv(c, p, "root", "HOOKSHIM_ROOT")
	looks := shim.LooksAtLock(hook)
	settings, err := resolveSettings(c, p, deployconfig.Need{Service: true, PrimaryHost: root == "" && looks, HooksDir: command == nil, GroupHosts: shim.GroupHosts(hook)})
	if err != nil {
		return err
	}
	spec := lockfile.Spec{Service: settings.Service, Destination: settings.Destination, RunDir: settings.RunDir}
	if err := lockfile.ValidateRunDir(spec.RunDir); err != nil {
		// run_directory comes only from deploy.yml: a config error (78).
		return exitcode.New(exitcode.Config, fmt.Errorf("%s: run_directory: %w", deployconfig.DeployFile, err))
	}
	if err := spec.Validate(); err != nil {
		return exitcode.New(exitcode.Usage, err)
	}
	steps, err := shim.Plan(settings.HooksDir, hook, command, hookArgs)
	if err != nil {
		return err
	}
	if kamal.Range, err = callerRange(c, p, kamal, hook); err != nil {
		return err
	}
	var store lockfile.Store
	var dial func(context.Context) (lockfile.Store, io.Closer, error)
	if looks {
		if store, dial, err = lockStore(c, p, root, settings); err != nil {
			return err
		}
	}

	var sigs <-chan os.Signal
	if p.Signals != nil {
		ch, stop := p.Signals()
		defer stop()
		sigs = ch
	}
	gitUser := gitUserName(p)
	performer := sync.OnceValue(func() string { return auditPerformer(p) })
	if policy == shim.Hold {
		// A hold writes it into the lock: ask git while the lock is being read.
		go gitUser()
		go performer()
	}
	hostname, _ := os.Hostname()
	r := &shim.Runner{
		Hook:             hook,
		Steps:            steps,
		Policy:           policy,
		Wait:             wait,
		Poll:             c.Duration("poll"),
		ConflictExitCode: c.Int("conflict-exit-code"),
		FromDir:          command == nil,
		HooksDir:         settings.HooksDir,
		Spec:             spec,
		Layouts:          shim.LiveLayouts(kamal.Range, spec.Destination),
		WaitManual:       c.Bool("wait-manual"),
		Heartbeat:        c.Duration("heartbeat"),
		Store:            store,
		Dial:             dial,
		Kamal:            kamal,
		GitUser:          gitUser,
		Revision:         gitRevision(p),
		Exec:             shim.Exec{Dir: workDir(p), Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr, Signals: sigs},
		Env:              p.Env,
		Log:              log,
		User:             loginName(p),
		Hostname:         hostname,
		PID:              os.Getpid(),
		Rerun:            func(flag, value string) string { return runAgain(c, "", flag, value) },
		Stamp:            selfStamp,
		Performer:        performer,
	}
	// Deferred hooks (defer_run.go): sets r.Defer and r.Watch; in `hookshim
	// waiter`, runs the deferred job itself (done is then true).
	if done, err := setupDefer(c, p, r); done || err != nil {
		return err
	}
	return r.Run(context.Background())
}

// durationFlagOrEnv reads a duration flag, falling back to an environment variable.
func durationFlagOrEnv(c *cli.Context, p Process, flag, env string) (time.Duration, error) {
	if isSet(c, flag) {
		return c.Duration(flag), nil
	}
	v, ok := p.LookupEnv(env)
	if !ok || v == "" {
		return c.Duration(flag), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, exitcode.Newf(exitcode.Usage, "%s=%q is not a duration", env, v).WithHint("use a duration such as 30s or 5m")
	}
	return d, nil
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
