package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/jobs"
)

// orphanedStatus is `hookshim wait`'s status for a job whose waiter died: its
// outcome is unknown.
const orphanedStatus = exitcode.Software

func waitCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for deferred hooks, streaming their logs, and exit with their status",
		ArgsUsage: "[JOB...]",
		Description: `Follows the deferred hooks of the repository in the working directory (only
those of --service / --destination when given), or the jobs named: those still
waiting or running, and those that ended since the last hookshim wait reported
them. Their logs are streamed to standard output as they grow.

In CI, so that nothing deferred is lost when the job ends:

    kamal setup && hookshim wait

Exit status: 0 every job succeeded (or there was none); the first failed job's
status otherwise (the hook's own; 75 for a job that expired waiting for the
lock; 70 for one whose waiter died); 75 when --timeout passed first; 66 a named
job does not exist; 65 a named job's record is corrupt.`,
		Flags: withCommon(
			&cli.DurationFlag{Name: "timeout", Usage: "stop waiting after `D` (exit 75); 0 waits as long as the jobs do"},
			&cli.StringFlag{Name: "state-dir", Usage: "deferred jobs are in `DIR` (default $XDG_STATE_HOME/hookshim, else ~/.local/state/hookshim); env HOOKSHIM_STATE_DIR"},
			&cli.StringFlag{Name: "service", Usage: "only the jobs of service `NAME`; env HOOKSHIM_SERVICE"},
			&cli.StringFlag{Name: "destination", Aliases: []string{"d"}, Usage: "only the jobs of `DESTINATION`; env HOOKSHIM_DESTINATION"},
		),
		Action: func(c *cli.Context) error { return waitAction(c, p) },
	}
}

func waitAction(c *cli.Context, p Process) error {
	log, err := newLogger(c, p)
	if err != nil {
		return err
	}
	timeout := c.Duration("timeout")
	if timeout < 0 {
		return exitcode.Newf(exitcode.Usage, "--timeout %s is negative", timeout)
	}
	dir, err := stateDir(c, p)
	if err != nil {
		return err
	}
	var sel []jobs.Job
	if c.NArg() > 0 {
		for _, id := range c.Args().Slice() {
			if err := jobs.ValidateID(id); err != nil {
				return exitcode.New(exitcode.Usage, err, "hookshim locks lists this machine's jobs")
			}
			j, err := jobs.Load(dir, id)
			var ce *jobs.CorruptError
			switch {
			case errors.Is(err, jobs.ErrNotFound):
				return exitcode.Newf(exitcode.NoInput, "no deferred job %s in %s", id, dir).
					WithHint("hookshim locks lists this machine's jobs")
			case isUnsafe(err):
				return exitcode.New(exitcode.NoPerm, err)
			case errors.As(err, &ce):
				return exitcode.New(exitcode.DataErr, fmt.Errorf("job %s: %w", id, err),
					"its log, if any: "+j.LogPath(), "the hook's outcome cannot be told from the record; check the log")
			case err != nil:
				return exitcode.New(exitcode.IOErr, err)
			}
			sel = append(sel, j)
		}
	} else {
		all, err := jobs.List(dir)
		switch {
		case isUnsafe(err):
			return exitcode.New(exitcode.NoPerm, err)
		case err != nil:
			return exitcode.New(exitcode.IOErr, err)
		}
		repo := canonDir(workDir(p))
		service := flagOrEnv(c, p, "service", "HOOKSHIM_SERVICE")
		dest := flagOrEnv(c, p, "destination", "HOOKSHIM_DESTINATION")
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
			return nil
		}
	}
	for _, j := range sel {
		log.Info().Msgf("job %s: %s, %s (lock %s); log: %s", j.ID, j.Hook, describeJob(j), j.Lock, j.LogPath())
	}

	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	out := &jobStreams{w: p.Stdout, prefix: len(sel) > 1}
	var firstErr error
	f := &jobs.Follower{
		Log: out.write,
		Done: func(j jobs.Job) {
			out.flush(j)
			if err := jobResult(j); err != nil {
				if firstErr == nil {
					firstErr = err
				} else {
					log.Error().Msg(err.Error())
				}
			} else {
				log.Info().Msgf("job %s: %s succeeded%s", j.ID, j.Hook, ranFor(j))
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
			out.flush(j)
			names = append(names, fmt.Sprintf("%s (%s, %s)", j.ID, j.Hook, describeJob(j)))
		}
		if firstErr != nil {
			log.Error().Msg(firstErr.Error())
		}
		return exitcode.Newf(exitcode.Conflict, "gave up waiting after %s; still pending: %s", timeout, strings.Join(names, ", ")).
			WithHint("they go on in the background; wait again with: hookshim wait")
	}
	return firstErr
}

// jobResult is nil for a job that succeeded, else the error that says which
// job failed, how, and carries the status to exit with.
func jobResult(j jobs.Job) error {
	status := 1
	if j.ExitStatus != nil {
		status = *j.ExitStatus
	}
	switch j.State {
	case jobs.Succeeded:
		return nil
	case jobs.Expired:
		return exitcode.Newf(exitcode.Conflict, "job %s (%s) expired: %s; log: %s", j.ID, j.Hook, orText(j.Error, "the lock was not released in time"), j.LogPath()).
			WithHint("run it by hand once the lock is free: %s", jobByHand(j))
	case jobs.Orphaned:
		what := "while it waited for the lock: the hook was not run"
		if j.Recorded == jobs.Running {
			what = "while the hook ran: its outcome is unknown"
		}
		pid := ""
		if j.WaiterPID != 0 {
			pid = fmt.Sprintf(" (pid %d)", j.WaiterPID)
		}
		return exitcode.Newf(orphanedStatus, "job %s (%s) is orphaned: its waiter%s died %s; it is not run again automatically; log: %s", j.ID, j.Hook, pid, what, j.LogPath()).
			WithHint("if it still needs to run: %s", jobByHand(j))
	case jobs.Failed:
		if j.Started == nil {
			if status == 0 {
				status = 1
			}
			return exitcode.Newf(status, "job %s (%s) failed: %s; log: %s", j.ID, j.Hook, orText(j.Error, "it could not be run"), j.LogPath())
		}
		return exitcode.Newf(status, "job %s (%s) failed with exit status %d%s; log: %s", j.ID, j.Hook, status, ranFor(j), j.LogPath())
	}
	return exitcode.Newf(exitcode.Software, "job %s (%s) ended in state %s; log: %s", j.ID, j.Hook, j.State, j.LogPath())
}

func describeJob(j jobs.Job) string {
	switch j.State {
	case jobs.Starting, jobs.Waiting:
		return "waiting for the lock until " + j.Deadline.UTC().Format(time.RFC3339)
	case jobs.Running:
		return "running"
	case jobs.Orphaned:
		return "orphaned (its waiter died)"
	}
	return "ended: " + string(j.State)
}

func ranFor(j jobs.Job) string {
	if d := j.Duration(); d > 0 {
		return " after running " + d.Round(time.Millisecond).String()
	}
	return ""
}

func orText(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
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

// jobStreams writes jobs' logs to one stream: as they are when there is one
// job, each line prefixed by its job id when there are several.
type jobStreams struct {
	w       io.Writer
	prefix  bool
	partial map[string][]byte
}

func (s *jobStreams) write(j jobs.Job, b []byte) {
	if !s.prefix {
		_, _ = s.w.Write(b)
		return
	}
	if s.partial == nil {
		s.partial = map[string][]byte{}
	}
	buf := append(s.partial[j.ID], b...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(s.w, "%s| %s\n", j.ID, buf[:i])
		buf = buf[i+1:]
	}
	s.partial[j.ID] = append([]byte(nil), buf...)
}

// flush writes a job's unfinished last line.
func (s *jobStreams) flush(j jobs.Job) {
	if rest := s.partial[j.ID]; len(rest) > 0 {
		fmt.Fprintf(s.w, "%s| %s\n", j.ID, rest)
		delete(s.partial, j.ID)
	}
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
	return "hookshim run " + j.Hook + " with the same command, from " + lockreport.Clean(j.RepoDir)
}
