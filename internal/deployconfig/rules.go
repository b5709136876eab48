package deployconfig

import (
	"strconv"
	"strings"

	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// The rules every value passes, from deploy.yml, the environment or a flag.
// Each returns what is wrong with v, or "". They are narrow allow-lists:
// names, hosts and users end up in remote commands and paths, so that quoting
// them is belt and braces.

// HostProblem is the rule SSH targets are built with (sshx.TargetProblem).
var HostProblem = sshx.TargetProblem

// NameProblem is the rule for a service or destination (lockfile.ValidateName's, at most 128 bytes).
func NameProblem(v string) string {
	if p := lengthProblem(v); p != "" || lockfile.ValidateName("name", v) == nil {
		return p
	}
	return `only letters, digits, '-', '_' and '.' are allowed; it must not start with '.' or '-' nor contain ".."`
}

// UserProblem is the rule for an SSH user.
func UserProblem(v string) string {
	if p := lengthProblem(v); p != "" || v[0] != '-' && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return p
	}
	return `an SSH user may only hold letters, digits, '-', '_' and '.', and must not start with '-'`
}

func lengthProblem(v string) string {
	switch {
	case v == "":
		return "it is empty"
	case len(v) > 128:
		return "it is longer than 128 characters"
	}
	return ""
}

// ProxyProblem is the rule for an SSH proxy: [user@]host[:port],
// comma-separated for a chain (ssh -J).
func ProxyProblem(v string) string {
	for _, part := range strings.Split(v, ",") {
		if p := HostProblem(part); p != "" {
			return "an SSH proxy is [user@]host[:port] (comma-separated for a chain); " + p
		}
	}
	return ""
}

// PortProblem is the rule for an SSH port: 1 to 65535.
func PortProblem(v string) string {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > 65535 {
		return "a port is a number from 1 to 65535"
	}
	return ""
}

// PathProblem is the rule for a file or directory name: no control characters.
func PathProblem(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "it contains a control character (newline, tab, NUL...)"
	}
	return ""
}
