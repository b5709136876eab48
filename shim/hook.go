package shim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// ValidateHook checks a hook name given on the command line.
func ValidateHook(hook string) error {
	if err := lockfile.ValidateName("hook", hook); err != nil {
		return exitcode.New(exitcode.Usage, err, "hook names are Kamal's: "+strings.Join(KamalHooks, ", "))
	}
	return nil
}

// Step is one program to run for a hook.
type Step struct {
	Path string   // what to execute
	Args []string // its arguments
}

// Name is the step as people see it: its file name or command.
func (s Step) Name() string { return filepath.Base(s.Path) }

// Plan lists what running the hook means: the command given after `--`, or
// every executable in HOOKSDIR/HOOK.d in lexical order (run-parts style), each
// given args. Files whose names start with "." or end in "~" are editor and
// system leftovers and are skipped; any other non-executable file is an error,
// because silently skipping a hook script is how deploy steps get lost.
func Plan(hooksDir, hook string, command, args []string) ([]Step, error) {
	if len(command) > 0 {
		return []Step{{Path: command[0], Args: command[1:]}}, nil
	}
	dir := filepath.Join(hooksDir, hook+".d")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exitcode.Newf(exitcode.NoInput, "%s: hook directory %s does not exist", hook, dir).
				WithHint("put the %s scripts in %s, or pass the command after --: hookshim run %s -- COMMAND", hook, dir, hook)
		}
		return nil, exitcode.Newf(exitcode.NoInput, "%s: cannot read hook directory %s: %v", hook, dir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var steps []Step
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, exitcode.Newf(exitcode.NoInput, "%s: hook script %s cannot be used: %v", hook, p, err)
		}
		if fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 == 0 {
			return nil, exitcode.Newf(exitcode.CannotExecute, "%s: hook script %s is not executable", hook, p).
				WithHint("make it executable with: chmod +x %s", p)
		}
		steps = append(steps, Step{Path: p, Args: args})
	}
	return steps, nil
}
