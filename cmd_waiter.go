package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
)

func waiterCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:  "waiter",
		Flags: withCommon(),
		Action: func(c *cli.Context) error {
			return exitcode.New(exitcode.Software, errNotYet)
		},
	}
}
