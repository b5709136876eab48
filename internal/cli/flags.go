package cli

import "github.com/urfave/cli/v2"

// stateDirFlag is --state-dir, for every command that keeps or reads
// deferred jobs (run, waiter, wait, locks); stateDir resolves it.
func stateDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "state-dir", Usage: "deferred hooks' jobs are kept in `DIR` (default $XDG_STATE_HOME/hookshim, else ~/.local/state/hookshim); env HOOKSHIM_STATE_DIR"}
}
