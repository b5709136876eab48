package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
)

func locksCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:  "locks",
		Flags: withCommon(),
		Action: func(c *cli.Context) error {
			return exitcode.New(exitcode.Software, errNotYet)
		},
	}
}
