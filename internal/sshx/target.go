package sshx

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Target is one SSH destination: an optional user, a host and an optional port.
type Target struct {
	User string
	Host string
	Port int // 0 leaves the port to ssh (its config, else 22)
}

// targetForms is the tail of every ParseTarget error: what a good target looks like.
const targetForms = "want host, user@host, host:port or user@host:port (IPv6 as [::1] or user@[::1]:2222)"

// shellMeta are characters that mean something to a shell. None of them can be
// part of a valid target ('[', ']' and '%' can, in IPv6 addresses, so they are
// left to the finer checks).
const shellMeta = "$`;&|<>(){}'\"\\*?!#~^=,"

// maxTargetLen bounds a target; a DNS name has at most 253 characters.
const maxTargetLen = 255

// ParseTarget parses "host", "user@host", "host:port", "user@host:port", and IPv6
// forms "::1", "[::1]", "user@[::1]:2222". Users and host names are limited to
// letters, digits, '.', '-' and '_', and neither may start with '-', so a target can
// never be taken by ssh as an option nor mean anything to a shell; a target has at
// most 255 bytes. The error is one line that names the bad target and shows the
// accepted forms.
func ParseTarget(s string) (Target, error) {
	t, why := parseTarget(s)
	if why != "" {
		return Target{}, fmt.Errorf("bad SSH target %q: %s; %s", s, why, targetForms)
	}
	return t, nil
}

// TargetProblem says what is wrong with s as a host to reach over SSH (a
// Kamal servers: entry, a KAMAL_HOSTS item, a --host value): the reason and the
// accepted forms in one line, or "" when ParseTarget accepts s. It is the one
// host rule: hookshim checks every host it is given with it.
func TargetProblem(s string) string {
	if _, why := parseTarget(s); why != "" {
		return why + "; " + targetForms
	}
	return ""
}

// parseTarget is ParseTarget, with the reason a target is bad instead of an error.
func parseTarget(s string) (Target, string) {
	if problem := targetTextProblem(s); problem != "" {
		return Target{}, problem
	}
	var t Target
	rest := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		t.User, rest = s[:i], s[i+1:]
		switch {
		case t.User == "":
			return Target{}, "the user before '@' is empty"
		case t.User[0] == '-':
			return Target{}, "the user must not start with '-'"
		}
		if r, ok := firstBadNameRune(t.User); !ok {
			return Target{}, fmt.Sprintf("%q is not allowed in a user name", r)
		}
	}
	host, portStr, hasPort, problem := splitHostPort(rest)
	if problem != "" {
		return Target{}, problem
	}
	t.Host = host
	if hasPort {
		p, ok := parsePort(portStr)
		if !ok {
			return Target{}, fmt.Sprintf("port %q is not a number from 1 to 65535", portStr)
		}
		t.Port = p
	}
	return t, ""
}

// targetTextProblem says what makes s unusable as a target whatever its
// parts: empty, too long, a leading '-', invalid UTF-8, shell
// metacharacters, whitespace or control characters ("" when none).
func targetTextProblem(s string) string {
	switch {
	case s == "":
		return "it is empty"
	case len(s) > maxTargetLen:
		return fmt.Sprintf("it is longer than %d characters", maxTargetLen)
	case s[0] == '-':
		return "it must not start with '-'"
	case !utf8.ValidString(s):
		return "it is not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case strings.ContainsRune(shellMeta, r):
			return fmt.Sprintf("%q means something to a shell", r)
		case unicode.IsSpace(r):
			return "it contains whitespace"
		case unicode.IsControl(r):
			return "it contains a control character"
		}
	}
	return ""
}

// splitHostPort splits what follows "user@" into the host and the port text:
// "[v6]:port", a bare IPv6 address (two or more colons, no port), or
// "name:port". The host is checked here; the port only for presence.
func splitHostPort(rest string) (host, port string, hasPort bool, problem string) {
	switch {
	case strings.HasPrefix(rest, "["):
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return "", "", false, "'[' without a closing ']'"
		}
		host = rest[1:j]
		if after := rest[j+1:]; after != "" {
			if after[0] != ':' {
				return "", "", false, fmt.Sprintf("unexpected %q after ']'", after)
			}
			port, hasPort = after[1:], true
		}
		if !isIPv6(host) {
			return "", "", false, fmt.Sprintf("%q in brackets is not an IPv6 address", host)
		}
		return host, port, hasPort, ""
	case strings.Count(rest, ":") >= 2:
		if !isIPv6(rest) {
			return "", "", false, fmt.Sprintf("%q is not an IPv6 address (write an IPv6 address with a port as [addr]:port)", rest)
		}
		return rest, "", false, ""
	}
	host = rest
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		host, port, hasPort = rest[:i], rest[i+1:], true
	}
	switch {
	case host == "":
		return "", "", false, "the host is empty"
	case host[0] == '-':
		return "", "", false, "the host must not start with '-'"
	}
	if r, ok := firstBadNameRune(host); !ok {
		return "", "", false, fmt.Sprintf("%q is not allowed in a host name", r)
	}
	return host, port, hasPort, ""
}

// firstBadNameRune reports the first rune of s that is not allowed in a user or host
// name (letters, digits, '.', '-', '_'), and false; or true when s is clean.
func firstBadNameRune(s string) (rune, bool) {
	for _, r := range s {
		if !isNameByte(r) {
			return r, false
		}
	}
	return 0, true
}

func isNameByte(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' || r == '_'
}

// isIPv6 reports whether s is an IPv6 address, optionally with a zone made of name
// characters (fe80::1%eth0).
func isIPv6(s string) bool {
	if !strings.Contains(s, ":") {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return false
	}
	if z := a.Zone(); z != "" {
		if _, ok := firstBadNameRune(z); !ok {
			return false
		}
	}
	return true
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, false
	}
	return p, true
}

// String formats t as "user@host:port", leaving out the empty parts; an IPv6 host
// is bracketed when a port follows. ParseTarget(t.String()) gives t back.
func (t Target) String() string {
	if t.User == "" {
		return t.Addr()
	}
	return t.User + "@" + t.Addr()
}

// Addr is the host, or host:port when a port is set, for display.
func (t Target) Addr() string {
	if t.Port == 0 {
		return t.Host
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}
