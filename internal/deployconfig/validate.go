package deployconfig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// The rules are narrow allow-lists: service, destination, hosts and the SSH
// user end up in remote commands, lock paths and local file names. Callers
// still quote everything; the rules leave nothing dangerous to quote.

const (
	nameRule   = `only letters, digits, '-', '_' and '.' are allowed; it must not start with '.' or '-' nor contain ".."`
	userRule   = `an SSH user may only hold letters, digits, '-', '_' and '.', and must not start with '-'`
	portRule   = `a port is a number from 1 to 65535`
	userChars  = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
	maxNameLen = 128
)

// ValidateName checks a service, destination or hook name (kind says which,
// for the message): letters, digits, '-', '_' and '.', not starting with '.'
// or '-', no "..". A bad name is an error with exit status exitcode.Usage.
func ValidateName(kind, value string) error { return invalid(kind, value, nameProblem(value)) }

// ValidateHost checks a host as it may appear in servers: a name, an IPv4 or
// IPv6 address, optionally with user@ and :port (sshx.ParseTarget's forms). A
// bad one is an error with exit status exitcode.Usage.
func ValidateHost(value string) error { return invalid("host", value, hostProblem(value)) }

func invalid(kind, value, problem string) error {
	if problem == "" {
		return nil
	}
	return exitcode.Newf(exitcode.Usage, "invalid %s %q: %s", kind, value, problem)
}

// hostProblem says what is wrong with a host, or "": the rule the SSH targets
// are built with.
var hostProblem = sshx.TargetProblem

// nameProblem says what is wrong with a service/destination/hook name, or "":
// lockfile.ValidateName's rule, the one every lock path is built with.
func nameProblem(v string) string {
	if p := lengthProblem(v); p != "" || lockfile.ValidateName("name", v) == nil {
		return p
	}
	return nameRule
}

// userProblem says what is wrong with an SSH user name, or "".
func userProblem(v string) string {
	if p := lengthProblem(v); p != "" || v[0] != '-' && strings.Trim(v, userChars) == "" {
		return p
	}
	return userRule
}

func lengthProblem(v string) string {
	switch {
	case v == "":
		return "it is empty"
	case len(v) > maxNameLen:
		return fmt.Sprintf("it is longer than %d characters", maxNameLen)
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

// portProblem says what is wrong with a port number (1-65535), or "".
func portProblem(v string) string {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > 65535 {
		return portRule
	}
	return ""
}

// pathProblem rejects control characters in a path sent to a host
// (run_directory) or used locally (hooks_path).
func pathProblem(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "it contains a control character (newline, tab, NUL...)"
	}
	return ""
}
