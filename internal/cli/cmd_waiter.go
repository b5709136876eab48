package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/jobs"
)

// waiterName is the hidden command `hookshim run` starts, detached, for a
// deferred hook.
const waiterName = "waiter"

// waiterCommand is `hookshim waiter --job ID [run flags] HOOK [-- COMMAND...]`:
// the detached process that runs one deferred job exactly once (see
// jobs.RunDeferred). It takes every flag `hookshim run` takes, so it resolves the
// same settings from the same environment.
func waiterCommand(p Process) *cli.Command {
	run := runCommand(p)
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "job", Required: true, Usage: "the job `ID` to run"},
		&cli.IntFlag{Name: "ready-fd", Usage: "say on descriptor `N` that the job is picked up, then close it"},
	}, run.Flags...)
	return &cli.Command{
		Name:      waiterName,
		Hidden:    true,
		Usage:     "run a deferred hook once its lock is released (started by hookshim run; not for direct use)",
		ArgsUsage: run.ArgsUsage,
		Flags:     flags,
		Action:    func(c *cli.Context) error { return waiterAction(c, p) },
	}
}

// waiterAction builds the Runner as `hookshim run` does, from the same flags
// and environment, and hands it with the job to jobs.RunDeferred.
func waiterAction(c *cli.Context, p Process) error {
	r, stop, err := newRunner(c, p)
	if err != nil {
		return err
	}
	defer stop()
	r.Watch = lockWatch(r)
	dir, err := stateDir(c, p)
	if err != nil {
		jobs.CloseReadyFD(c.Int("ready-fd"))
		return err
	}
	_, kamalLockSet := p.LookupEnv("KAMAL_LOCK")
	return jobs.RunDeferred(context.Background(), jobs.Deferred{
		StateDir:     dir,
		ID:           c.String("job"),
		ReadyFD:      c.Int("ready-fd"),
		Runner:       r,
		KamalLockSet: kamalLockSet,
		ByHand:       func(repoDir string) string { return byHand(c, repoDir) },
		Report:       func(err error) int { return exitcode.Report(stderrLines(p, p.Args), err) },
	})
}
