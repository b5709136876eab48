//go:build hookshim_docs && !urfave_cli_no_docs

package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The man page comes from the command definitions, so it never disagrees with
// --help. It needs urfave/cli's docs code (and its Markdown library), which
// costs every start of the binary; only `go run ./release` builds this, with
// -tags hookshim_docs, to write hookshim.1.
func init() { extraCommands = append(extraCommands, manCommand) }

func manCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the man page hookshim(1) in roff",
		Hidden: true,
		Action: func(c *cli.Context) error {
			return runMan(p, manOptions{page: func() (string, error) { return c.App.ToManWithSection(1) }})
		},
	}
}

// manOptions is how to make the page from the command definitions
// (urfave/cli's ToManWithSection).
type manOptions struct{ page func() (string, error) }

func runMan(p Process, o manOptions) error {
	page, err := o.page()
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(p.Stdout, page)
	return err
}
