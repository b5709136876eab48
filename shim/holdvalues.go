package shim

import (
	"strings"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// checkHoldValues refuses (exit 64), before any lock is looked at, a value
// that a hold would write into the lock's details and that holds a control
// character. Kamal's details are lines ("Locked by: NAME at TIME",
// "Version: V", "Message: M"): a newline in KAMAL_VERSION or in git's
// user.name writes lines of its own, the hold's Message is no longer the
// one its release looks for, and the release leaves the lock behind.
// Refused rather than rewritten, so that the lock always says exactly who
// took it. Checked for the policies that may take a lock (hold, and defer,
// whose waiter holds the lock on Kamal 2.6+).
func (r *Runner) checkHoldValues() error {
	if r.Policy != Hold && r.Policy != Defer {
		return nil
	}
	for _, v := range []struct{ name, value, fix string }{
		{"KAMAL_VERSION", r.Kamal.Version, "deploy a version without control characters (kamal deploy --version VERSION)"},
		{"git config user.name", r.GitUser(), "set a plain name: git config user.name 'Your Name'"},
		{"the user name (USER)", r.User, "set USER to your login name"},
		{"this machine's host name", r.Hostname, "give this machine a host name without control characters"},
	} {
		if i := strings.IndexFunc(v.value, isControl); i >= 0 {
			return exitcode.Newf(exitcode.Usage, "%s: %s holds a control character (%U at byte %d); written into the deploy lock it would break the lock's details, and the release would no longer recognise its own hold",
				r.Hook, v.name, []rune(v.value[i:])[0], i).WithHint("%s", v.fix)
		}
	}
	return nil
}

// isControl is a C0 control character or DEL: what breaks a line-based
// record or the environment (NUL).
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// envValue makes a value from a lock safe to pass to a hook in the
// environment: NUL, which the environment cannot carry (exec fails), and
// newline and carriage return, which would split it for a reader of `env`,
// each become a space. Nothing else changes.
func envValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == 0 || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
