package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/termsafe"
)

// Version is what `hookshim version` prints; main sets it from its own
// version, stamped at build time with -ldflags "-X main.version=...".
var Version = "dev"

// Process is everything hookshim takes from the process it runs in, passed in as
// values so every command can be tested without touching the real process.
type Process struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    []string // os.Environ() form: KEY=VALUE
	// Signals starts delivering SIGINT, SIGTERM and SIGHUP to the returned
	// channel instead of killing the process, until stop is called, and from
	// then on turns a write to a closed stdout or stderr into an error
	// instead of death by SIGPIPE. Only commands that must clean up (run) ask
	// for it; nil means no trapping.
	Signals func() (ch <-chan os.Signal, stop func())
	// Dir is the working directory ("" means the process's own).
	Dir string
}

// Getenv looks a variable up in p.Env.
func (p Process) Getenv(key string) string {
	v, _ := p.LookupEnv(key)
	return v
}

// LookupEnv looks a variable up in p.Env; the last assignment wins, as in a shell.
func (p Process) LookupEnv(key string) (string, bool) {
	val, found := "", false
	for _, kv := range p.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val, found = v, true
		}
	}
	return val, found
}

// Main runs hookshim and returns its exit status. It is the only caller of
// exitcode.Report, so every user-facing error is printed in one place.
func Main(p Process) int {
	app := newApp(p)
	args := interspersed(app, p.Args)
	err := app.Run(args)
	return exitcode.Report(stderrLines(p, logFormatArg(args, p)), err)
}

// escapedLines is where hookshim's own lines go on their way to stderr (log
// lines, errors, hints and questions; never a hook's output): each write, one
// line, passes through termsafe.Line. Values in these lines are escaped once
// where they are put in: quoted with %q (a flag, a deploy.yml or environment
// value) or with termsafe.Clean (a lock's Locked by, Version, Message, as
// in the locks table); so Line leaves backslashes alone, and only sees that
// no control or format character of any value the line carries (a host's
// error, a job record's text, one not quoted) can start a fake line, hide
// text or retitle the terminal.
type escapedLines struct{ w io.Writer }

func (e escapedLines) Write(p []byte) (int, error) {
	line, nl := strings.CutSuffix(string(p), "\n")
	line = termsafe.Line(line)
	if nl {
		line += "\n"
	}
	if _, err := io.WriteString(e.w, line); err != nil {
		return 0, err
	}
	return len(p), nil
}

// extraCommands are added by files built only with some build tags: the
// hidden `man` command (cmd_man.go, -tags hookshim_docs) that go run ./release
// uses, kept out of the default binary with urfave/cli's docs code.
var extraCommands []func(Process) *cli.Command

func newApp(p Process) *cli.App {
	app := &cli.App{
		Name:                 "hookshim",
		Usage:                "make Kamal hooks behave the same under every Kamal command, and show Kamal's deploy locks",
		Version:              buildVersion(),
		Reader:               p.Stdin,
		Writer:               p.Stdout,
		ErrWriter:            p.Stderr,
		EnableBashCompletion: true, // completion asks the binary: cmd_completion.go
		HideHelpCommand:      true,
		// Errors are printed by Main, through exitcode.Report, never by urfave/cli.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError(c, p.Args, err)
		},
		Commands: []*cli.Command{
			versionCommand(p),
			locksCommand(p),
			runCommand(p),
			waitCommand(p),
			watchCommand(p),
			installCommand(p),
			unlockCommand(p),
			waiterCommand(p),
			completionCommand(p),
		},
	}
	for _, extra := range extraCommands {
		app.Commands = append(app.Commands, extra(p))
	}
	// urfave/cli v2 does not pass the app's usage-error handler down to commands.
	for _, cmd := range app.Commands {
		cmd.OnUsageError = app.OnUsageError
		cmd.HideHelpCommand = true
		refuseNegativeDurations(cmd)
	}
	app.Action = func(c *cli.Context) error {
		if c.Args().Len() > 0 {
			e := exitcode.Newf(exitcode.Usage, "unknown command %q", c.Args().First())
			if cli.SuggestCommand != nil {
				// urfave/cli's suggestion is a sentence: Did you mean "locks"?
				s := cli.SuggestCommand(visibleCommands(c.App.Commands), c.Args().First())
				if _, quoted, ok := strings.Cut(s, `"`); ok {
					if name, _, _ := strings.Cut(quoted, `"`); name != "" {
						return e.WithHint("did you mean %s? run 'hookshim --help' to list the commands", name)
					}
				}
			}
			return e.WithHint("run 'hookshim --help' to list the commands")
		}
		return cli.ShowAppHelp(c)
	}
	return app
}

// usageError turns a flag-parsing error into a one-line error with exit status
// 64, in hookshim's words where Go's flag package's say little: a duration
// without its unit, a mistyped flag (with the closest one the command takes),
// a command's flag before the command's name. args is the command line as
// typed (args[0] the program). A command's error starts with its name
// ("hookshim run: ..."); the app's with nothing, since Report already puts
// "hookshim: error: " before it.
func usageError(c *cli.Context, args []string, err error) error {
	name, prefix := "hookshim", ""
	var flags []cli.Flag
	if c != nil && c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		name += " " + c.Command.Name
		prefix = name + ": "
		flags = c.Command.Flags
	}
	msg := err.Error()
	if flag, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		flag = strings.TrimLeft(flag, "-")
		if flags == nil && c != nil {
			return beforeCommandError(c.App, args, flag)
		}
		if flags != nil && findFlag(commonFlags(), flag) != nil {
			return exitcode.Newf(exitcode.Usage, "%s--%s changes nothing for %s, so it is not taken", prefix, flag, c.Command.Name).
				WithHint("leave --%s out; 'hookshim %s --help' lists the flags %s takes", flag, c.Command.Name, c.Command.Name)
		}
		e := exitcode.Newf(exitcode.Usage, "%sunknown flag %s", prefix, dashed(flag))
		if s := suggestFlag(flags, flag); s != "" {
			return e.WithHint("did you mean %s? run '%s --help' for the flags it takes", s, name)
		}
		return e.WithHint("run '%s --help' for the flags it takes", name)
	}
	var value, flag string
	if n, _ := fmt.Sscanf(msg, "invalid value %q for flag -%s", &value, &flag); n == 2 {
		flag = strings.TrimSuffix(flag, ":")
		if f := findFlag(flags, flag); f != nil {
			if _, isDur := f.(*cli.DurationFlag); isDur && isNumber(value) {
				return exitcode.Newf(exitcode.Usage, "%s--%s %s has no unit: say %sm for minutes or %ss for seconds", prefix, flag, value, value, value).
					WithHint("durations are numbers with units: 30s, 5m, 1h30m")
			} else if isDur {
				return exitcode.Newf(exitcode.Usage, "%s--%s %q is not a duration", prefix, flag, value).
					WithHint("durations are numbers with units: 30s, 5m, 1h30m")
			}
		}
		return exitcode.Newf(exitcode.Usage, "%s--%s %q is not a valid value", prefix, flag, value).
			WithHint("run '%s --help' for the flags it takes", name)
	}
	return exitcode.New(exitcode.Usage, fmt.Errorf("%s%w", prefix, err)).
		WithHint("run '%s --help' for the flags it takes", name)
}

// visibleCommands are the commands 'hookshim --help' lists.
func visibleCommands(cmds []*cli.Command) []*cli.Command {
	var visible []*cli.Command
	for _, cmd := range cmds {
		if !cmd.Hidden {
			visible = append(visible, cmd)
		}
	}
	return visible
}

// dashed is a flag name as typed on a command line: -p, --policy.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// commandsTaking names the visible commands that take the flag called name.
func commandsTaking(cmds []*cli.Command, name string) []string {
	var names []string
	for _, cmd := range cmds {
		if !cmd.Hidden && findFlag(cmd.Flags, name) != nil {
			names = append(names, cmd.Name)
		}
	}
	return names
}

// negativeHints are the hints for a negative duration flag that says more
// than "a duration of 0 or more" (by flag name).
var negativeHints = map[string]string{
	"stale-after": "pass an age such as 30m or 2h, or 0 to never call a lock stale",
	"older-than":  "pass an age such as 30m or 2h; 0 removes an automatic lock of any age",
}

// refuseNegativeDurations makes every duration flag of cmd refuse a value
// below zero: no hookshim duration (a wait, a timeout, an age) means anything
// negative, and urfave/cli takes "-5s" as readily as "5s".
func refuseNegativeDurations(cmd *cli.Command) {
	for _, f := range cmd.Flags {
		d, ok := f.(*cli.DurationFlag)
		if !ok || d.Action != nil {
			continue
		}
		name := d.Name
		d.Action = func(_ *cli.Context, v time.Duration) error {
			if v >= 0 {
				return nil
			}
			hint := negativeHints[name]
			if hint == "" {
				hint = "pass a duration of 0 or more, e.g. 30s or 5m"
			}
			return exitcode.Newf(exitcode.Usage, "--%s %s is negative", name, v).WithHint("%s", hint)
		}
	}
}

// isNumber says whether s is a plain number such as 5 or 1.5.
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// suggestFlag is urfave/cli's closest flag name (Jaro-Winkler), "" when it
// has none (a build with urfave_cli_no_suggest, or no flags).
func suggestFlag(flags []cli.Flag, typed string) string {
	if cli.SuggestFlag == nil || len(flags) == 0 {
		return ""
	}
	return cli.SuggestFlag(flags, typed, true)
}

// findFlag is the flag of that name (or alias) among flags, or nil.
func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// newLogger builds the zerolog logger a command logs through, writing to stderr.
// The console format prints "hookshim: message key=value", one line per event.
func newLogger(p Process, o logOptions) (zerolog.Logger, error) {
	format, levelName := o.Format, o.Level
	// Only the levels --log-level's help lists: zerolog's ParseLevel also takes
	// trace, fatal, panic, disabled and numbers, which hookshim never logs at
	// (trace) or which would hide its errors.
	level, err := zerolog.ParseLevel(levelName)
	if err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, levelName) {
		return zerolog.Nop(), exitcode.Newf(exitcode.Usage, "%s is not a level", given(o.LevelFrom, "--log-level", levelName)).
			WithHint("use one of debug, info, warn, error")
	}
	var w io.Writer
	switch format {
	case "console":
		w = zerolog.ConsoleWriter{
			Out:         escapedLines{p.Stderr}, // one Write per event
			NoColor:     true,
			PartsOrder:  []string{zerolog.LevelFieldName, zerolog.MessageFieldName},
			FormatLevel: consoleLevel,
		}
	case "json":
		w = p.Stderr
	default:
		return zerolog.Nop(), exitcode.Newf(exitcode.Usage, "%s is not a format", given(o.FormatFrom, "--log-format", format)).
			WithHint("use console or json")
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// consoleLevel prefixes console log lines the way errors are prefixed, with the
// level spelled out only where it is not plain information.
func consoleLevel(i any) string {
	switch l, _ := i.(string); l {
	case "info", "":
		return "hookshim:"
	default:
		return "hookshim: " + l + ":"
	}
}

// executable returns the path of the running binary, for re-executing it.
func executable() (string, error) { return os.Executable() }
