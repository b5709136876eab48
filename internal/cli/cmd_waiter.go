package cli

import (
	"github.com/urfave/cli/v2"
)

// waiterName is the hidden command `hookshim run` starts, detached, for a
// deferred hook.
const waiterName = "waiter"

// waiterCommand is `hookshim waiter --job ID [run flags] HOOK [-- COMMAND...]`:
// the detached process that runs one deferred job exactly once (see
// runWaiter). It takes every flag `hookshim run` takes, so it resolves the
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
		Action:    func(c *cli.Context) error { return runAction(c, p) },
	}
}
