package cli

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
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

// beforeCommandError is the error for a flag the app itself was given: a
// command line with no command's name after the common flags (interspersed
// moves those, and any flag typed without a separate value, after the name).
// typed is the flag urfave/cli refused, without dashes. The flag named is
// the first one before the command's name that only commands take, since a
// common flag ahead of it is not the mistake; else typed. Its hint is the
// command line fixed (fixedLine); with no command's name, only the words
// before it, since what follows a "--" there is no command's arguments.
func beforeCommandError(app *cli.App, args []string, typed string) error {
	common := commonFlags()
	before, flags, name, rest := splitBeforeCommand(app, args)
	flag := typed
	for _, f := range flags {
		if findFlag(common, f) == nil && commandTaking(app, f) != nil {
			flag = f
			break
		}
	}
	cmds := commandsTaking(app.Commands, flag)
	switch {
	case findFlag(common, flag) != nil && name == "":
		e := exitcode.Newf(exitcode.Usage, "%s goes with a command, which is missing", dashed(flag))
		return fixedLine(e, "locks", before, nil, "for example", "'hookshim --help' lists the commands")
	case len(cmds) == 0:
		return exitcode.Newf(exitcode.Usage, "unknown flag %s", dashed(flag)).
			WithHint("run 'hookshim --help' for the commands, 'hookshim COMMAND --help' for their flags")
	}
	cmd := app.Command(name)
	if cmd != nil && !cmd.Hidden && findFlag(cmd.Flags, flag) != nil {
		cmds = []string{name} // the one the user meant
	}
	e := exitcode.Newf(exitcode.Usage, "flag %s belongs to %s: it goes after the command's name", dashed(flag), strings.Join(cmds, ", "))
	switch {
	case name == "":
		return fixedLine(e, cmds[0], before, nil, "for example", "put "+dashed(flag)+" after the command's name")
	case cmd == nil || cmd.Hidden:
		return e.WithHint("%q is no command; 'hookshim --help' lists them", name)
	case findFlag(cmd.Flags, flag) == nil:
		return e.WithHint("%s does not take it; 'hookshim %s --help' lists the flags it takes", name, name)
	}
	return fixedLine(e, name, before, rest, "in the right order", "put "+dashed(flag)+" after the command's name")
}

// fixedLine adds e's hint: `hookshim NAME BEFORE... REST...`, quoted for a
// shell to paste, after lead; or, when a word cannot be shown as typed
// (shellWords), the words instead.
func fixedLine(e *exitcode.Error, name string, before, rest []string, lead, instead string) error {
	line, ok := shellWords(append(append([]string{"hookshim", name}, before...), rest...))
	if !ok {
		return e.WithHint("%s", instead)
	}
	return e.WithHint("%s: %s", lead, line)
}

// splitBeforeCommand splits a command line (args[0] the program) into the
// words before the command's name (flags with their values), those flags'
// names (without dashes or =value), the command's name ("" when there is
// none) and what follows it. Whether a flag takes a value is the common
// flags' answer, else that of the first command that has the flag.
func splitBeforeCommand(app *cli.App, args []string) (before, flags []string, name string, rest []string) {
	common := &cli.Command{Flags: commonFlags()}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return before, flags, "", args[i:]
		case a == "-" || !strings.HasPrefix(a, "-"):
			return before, flags, a, args[i+1:]
		}
		f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		before, flags = append(before, a), append(flags, f)
		owner := common
		if findFlag(common.Flags, f) == nil {
			owner = commandTaking(app, f)
		}
		if owner != nil && takesValue(owner, a) && i+1 < len(args) {
			i++
			before = append(before, args[i])
		}
	}
	return before, flags, "", nil
}

// commandTaking is the first visible command with the flag called name, or nil.
func commandTaking(app *cli.App, name string) *cli.Command {
	for _, cmd := range app.Commands {
		if !cmd.Hidden && findFlag(cmd.Flags, name) != nil {
			return cmd
		}
	}
	return nil
}
