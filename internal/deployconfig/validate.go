package deployconfig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// The rules below are deliberately narrow allow-lists: service, destination,
// hosts and the SSH user end up in remote shell commands, in lock paths on the
// host and in local file names. Callers still quote everything; these rules
// make sure there is nothing dangerous left to quote.

const (
	nameRule = `only letters, digits, '-', '_' and '.' are allowed; it must not start with '.' or '-' nor contain ".."`
	userRule = `an SSH user may only hold letters, digits, '-', '_' and '.', and must not start with '-'`
	portRule = `a port is a number from 1 to 65535`

	maxNameLen = 128
)

// ValidateName checks a service, destination or hook name (kind says which,
// for the message) against the shape Kamal allows: letters, digits, '-', '_'
// and '.', not starting with '.' or '-', no "..", no '/', whitespace or shell
// metacharacters. A bad name gives an error with exit status exitcode.Usage.
func ValidateName(kind, value string) error {
	if p := nameProblem(value); p != "" {
		return exitcode.Newf(exitcode.Usage, "invalid %s %q: %s", kind, value, p)
	}
	return nil
}

// nameProblem returns what is wrong with a service/destination/hook name, or
// "". The rule itself is lockfile.ValidateName's, the one every lock path is
// built with; this only words it for settings.
func nameProblem(v string) string {
	switch {
	case v == "":
		return "it is empty"
	case len(v) > maxNameLen:
		return fmt.Sprintf("it is longer than %d characters", maxNameLen)
	case lockfile.ValidateName("name", v) != nil:
		return nameRule
	}
	return ""
}

// hostProblem returns what is wrong with a host, or "": the rule is
// sshx.TargetProblem's, the one the SSH targets are built with.
func hostProblem(v string) string { return sshx.TargetProblem(v) }

// ValidateHost checks a host as it may appear in servers: a name, an IPv4 or
// IPv6 address, optionally with user@ and :port (sshx.ParseTarget's forms). A
// bad one gives an error with exit status exitcode.Usage.
func ValidateHost(value string) error {
	if p := hostProblem(value); p != "" {
		return exitcode.Newf(exitcode.Usage, "invalid host %q: %s", value, p)
	}
	return nil
}

// userProblem returns what is wrong with an SSH user name, or "".
func userProblem(v string) string {
	switch {
	case v == "":
		return "it is empty"
	case len(v) > maxNameLen:
		return fmt.Sprintf("it is longer than %d characters", maxNameLen)
	case v[0] == '-' || strings.IndexFunc(v, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-_.", c))
	}) >= 0:
		return userRule
	}
	return ""
}

// proxyProblem checks an SSH jump host: [user@]host[:port], comma-separated
// for a chain, as `ssh -J` and Kamal's ssh.proxy take it.
func proxyProblem(v string) string {
	for _, part := range strings.Split(v, ",") {
		if p := hostProblem(part); p != "" {
			return "an SSH proxy is [user@]host[:port] (comma-separated for a chain); " + p
		}
	}
	return ""
}

// parsePort parses a port number and checks its range.
func parsePort(v string) (int, string) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 65535 {
		return 0, portRule
	}
	return n, ""
}

// pathProblem rejects the characters that have no business in a path that is
// sent to a host (run_directory) or used locally (hooks_path).
func pathProblem(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "it contains a control character (newline, tab, NUL...)"
	}
	return ""
}
