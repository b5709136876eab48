package cli

import (
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/termsafe"
)

// setFlagArgs renders the flags given to c's command as "--name=value"
// words (every value of a repeated flag), leaving out those in skip: what
// runs `hookshim run` again with the same settings (runOptions.Given).
func setFlagArgs(c *cli.Context, skip ...string) []string {
	var args []string
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !isSet(c, name) || slices.Contains(skip, name) {
			continue
		}
		switch f.(type) {
		case *cli.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				args = append(args, "--"+name+"="+v)
			}
		case *cli.DurationFlag:
			args = append(args, "--"+name+"="+c.Duration(name).String())
		case *cli.IntFlag:
			args = append(args, "--"+name+"="+strconv.Itoa(c.Int(name)))
		case *cli.BoolFlag:
			args = append(args, "--"+name+"="+strconv.FormatBool(c.Bool(name)))
		default:
			args = append(args, "--"+name+"="+c.String(name))
		}
	}
	return args
}

// runAgain is the shell command line that runs `hookshim run` as o was
// read (the flags given, the hook, its arguments or `--` command), with flag
// set to value instead of what was given (none when flag is ""), preceded by
// `cd DIR &&` when dir is not "". It is "" when a word cannot be shown as it
// must be typed (see shellWords): a hint then names the flag alone.
func runAgain(o runOptions, dir, flag, value string) string {
	words := []string{"hookshim", "run"}
	for _, w := range o.Given {
		if flag == "" || !strings.HasPrefix(w, "--"+flag+"=") {
			words = append(words, w)
		}
	}
	if flag != "" {
		words = append(words, "--"+flag+"="+value)
	}
	if o.StateDir != "" {
		words = append(words, "--state-dir="+o.StateDir)
	}
	return cdAnd(dir, append(words, o.args()...))
}

// cdAnd is shellWords(words), after `cd DIR && ` when dir is not "".
func cdAnd(dir string, words []string) string {
	if dir != "" {
		words = append([]string{"cd", dir, "&&"}, words...)
	}
	line, ok := shellWords(words)
	if !ok {
		return ""
	}
	return line
}

// shellWords quotes each word for a POSIX shell and joins them, so that
// pasting the line runs exactly these words. A word that every line
// hookshim prints would show otherwise (a control or format character:
// termsafe.Line escapes it, so the line on the screen would not be the
// command) cannot be suggested: ok is then false. A backslash is shown as it
// is, and single quotes keep it. "&&" passes as it is.
func shellWords(words []string) (line string, ok bool) {
	out := make([]string, len(words))
	for i, w := range words {
		if termsafe.Line(w) != w {
			return "", false
		}
		out[i] = shellWord(w)
	}
	return strings.Join(out, " "), true
}

// shellWord quotes w only when it needs it, in single quotes; a single
// quote inside is written '"'"'.
func shellWord(w string) string {
	if w == "&&" {
		return w
	}
	plain := w != ""
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=+./:,@%", r)) {
			plain = false
			break
		}
	}
	if plain {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
}
