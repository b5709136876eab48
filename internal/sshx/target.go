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
	bad := func(format string, args ...any) (Target, string) {
		return Target{}, fmt.Sprintf(format, args...)
	}
	switch {
	case s == "":
		return bad("it is empty")
	case len(s) > maxTargetLen:
		return bad("it is longer than %d characters", maxTargetLen)
	}
	if s[0] == '-' {
		return bad("it must not start with '-'")
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case strings.ContainsRune(shellMeta, r):
			return bad("%q means something to a shell", r)
		case unicode.IsSpace(r):
			return bad("it contains whitespace")
		case unicode.IsControl(r):
			return bad("it contains a control character")
		}
	}

	var t Target
	rest := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		t.User, rest = s[:i], s[i+1:]
		if t.User == "" {
			return bad("the user before '@' is empty")
		}
		if t.User[0] == '-' {
			return bad("the user must not start with '-'")
		}
		if r, ok := firstBadNameRune(t.User); !ok {
			return bad("%q is not allowed in a user name", r)
		}
	}

	var portStr string
	hasPort := false
	switch {
	case strings.HasPrefix(rest, "["):
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return bad("'[' without a closing ']'")
		}
		t.Host = rest[1:j]
		after := rest[j+1:]
		if after != "" {
			if after[0] != ':' {
				return bad("unexpected %q after ']'", after)
			}
			portStr, hasPort = after[1:], true
		}
		if !isIPv6(t.Host) {
			return bad("%q in brackets is not an IPv6 address", t.Host)
		}
	case strings.Count(rest, ":") >= 2:
		t.Host = rest
		if !isIPv6(t.Host) {
			return bad("%q is not an IPv6 address (write an IPv6 address with a port as [addr]:port)", t.Host)
		}
	default:
		t.Host = rest
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			t.Host, portStr, hasPort = rest[:i], rest[i+1:], true
		}
		if t.Host == "" {
			return bad("the host is empty")
		}
		if t.Host[0] == '-' {
			return bad("the host must not start with '-'")
		}
		if r, ok := firstBadNameRune(t.Host); !ok {
			return bad("%q is not allowed in a host name", r)
		}
	}

	if hasPort {
		p, ok := parsePort(portStr)
		if !ok {
			return bad("port %q is not a number from 1 to 65535", portStr)
		}
		t.Port = p
	}
	return t, ""
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
