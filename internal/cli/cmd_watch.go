package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/jobs"
)

// errCallerGone ends a watch whose standard input reached end-of-file.
var errCallerGone = errors.New("standard input ended")

func watchCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "wait until a lock directory is gone, learning of it from file system events (run on the lock's host)",
		ArgsUsage: "LOCKDIR",
		Description: `Returns, exit 0, the moment LOCKDIR (relative to --root, else to the working
directory) no longer exists; at once if it does not exist. A deferred hook's
waiter runs it on the lock's host over SSH, so that the hook starts within
moments of the release instead of at the next poll.

Exit status: 0 gone; 75 --timeout passed (or, with --until-eof, standard input
ended) with LOCKDIR still there; 74 the directory cannot be watched.`,
		Flags: withLog([]cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "give up after `D` (0: never)"},
			&cli.BoolFlag{Name: "until-eof", Usage: "also give up when standard input reaches end-of-file (the caller over SSH went away)"},
		}, rootFlag()),
		Action: func(c *cli.Context) error {
			return runWatch(p, watchOptions{
				log:      readLogOptions(c, p),
				args:     c.Args().Slice(),
				root:     flagOrEnv(c, p, "root", "HOOKSHIM_ROOT").Value,
				timeout:  c.Duration("timeout"),
				untilEOF: c.Bool("until-eof"),
			})
		},
	}
}

// watchOptions are `hookshim watch`'s command line and environment.
type watchOptions struct {
	log      logOptions
	args     []string // LOCKDIR, alone
	root     string   // --root or HOOKSHIM_ROOT
	timeout  time.Duration
	untilEOF bool
}

func runWatch(p Process, o watchOptions) error {
	if len(o.args) != 1 {
		return exitcode.Newf(exitcode.Usage, "hookshim watch: name one LOCKDIR (got %d arguments)", len(o.args)).
			WithHint("hookshim watch .kamal/lock-app")
	}
	arg := o.args[0]
	path := arg
	if !filepath.IsAbs(path) {
		base := o.root
		if base == "" {
			base = workDir(p)
		} else if !filepath.IsAbs(base) {
			base = filepath.Join(workDir(p), base)
		}
		path = filepath.Join(base, path)
	}
	timeout := o.timeout
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, timeout)
		defer stop()
	}
	if o.untilEOF && p.Stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, p.Stdin)
			cancel(errCallerGone)
		}()
	}
	log, err := newLogger(p, o.log)
	if err != nil {
		return err
	}
	start := time.Now()
	err = jobs.WaitGoneArmed(ctx, path, func() {
		log.Debug().Msgf("watching %s: armed, waiting for it to go", path)
	})
	switch {
	case err == nil:
		_, werr := fmt.Fprintf(p.Stdout, "hookshim: %s is gone (watched %s)\n", arg, time.Since(start).Round(time.Millisecond))
		return werr
	case errors.Is(context.Cause(ctx), errCallerGone):
		return exitcode.Newf(exitcode.Conflict, "%s is still there; stopped watching: %v", arg, errCallerGone)
	case ctx.Err() != nil:
		return exitcode.Newf(exitcode.Conflict, "%s is still there after %s", arg, timeout)
	}
	return exitcode.New(exitcode.IOErr, fmt.Errorf("cannot watch %s: %w", arg, err))
}
