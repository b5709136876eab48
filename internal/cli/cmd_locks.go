package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/hookshim/hookshim/internal/deployconfig"
	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/internal/settings"
	"github.com/hookshim/hookshim/lockfile"
)

// Defaults of `hookshim locks`.
const (
	locksDefaultStaleAfter = time.Hour
	locksDefaultParallel   = 16
	locksDefaultTimeout    = 30 * time.Second
)

// localTargetName is the HOST column for a directory on this machine.
const localTargetName = "local"

func locksCommand(p Process) *cli.Command {
	// The settings flags that say which hosts and how to reach them; the
	// service, hooks and layout flags mean nothing to a scan of every lock.
	where := settingsFlags(true, "host", "destination", "ssh-user", "ssh-port", "ssh-proxy", "service")
	flags := append(where,
		&cli.StringSliceFlag{Name: "run-dir", Usage: "also look for Kamal 1.x locks in run directory `DIR` (relative to the home, or absolute); repeatable; deploy.yml's run_directory is added by itself"},
		&cli.DurationFlag{Name: "stale-after", Value: locksDefaultStaleAfter, Usage: "a held lock older than `AGE` is stale; 0 means never"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON document (schema_version 1) instead of the table (same as --format json)"},
		&cli.StringFlag{Name: "format", Value: "table", Usage: "`FORMAT` of the output: table, json, or prometheus (the text exposition format, e.g. for node_exporter's textfile collector)"},
		&cli.BoolFlag{Name: "wide", Usage: "show every value of the table whole; by default it fits 120 columns (or a narrower terminal), cutting messages and holders with …"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout, atomically (a temporary file in its directory, then a rename), mode 0644"},
		&cli.IntFlag{Name: "parallel", Value: locksDefaultParallel, Usage: "read at most `N` hosts at once"},
		&cli.DurationFlag{Name: "timeout", Value: locksDefaultTimeout, Usage: "give up on a host after `D`; it is then shown as unreachable"},
		&cli.BoolFlag{Name: "fail-if-held", Usage: "exit 75 when any lock is held (every host read), e.g. as a CI gate"},
		stateDirFlag(),
		&cli.StringFlag{Name: "now", Usage: "compute ages and staleness as of `TIME` (RFC 3339) instead of now, for reproducible output"},
	)
	return &cli.Command{
		Name:      "locks",
		Usage:     "show Kamal's deploy locks, every layout, on hosts over SSH or in a directory here, and this machine's deferred hooks",
		ArgsUsage: " ",
		Description: `Where it looks, first match wins:
  --root DIR            DIR on this machine stands in for the SSH user's home (HOST "local")
  --host HOST ...       those hosts over SSH, one round trip each, in parallel
  HOOKSHIM_ROOT=DIR     as --root
  a Kamal repository    (config/deploy.yml here, or HOOKSHIM_HOSTS / KAMAL_HOSTS set) its hosts over SSH
  otherwise             the home directory ($HOME) on this machine

STATE is held (automatic Kamal lock), manual (kamal lock acquire -m), hookshim-hold
(taken by hookshim for a hook), no-details (directory without details: holder
unknown), unreadable (anything else at a lock path), stale (any of these, older
than --stale-after; MESSAGE still tells which), or unreachable (the host could not
be read; MESSAGE says why).

--format prometheus writes gauges (hookshim_lock_held, hookshim_lock_age_seconds,
hookshim_lock_stale, hookshim_host_up, hookshim_deferred_jobs, ...): an unreachable
host or unlistable jobs are samples (hookshim_host_up 0), not a failure. --service
splits lock names into the service and destination labels.

Exit status: 0 every host was read, locks or not (with --format prometheus: the
output was written); 69 a host could not be read (every host still shown); 75 with
--fail-if-held when a lock is held; 64 bad flags or hosts; 66 --root is not a
directory or the --ssh-config file does not exist; 73 or 77 --output cannot be written; 78 config/deploy.yml cannot be used.`,
		Flags: withCommon(flags...),
		Action: func(c *cli.Context) error {
			o, err := readLocksOptions(c, p)
			if err != nil {
				return err
			}
			return runLocks(p, o)
		},
	}
}

// locksOptions are the checked flags and environment of one `hookshim locks` run.
type locksOptions struct {
	log        logOptions
	root       string // --root, else HOOKSHIM_ROOT unless --host is given; "" for none
	rootFrom   string // which of the two root is
	hostGiven  bool   // --host
	where      whereOptions
	ssh        sshOptions
	stateDir   string // --state-dir; "" for the default
	staleAfter time.Duration
	parallel   int
	timeout    time.Duration
	now        time.Time // --now; zero means the time the hosts were read
	runDirs    []string
	format     string // formatTable, formatJSON or formatPrometheus
	output     string // --output FILE; "" is stdout
	failIfHeld bool
	wide       bool // --wide: the table's values whole, however wide
}

// Formats of `hookshim locks --format`.
const (
	formatTable      = "table"
	formatJSON       = "json"
	formatPrometheus = "prometheus"
)

// locksTarget is one place to read, and how.
type locksTarget struct {
	target lockreport.Target
	store  lockfile.Store
}

// readLocksOptions reads `hookshim locks`'s command line and environment,
// checking them in the order they are used.
func readLocksOptions(c *cli.Context, p Process) (locksOptions, error) {
	if c.Args().Present() {
		return locksOptions{}, exitcode.Newf(exitcode.Usage, "hookshim locks: unexpected argument %q", c.Args().First()).
			WithHint("name hosts with --host HOST, a directory with --root DIR")
	}
	lo := readLogOptions(c, p)
	if _, err := newLogger(p, lo); err != nil {
		return locksOptions{}, err
	}
	o, err := locksFlags(c)
	if err != nil {
		return o, err
	}
	o.log, o.where, o.ssh, o.stateDir = lo, readWhere(c), readSSHOptions(c, p), c.String("state-dir")
	return o, locksPlaceFlags(c, p, &o)
}

func runLocks(p Process, opts locksOptions) error {
	log, err := newLogger(p, opts.log)
	if err != nil {
		return err
	}
	targets, s, err := locksTargets(p, log, opts)
	if err != nil {
		return err
	}
	if s.HaveDeployFile && s.Sources["run_dir"] != "default" && s.RunDir != "" && s.RunDir != lockfile.DefaultRunDir {
		if err := lockfile.ValidateRunDir(s.RunDir); err != nil {
			return exitcode.New(exitcode.Config, fmt.Errorf("%s: run_directory: %w", deployconfig.DeployFile, err))
		}
		if !slices.Contains(opts.runDirs, s.RunDir) {
			opts.runDirs = append(opts.runDirs, s.RunDir)
		}
	}

	results := scanTargets(context.Background(), log, targets, opts)
	if opts.now.IsZero() {
		opts.now = time.Now().UTC() // ages as of when the hosts answered
	}
	hostname, _ := os.Hostname()
	report := &lockreport.Report{Now: opts.now, StaleAfter: opts.staleAfter, Results: results, Processes: holdProcesses(results, hostname)}
	var hidden int
	report.Jobs, hidden, report.JobsErr = listJobsForLocks(p, opts.stateDir, jobsEndedSince(opts))
	if hidden > 0 {
		log.Info().Msgf("deferred jobs that ended more than 24h ago, not listed: %d; hookshim locks --json lists every job kept", hidden)
	}

	if err := writeLocksReport(p, report, opts, s.Service); err != nil {
		return err
	}
	return locksStatus(report, opts)
}

// locksFlags reads and checks the flags that shape the report.
func locksFlags(c *cli.Context) (locksOptions, error) {
	o := locksOptions{
		staleAfter: c.Duration("stale-after"),
		parallel:   c.Int("parallel"),
		timeout:    c.Duration("timeout"),
		format:     c.String("format"),
		output:     c.String("output"),
		failIfHeld: c.Bool("fail-if-held"),
		wide:       c.Bool("wide"),
	}
	switch o.format {
	case formatTable, formatJSON, formatPrometheus:
	default:
		return o, exitcode.Newf(exitcode.Usage, "--format %q is not a format", o.format).
			WithHint("use table, json or prometheus")
	}
	if c.Bool("json") {
		if isSet(c, "format") && o.format != formatJSON {
			return o, exitcode.Newf(exitcode.Usage, "--json and --format %s contradict each other", o.format).
				WithHint("pass one of them")
		}
		o.format = formatJSON
	}
	if o.wide && o.format != formatTable {
		return o, exitcode.Newf(exitcode.Usage, "--wide shapes the table; --format %s always shows every value whole", o.format).
			WithHint("drop --wide")
	}
	if isSet(c, "output") && strings.TrimSpace(o.output) == "" {
		return o, exitcode.Newf(exitcode.Usage, "--output is empty").
			WithHint("name the file to write, e.g. --output /var/lib/node_exporter/textfile_collector/hookshim.prom")
	}
	if o.parallel < 1 {
		return o, exitcode.Newf(exitcode.Usage, "--parallel %d: need at least 1", o.parallel).
			WithHint("--parallel N reads at most N hosts at once (default %d)", locksDefaultParallel)
	}
	if o.timeout <= 0 {
		return o, exitcode.Newf(exitcode.Usage, "--timeout %s: need a positive duration", o.timeout).
			WithHint("pass a duration such as 10s or 1m (default %s)", locksDefaultTimeout)
	}
	if isSet(c, "now") {
		t, err := time.Parse(time.RFC3339, c.String("now"))
		if err != nil {
			return o, exitcode.Newf(exitcode.Usage, "--now %q is not an RFC 3339 time", c.String("now")).
				WithHint("write it as 2026-11-27T07:00:00Z")
		}
		o.now = t.UTC()
	}
	for _, d := range c.StringSlice("run-dir") {
		d = strings.TrimSpace(d)
		if d == "" {
			return o, exitcode.Newf(exitcode.Usage, "--run-dir is empty").
				WithHint("name a Kamal 1.x run_directory, e.g. --run-dir .deploy")
		}
		if err := lockfile.ValidateRunDir(d); err != nil {
			return o, exitcode.New(exitcode.Usage, fmt.Errorf("--run-dir: %w", err))
		}
		d = strings.TrimSuffix(d, "/")
		if d == "" {
			d = "/"
		}
		if !slices.Contains(o.runDirs, d) {
			o.runDirs = append(o.runDirs, d)
		}
	}
	return o, nil
}

// locksPlaceFlags reads and checks where to look (locksTargets): --root;
// else --host; else HOOKSHIM_ROOT.
func locksPlaceFlags(c *cli.Context, p Process, o *locksOptions) error {
	rootFlag, hostFlag := isSet(c, "root"), isSet(c, "host")
	if rootFlag && hostFlag {
		return exitcode.Newf(exitcode.Usage, "--root and --host cannot be used together").
			WithHint("--root DIR reads a directory on this machine, --host HOST reads a host over SSH")
	}
	o.hostGiven = hostFlag
	if hostFlag && !slices.ContainsFunc(c.StringSlice("host"), func(h string) bool { return strings.TrimSpace(h) != "" }) {
		return exitcode.Newf(exitcode.Usage, "--host is empty").
			WithHint("name a host as host, user@host or host:port")
	}
	switch {
	case rootFlag:
		o.root, o.rootFrom = c.String("root"), "--root"
		if o.root == "" {
			return exitcode.Newf(exitcode.Usage, "--root is empty").
				WithHint("pass the directory that stands in for the SSH user's home")
		}
	case !hostFlag:
		if v := p.Getenv("HOOKSHIM_ROOT"); v != "" {
			o.root, o.rootFrom = v, "HOOKSHIM_ROOT"
		}
	}
	return nil
}

// locksTargets decides where to look: o.root; else, with --host or in a
// Kamal repository, the hosts of --host or deploy.yml (or HOOKSHIM_HOSTS,
// KAMAL_HOSTS) over SSH; else the home directory on this machine.
func locksTargets(p Process, log zerolog.Logger, o locksOptions) ([]locksTarget, *settings.Settings, error) {
	root, rootFrom := o.root, o.rootFrom
	remote := root == "" && (o.hostGiven || inKamalRepo(p))
	s, err := resolveSettings(p, o.where, settings.Need{Hosts: remote})
	if err != nil {
		return nil, nil, err
	}

	if !remote {
		if root == "" {
			root, rootFrom = p.Getenv("HOME"), "HOME"
			if root == "" {
				return nil, nil, exitcode.Newf(exitcode.Usage, "no place to look for locks: HOME is not set and this is no Kamal repository").
					WithHint("pass --root DIR for a directory on this machine, or --host HOST for a host")
			}
		}
		t, err := localTarget(workDir(p), root, rootFrom)
		if err != nil {
			return nil, nil, err
		}
		return []locksTarget{t}, s, nil
	}

	client, err := sshClient(p, log, o.ssh, s)
	if err != nil {
		return nil, nil, err
	}
	targets := make([]locksTarget, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		t, err := hostTarget(h, s)
		if err != nil {
			return nil, nil, err
		}
		targets = append(targets, locksTarget{
			target: lockreport.Target{Name: h, Transport: lockreport.TransportSSH, Address: t.String()},
			store:  lockfile.Remote{Host: h, Runner: lockfile.OnHost(client, t)},
		})
	}
	return targets, s, nil
}

// inKamalRepo reports whether the working directory deploys with Kamal, or the
// environment names the hosts: then the locks to show are on those hosts.
func inKamalRepo(p Process) bool {
	if strings.TrimSpace(p.Getenv("HOOKSHIM_HOSTS")) != "" || strings.TrimSpace(p.Getenv("KAMAL_HOSTS")) != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(workDir(p), filepath.FromSlash(deployconfig.DeployFile)))
	return err == nil
}

// localTarget is a directory on this machine standing in for the SSH user's home.
// A relative root is taken relative to dir, the working directory.
func localTarget(dir, root, from string) (locksTarget, error) {
	abs := root
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, abs)
	}
	abs = filepath.Clean(abs)
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return locksTarget{}, exitcode.Newf(exitcode.NoInput, "%s %s is not a directory", from, root).
			WithHint("pass --root DIR, the directory that stands in for the SSH user's home")
	}
	return locksTarget{
		target: lockreport.Target{Name: localTargetName, Transport: lockreport.TransportLocal, Address: abs},
		store:  lockfile.Local{Root: abs},
	}, nil
}

// scanTargets reads every target, at most opts.parallel at once, each within
// opts.timeout. A target that cannot be read is a result with its error.
func scanTargets(ctx context.Context, log zerolog.Logger, targets []locksTarget, opts locksOptions) []lockreport.Result {
	results := make([]lockreport.Result, len(targets))
	var g errgroup.Group // every target is read whatever the others give: no error stops the group
	g.SetLimit(opts.parallel)
	for i, t := range targets {
		g.Go(func() error {
			start := time.Now()
			tctx, cancel := context.WithTimeout(ctx, opts.timeout)
			defer cancel()
			locks, err := t.store.Scan(tctx, opts.runDirs...)
			if err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("no answer from %s within %s (--timeout)", t.target.Address, opts.timeout)
			}
			res := lockreport.Result{Target: t.target, Locks: locks, Err: err, Elapsed: time.Since(start)}
			if err != nil {
				res.Locks = nil
				log.Debug().Str("host", t.target.Name).Dur("elapsed", res.Elapsed).Err(err).Msg("cannot read locks")
			} else {
				log.Debug().Str("host", t.target.Name).Dur("elapsed", res.Elapsed).Int("entries", len(locks)).Msg("read locks")
			}
			results[i] = res
			return nil
		})
	}
	g.Wait()
	return results
}

// holdProcesses tells, for every hookshim hold taken on this machine
// (hostname), whether its process still runs, judged as hookshim unlock
// judges it (checkHold). Only those holds read /proc, once per hold however
// many locks record it; locks of any other kind, and holds of other
// machines, cost nothing.
func holdProcesses(results []lockreport.Result, hostname string) map[lockfile.Hold]lockreport.Process {
	if hostname == "" {
		return nil
	}
	var out map[lockfile.Hold]lockreport.Process
	for _, res := range results {
		for _, l := range res.Locks {
			// A hold of this machine names it in its message: no other lock
			// is parsed again.
			if l.Details == nil || !strings.Contains(l.Details.Message, hostname) {
				continue
			}
			h, ok := l.Hold()
			if !ok || !l.State.IsHeld() || h.Host != hostname {
				continue
			}
			if _, done := out[h]; done {
				continue
			}
			if out == nil {
				out = map[lockfile.Hold]lockreport.Process{}
			}
			switch checkHold(h).Liveness {
			case liveness.Dead:
				out[h] = lockreport.ProcessGone
			case liveness.Alive:
				out[h] = lockreport.ProcessRunning
			default:
				out[h] = lockreport.ProcessUnknown
			}
		}
	}
	return out
}

// checkHold tells whether the process of hold h, taken on this machine, or
// its hook's, still runs (internal/liveness): what `hookshim unlock` and
// `hookshim locks` both go by.
func checkHold(h lockfile.Hold) liveness.Verdict {
	return liveness.Check(liveness.Hold{Token: h.Token, PID: h.PID, Start: h.Start, SID: h.SID, Boot: h.Boot})
}

// locksStatus is the exit status once the report is out: 69 when a host could
// not be read; else 75 with --fail-if-held when a lock is held; else 74 when
// the deferred jobs could not be listed; else 0.
func locksStatus(r *lockreport.Report, opts locksOptions) error {
	sum := r.Summary()
	if opts.format == formatPrometheus {
		// Unreachable hosts and unlistable jobs are samples in the output
		// (hookshim_host_up 0, hookshim_deferred_jobs_up 0): a textfile
		// refreshed from a timer must not turn them into a failed unit.
		if opts.failIfHeld && sum.Locks > 0 {
			return exitcode.Newf(exitcode.Conflict, "%s held (--fail-if-held)", pluralLocks(sum.Locks))
		}
		return nil
	}
	if bad := r.Unreachable(); len(bad) > 0 {
		e := exitcode.Newf(exitcode.Unavailable, "could not read the locks on %d of %s: %s",
			len(bad), pluralHosts(sum.Hosts), strings.Join(bad, ", ")).
			WithHint("the rows marked unreachable say why; the other hosts are listed in full")
		var errs []error
		for _, res := range r.Results {
			errs = append(errs, res.Err)
		}
		if h := unresolvedHint(errs...); h != "" {
			e.WithHint("%s", h)
		}
		return e
	}
	if opts.failIfHeld && sum.Locks > 0 {
		return exitcode.Newf(exitcode.Conflict, "%s held (--fail-if-held)", pluralLocks(sum.Locks)).
			WithHint("see the list above; Kamal's own `kamal lock release` frees a stale lock")
	}
	if r.JobsErr != nil {
		return exitcode.New(exitcode.IOErr, fmt.Errorf("cannot list the deferred jobs: %w", r.JobsErr))
	}
	return nil
}

func pluralLocks(n int) string {
	if n == 1 {
		return "1 lock"
	}
	return fmt.Sprintf("%d locks", n)
}

func pluralHosts(n int) string {
	if n == 1 {
		return "1 host"
	}
	return fmt.Sprintf("%d hosts", n)
}
