package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/internal/termsafe"
	"github.com/hookshim/hookshim/jobs"
	"github.com/hookshim/hookshim/lockfile"
)

func waitCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for deferred hooks, streaming their logs, and exit with their status",
		ArgsUsage: "[JOB...]",
		Description: `Follows the deferred hooks of the repository in the working directory (only
those of --service / --destination when given), or the jobs named: those still
waiting or running, and those that ended since the last hookshim wait reported
them. Their logs are streamed to standard output as they grow. A job already
reported is left out of the next wait: name it to see it again (hookshim wait
JOB; hookshim locks lists the ids).

In CI, so that nothing deferred is lost when the job ends:

    kamal setup && hookshim wait

Exit status: 0 every job succeeded (or there was none); the first failed job's
status otherwise (the hook's own; 75 for a job that expired waiting for the
lock; 70 for one whose waiter died); 75 when --timeout passed first; 66 a named
job does not exist; 65 a named job's record is corrupt.`,
		Flags: withLog([]cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "stop waiting after `D` (exit 75); 0 waits as long as the jobs do"},
			stateDirFlag(),
			serviceFlag("only the jobs of service `NAME`; env HOOKSHIM_SERVICE"),
			destinationFlag("only the jobs of `DESTINATION`; env HOOKSHIM_DESTINATION"),
		}),
		Action: func(c *cli.Context) error {
			return runWait(p, waitOptions{
				log:         readLogOptions(c, p),
				timeout:     c.Duration("timeout"),
				stateDir:    c.String("state-dir"),
				ids:         c.Args().Slice(),
				service:     flagOrEnv(c, p, "service", "HOOKSHIM_SERVICE").Value,
				destination: flagOrEnv(c, p, "destination", "HOOKSHIM_DESTINATION").Value,
			})
		},
	}
}

// waitOptions are `hookshim wait`'s command line and environment.
type waitOptions struct {
	log                  logOptions
	timeout              time.Duration // 0: as long as the jobs take
	stateDir             string        // --state-dir; "" for the default
	ids                  []string      // the jobs named; none for the repository's
	service, destination string        // only these jobs of the repository, when not ""
}

func runWait(p Process, o waitOptions) error {
	log, err := newLogger(p, o.log)
	if err != nil {
		return err
	}
	timeout := o.timeout
	dir, err := stateDir(p, o.stateDir)
	if err != nil {
		return err
	}
	var sel []jobs.Job
	if len(o.ids) > 0 {
		sel, err = namedJobs(p, dir, o.ids)
	} else {
		sel, err = repoJobs(p, o, log, dir)
	}
	if err != nil || len(sel) == 0 {
		return err
	}
	for _, j := range sel {
		if j.State.Pending() { // an ended job gets its one line at the end
			log.Info().Msgf("job %s: %s, %s (lock %s); log: %s", j.ID, j.Hook, jobs.Describe(j), j.Lock, j.LogPath())
		}
	}

	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	out := &jobs.Streams{W: p.Stdout, Prefix: len(sel) > 1}
	var firstErr error
	f := &jobs.Follower{
		Log: out.Write,
		Done: func(j jobs.Job) {
			out.Flush(j)
			if err := jobs.Result(j, jobByHand); err != nil {
				if firstErr == nil {
					firstErr = err
				} else {
					exitcode.Report(stderrLines(p, o.log.Format), err)
				}
			} else {
				log.Info().Msgf("job %s: %s succeeded%s", j.ID, j.Hook, orNote(jobs.RanFor(j), j.Error))
			}
			// An orphaned job whose hook still runs is reported again by the
			// next wait: its end is not known yet.
			if _, lv := jobs.HookProcess(j); lv == liveness.Alive {
				return
			}
			if err := jobs.MarkReported(j); err != nil {
				log.Debug().Msgf("job %s: marking it reported: %v", j.ID, err)
			}
		},
	}
	pending, err := f.Follow(ctx, sel)
	if err != nil && ctx.Err() == nil {
		return exitcode.New(exitcode.IOErr, err)
	}
	if len(pending) > 0 {
		var names []string
		for _, j := range pending {
			out.Flush(j)
			names = append(names, fmt.Sprintf("%s (%s, %s)", j.ID, j.Hook, jobs.Describe(j)))
		}
		if firstErr != nil {
			exitcode.Report(stderrLines(p, o.log.Format), firstErr)
		}
		return exitcode.Newf(exitcode.Conflict, "gave up waiting after %s; still pending: %s", timeout, strings.Join(names, ", ")).
			WithHint("they go on in the background; wait again with: hookshim wait")
	}
	return firstErr
}

// orNote is s, else ": note" (why a job that ran nothing succeeded).
func orNote(s, note string) string {
	if s == "" && note != "" {
		return ": " + note
	}
	return s
}

// namedJobs loads the jobs named by id, or says why one cannot be waited for.
func namedJobs(p Process, dir string, ids []string) ([]jobs.Job, error) {
	var sel []jobs.Job
	for _, id := range ids {
		if err := jobs.ValidateID(id); err != nil {
			return nil, exitcode.New(exitcode.Usage, err, "hookshim locks lists this machine's jobs")
		}
		j, err := jobs.Load(dir, id)
		var ce *jobs.CorruptError
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			return nil, notKept(p, dir, id)
		case isUnsafe(err):
			return nil, exitcode.New(exitcode.NoPerm, err)
		case errors.As(err, &ce):
			return nil, exitcode.New(exitcode.DataErr, fmt.Errorf("job %s: %w", id, err),
				"its log, if any: "+j.LogPath(), "the hook's outcome cannot be told from the record; check the log")
		case err != nil:
			return nil, exitcode.New(exitcode.IOErr, err)
		}
		sel = append(sel, j)
	}
	return sel, nil
}

// notKept is the error for job id, not in dir. When its id says it was
// recorded longer than the retention ago, the hint says it may have been
// removed since: a finished job is, then, and nothing else can tell.
func notKept(p Process, dir, id string) error {
	e := exitcode.Newf(exitcode.NoInput, "no deferred job %s in %s", id, dir)
	keep, err := jobsKeep(p)
	if err != nil {
		keep = jobs.DefaultKeep
	}
	if created, ok := jobs.Removed(id, keep, time.Now()); ok {
		e = e.WithHint("its id says it was recorded %s: if it ended, it was removed, as finished jobs are %s after they end (HOOKSHIM_JOBS_KEEP; 0 keeps them forever)",
			created.Format(lockfile.TimeLayout), jobs.Took(keep))
	}
	return e.WithHint("hookshim locks lists this machine's jobs")
}

// repoJobs are the jobs of the repository in the working directory (of
// --service and --destination when given) still pending or not yet reported;
// none is said in the log.
func repoJobs(p Process, o waitOptions, log zerolog.Logger, dir string) ([]jobs.Job, error) {
	all, err := jobs.List(dir)
	switch {
	case isUnsafe(err):
		return nil, exitcode.New(exitcode.NoPerm, err)
	case err != nil:
		return nil, exitcode.New(exitcode.IOErr, err)
	}
	repo := canonDir(workDir(p))
	service, dest := o.service, o.destination
	var sel []jobs.Job
	for _, j := range all {
		if j.State == jobs.Corrupt {
			log.Warn().Msgf("job %s: %s; cannot tell whose it is, so not waiting for it (its log: %s)", j.ID, j.Problem, j.LogPath())
			continue
		}
		if canonDir(j.RepoDir) != repo || (service != "" && j.Service != service) || (dest != "" && j.Destination != dest) {
			continue
		}
		if j.State.Pending() || !j.Reported {
			sel = append(sel, j)
		}
	}
	if len(sel) == 0 {
		log.Info().Msgf("no deferred hooks to wait for in %s", repo)
	}
	return sel, nil
}

// canonDir makes a directory comparable: absolute, symlinks resolved.
func canonDir(d string) string {
	if abs, err := filepath.Abs(d); err == nil {
		d = abs
	}
	if real, err := filepath.EvalSymlinks(d); err == nil {
		d = real
	}
	return d
}

// isUnsafe reports a state directory (or a job in it) that another user owns
// or can write: refused with exitcode.NoPerm, as OpenSSH refuses a ~/.ssh
// others can write.
func isUnsafe(err error) bool {
	var ue *jobs.UnsafeError
	return errors.As(err, &ue)
}

// jobByHand is the command line that runs a job's hook by hand: from its
// repository, its service and destination, its `--` command, each word
// quoted (see shellWords); or words that say so when that cannot be shown.
func jobByHand(j jobs.Job) string {
	words := []string{"hookshim", "run", "--service=" + j.Service}
	if j.Destination != "" {
		words = append(words, "--destination="+j.Destination)
	}
	words = append(words, j.Hook)
	if len(j.Command) > 0 {
		words = append(append(words, "--"), j.Command...)
	}
	if line := cdAnd(j.RepoDir, words); line != "" {
		return line
	}
	return "hookshim run " + j.Hook + " with the same command, from " + termsafe.Clean(j.RepoDir)
}
