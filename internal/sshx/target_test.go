package sshx_test

import (
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/sshx"
)

func TestParseTarget(t *testing.T) {
	good := []struct {
		in        string
		want      sshx.Target
		str, addr string
	}{
		{"web1", sshx.Target{Host: "web1"}, "web1", "web1"},
		{"deploy@web1.example.com", sshx.Target{User: "deploy", Host: "web1.example.com"}, "deploy@web1.example.com", "web1.example.com"},
		{"web1:2222", sshx.Target{Host: "web1", Port: 2222}, "web1:2222", "web1:2222"},
		{"app_user@127.0.0.5:22", sshx.Target{User: "app_user", Host: "127.0.0.5", Port: 22}, "app_user@127.0.0.5:22", "127.0.0.5:22"},
		{"[::1]", sshx.Target{Host: "::1"}, "::1", "::1"},
		{"::1", sshx.Target{Host: "::1"}, "::1", "::1"},
		{"user@[::1]:2222", sshx.Target{User: "user", Host: "::1", Port: 2222}, "user@[::1]:2222", "[::1]:2222"},
		{"[2001:db8::7]:65535", sshx.Target{Host: "2001:db8::7", Port: 65535}, "[2001:db8::7]:65535", "[2001:db8::7]:65535"},
		{"root@fe80::1%eth0", sshx.Target{User: "root", Host: "fe80::1%eth0"}, "root@fe80::1%eth0", "fe80::1%eth0"},
		{"h:1", sshx.Target{Host: "h", Port: 1}, "h:1", "h:1"},
		{"my-host.internal.", sshx.Target{Host: "my-host.internal."}, "my-host.internal.", "my-host.internal."},
	}
	for _, tc := range good {
		got, err := sshx.ParseTarget(tc.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseTarget(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.str {
			t.Errorf("ParseTarget(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
		if a := got.Addr(); a != tc.addr {
			t.Errorf("ParseTarget(%q).Addr() = %q, want %q", tc.in, a, tc.addr)
		}
	}

	bad := []struct{ in, why string }{
		{"", "empty"},
		{"-oProxyCommand=touch /tmp/x", "start with '-'"},
		{"user@-oProxyCommandx", "start with '-'"},
		{"-l@host", "start with '-'"},
		{"@host", "user before '@' is empty"},
		{"user@", "host is empty"},
		{":22", "host is empty"},
		{"host name", "whitespace"},
		{"host\tx", "whitespace"},
		{"host\n", "whitespace"},
		{"host\x00", "control character"},
		{"host\x1b[31m", "control character"},
		{"host;rm -rf /", "';' means something to a shell"},
		{"$(reboot)", "'$' means something to a shell"},
		{"`id`", "'`' means something to a shell"},
		{"a&b", "'&'"}, {"a|b", "'|'"}, {"a<b", "'<'"}, {"a>b", "'>'"},
		{"a(b", "'('"}, {"a{b", "'{'"}, {"a'b", `'\''`}, {`a"b`, `'"'`},
		{`a\b`, `'\\'`}, {"a*", "'*'"}, {"a?", "'?'"}, {"a!", "'!'"},
		{"a/b", "'/' is not allowed in a host name"},
		{"us:er@host", "':' is not allowed in a user name"},
		{"a@b@c", "'@' is not allowed in a host name"},
		{"héllo", "'é' is not allowed in a host name"},
		{"host:", `port "" is not a number`},
		{"host:0", `port "0"`},
		{"host:65536", `port "65536"`},
		{"host:-1", `port "-1"`},
		{"host:+22", `port "+22"`},
		{"host:22x", `port "22x"`},
		{"host:999999999999999999999", "port"},
		{"host:22:33", "not an IPv6 address"},
		{"[::1", "without a closing"},
		{"[::1]x", "after ']'"},
		{"[::1]:", `port ""`},
		{"[example.com]:22", "not an IPv6 address"},
		{"[127.0.0.1]", "not an IPv6 address"},
		{"[::1]:70000", `port "70000"`},
		{"\xff", "UTF-8"},
		{strings.Repeat("h", 256), "longer than 255"},
	}
	for _, tc := range bad {
		got, err := sshx.ParseTarget(tc.in)
		if err == nil {
			t.Errorf("ParseTarget(%q) = %#v, want an error (%s)", tc.in, got, tc.why)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.why) {
			t.Errorf("ParseTarget(%q) error %q does not say %q", tc.in, msg, tc.why)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("ParseTarget(%q) error is more than one line: %q", tc.in, msg)
		}
		if !strings.Contains(msg, "user@host:port") {
			t.Errorf("ParseTarget(%q) error does not show a good target: %q", tc.in, msg)
		}
		if p := sshx.TargetProblem(tc.in); !strings.Contains(p, tc.why) || !strings.Contains(msg, p) {
			t.Errorf("TargetProblem(%q) = %q, want the reason of %q", tc.in, p, msg)
		}
	}
	for _, tc := range good {
		if p := sshx.TargetProblem(tc.in); p != "" {
			t.Errorf("TargetProblem(%q) = %q, want none", tc.in, p)
		}
	}
	if _, err := sshx.ParseTarget(strings.Repeat("h", 255)); err != nil {
		t.Errorf("a 255-byte host: %v", err)
	}
}

func TestTargetStringOmitsEmptyParts(t *testing.T) {
	for _, tc := range []struct {
		t    sshx.Target
		want string
	}{
		{sshx.Target{Host: "h"}, "h"},
		{sshx.Target{User: "u", Host: "h"}, "u@h"},
		{sshx.Target{Host: "h", Port: 22}, "h:22"},
		{sshx.Target{User: "u", Host: "::1", Port: 22}, "u@[::1]:22"},
		{sshx.Target{User: "u", Host: "::1"}, "u@::1"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"h", "u@h", "h:22", "u@h:22", "[::1]", "u@[::1]:2222", "::1", "fe80::1%eth0",
		"[fe80::1%lo]:1", "-x", "a;b", "h:0", "[::ffff:1.2.3.4]:9", "u@@h", "[]", "[:]:1",
		"1.2.3.4:65535", "x@[::1]:", "::", "[::]:00022",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := sshx.ParseTarget(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("ParseTarget(%q): error of more than one line: %q", s, err)
			}
			return
		}
		if tg.Host == "" || strings.HasPrefix(tg.Host, "-") || strings.HasPrefix(tg.User, "-") {
			t.Fatalf("ParseTarget(%q) = %#v: empty host or leading '-'", s, tg)
		}
		if tg.Port < 0 || tg.Port > 65535 {
			t.Fatalf("ParseTarget(%q) = %#v: bad port", s, tg)
		}
		if strings.ContainsAny(tg.Host+tg.User, " \t\n\r$`;&|<>(){}'\"\\*?!") {
			t.Fatalf("ParseTarget(%q) = %#v: shell metacharacter or space accepted", s, tg)
		}
		back, err := sshx.ParseTarget(tg.String())
		if err != nil {
			t.Fatalf("ParseTarget(%q) = %#v, but its String() %q does not parse: %v", s, tg, tg.String(), err)
		}
		if back != tg {
			t.Fatalf("ParseTarget(%q) = %#v, String() %q parses back as %#v", s, tg, tg.String(), back)
		}
		_ = tg.Addr()
	})
}
