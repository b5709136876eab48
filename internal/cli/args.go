package cli

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed reorders a command line so that urfave/cli, which (like Go's
// flag package) stops at the first argument that is not a flag, sees every
// flag: `hookshim run post-deploy --policy hold -- true` would otherwise run
// with the default policy and pass "--policy hold -- true" to the hook.
//
// args is the whole command line (args[0] the program). Up to the first `--`:
//   - flags before the command name (`hookshim --log-level debug locks`) move
//     after it, since every command takes the common flags and the app none;
//   - the command's flags, with their values, move before its arguments.
//
// An argument that starts with "-" is always taken as a flag, so a hook or
// job argument cannot start with "-" (Kamal passes hooks none). A flag the
// command does not know still moves, and urfave/cli refuses it with the
// closest flag it knows. Help, version and shell-completion requests are
// left as they are.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 || slices.Contains(args, "--generate-bash-completion") {
		return args
	}
	common := &cli.Command{Flags: commonFlags()}
	globals, rest := splitFlags(common, args[1:], true)
	if len(rest) == 0 {
		return args
	}
	cmd := app.Command(rest[0])
	if cmd == nil {
		return args // an unknown command: the app says so
	}
	flags, positional := splitFlags(cmd, rest[1:], false)
	out := append([]string{args[0], rest[0]}, globals...)
	out = append(out, flags...)
	return append(out, positional...)
}

// splitFlags separates cmd's flags (each with its value) from the other
// arguments, up to the first `--`, which stays with the arguments, followed by
// everything after it. With stopAtArg, it stops at the first argument that is
// not a flag (the command name), leaving it and what follows in rest.
func splitFlags(cmd *cli.Command, args []string, stopAtArg bool) (flags, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(rest, args[i:]...)
		case a == "-" || !strings.HasPrefix(a, "-"):
			if stopAtArg {
				return flags, append(rest, args[i:]...)
			}
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		if takesValue(cmd, a) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, rest
}

// takesValue says whether the flag a (as typed: -x, --name) is followed by
// its value as the next argument: not for booleans, `--name=value` or flags
// cmd does not know (which urfave/cli refuses anyway).
func takesValue(cmd *cli.Command, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range cmd.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		_, isBool := f.(*cli.BoolFlag)
		return !isBool
	}
	return false
}
