package sshx_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/sshx"
)

// quoteSamples are strings that are hard to quote.
var quoteSamples = []string{
	"", "plain", "two words", "it's", "'", "''", `\`, `\\`, `a\'b`, `trailing\`,
	"$HOME", "$(touch canary)", "`touch canary`", "a\nb\n", "\n", "tab\there",
	`"double"`, "semi;colon && or || pipe | amp &", "glob * ? [a]", "~root", "#comment",
	"!bang", "%s %d", "-n", "--", "\x01\x7f\xff\xfe", "ünïcödé ☃", "'\\''", "a'b'c'",
	"\\\n", "{a,b}", "$((1+1))", "${x:-y}", "<in >out 2>&1",
}

// shEcho runs sh -c with "printf %s <word>" and returns what it printed.
func shEcho(t testing.TB, shell, word string) string {
	t.Helper()
	out, err := exec.Command(shell, "-c", "printf %s "+word).Output()
	if err != nil {
		t.Fatalf("%s -c 'printf %%s %s': %v", shell, word, err)
	}
	return string(out)
}

func TestQuote(t *testing.T) {
	if got := sshx.Quote(""); got != "''" {
		t.Errorf(`Quote("") = %s, want ''`, got)
	}
	if got := sshx.Quote("it's"); got != `'it'\''s'` {
		t.Errorf(`Quote("it's") = %s`, got)
	}
	for _, s := range quoteSamples {
		if got := shEcho(t, "sh", sshx.Quote(s)); got != s {
			t.Errorf("sh read Quote(%q) = %s back as %q", s, sshx.Quote(s), got)
		}
	}
}

// TestQuoteAnyShell checks the quoting of the command sent to the remote login
// shell with every shell of that kind installed here (sh and bash at least).
func TestQuoteAnyShell(t *testing.T) {
	shells := 0
	for _, shell := range []string{"sh", "dash", "bash", "zsh", "fish"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s is not installed; not checked", shell)
			continue
		}
		shells++
		for _, s := range quoteSamples {
			if got := shEcho(t, path, sshx.QuoteAnyShell(s)); got != s {
				t.Errorf("%s read QuoteAnyShell(%q) = %s back as %q", shell, s, sshx.QuoteAnyShell(s), got)
			}
		}
	}
	if shells < 2 {
		t.Fatalf("found %d of the shells; want sh and bash at least", shells)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range quoteSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			return // no argument can hold a NUL
		}
		if got := shEcho(t, "sh", sshx.Quote(s)); got != s {
			t.Fatalf("sh read Quote(%q) = %s back as %q", s, sshx.Quote(s), got)
		}
		if got := shEcho(t, "sh", sshx.QuoteAnyShell(s)); got != s {
			t.Fatalf("sh read QuoteAnyShell(%q) = %s back as %q", s, sshx.QuoteAnyShell(s), got)
		}
	})
}
