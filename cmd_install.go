package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
)

func installCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:  "install",
		Flags: withCommon(),
		Action: func(c *cli.Context) error {
			return exitcode.New(exitcode.Software, errNotYet)
		},
	}
}
