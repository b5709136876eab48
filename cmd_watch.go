package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
)

func watchCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Flags: withCommon(),
		Action: func(c *cli.Context) error {
			return exitcode.New(exitcode.Software, errNotYet)
		},
	}
}
