package cli

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

func init() {
	// `hookshim --version` prints what `hookshim version` prints, not
	// urfave/cli's "hookshim version X".
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintln(c.App.Writer, "hookshim "+c.App.Version)
	}
}

func versionCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print hookshim's version",
		Action: func(c *cli.Context) error { return runVersion(p, versionOptions{version: c.App.Version}) },
	}
}

// versionOptions are what `hookshim version` prints.
type versionOptions struct{ version string }

func runVersion(p Process, o versionOptions) error {
	_, err := fmt.Fprintf(p.Stdout, "hookshim %s\n", o.version)
	return err
}

// versionString is the version hookshim reports: the one stamped at build
// time (-X main.version, the release), else what the Go toolchain recorded:
// the module version of `go install github.com/hookshim/hookshim@v1.2.3`, or
// for `go build` in a git checkout the commit, e.g. "dev (commit
// 1a2b3c4d5e6f, modified)" when the tree had uncommitted changes, or
// "v1.2.3 (commit 1a2b3c4d5e6f)" at a tag. "dev"
// when none of these is known (a build with -buildvcs=false).
func versionString(stamped string, bi *debug.BuildInfo, ok bool) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	if !ok || bi == nil {
		return "dev"
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" && rev == "" {
		return v
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	// A checkout at a tag: Go 1.24+ records the tag as Main.Version; between
	// tags, a pseudo-version that holds the commit, which says nothing more.
	name := "dev"
	if v := bi.Main.Version; v != "" && v != "(devel)" && !strings.Contains(v, rev) {
		name = strings.TrimSuffix(v, "+dirty")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (commit %s", name, rev)
	if modified {
		b.WriteString(", modified")
	}
	b.WriteString(")")
	return b.String()
}

// buildVersion is versionString for this binary.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return versionString(Version, bi, ok)
}
