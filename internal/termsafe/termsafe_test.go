package termsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCleanAndLine(t *testing.T) {
	for _, tc := range []struct{ in, clean, line string }{
		{"plain text, ünïcödé 日本", "plain text, ünïcödé 日本", "plain text, ünïcödé 日本"},
		{"a\nb\r\tc", `a\nb\r\tc`, `a\nb\r\tc`},
		{"\x1b[31mred\x1b[0m\a", `\x1b[31mred\x1b[0m\x07`, `\x1b[31mred\x1b[0m\x07`},
		{"\x00\x7f\u0085\u009b", `\x00\x7f\x85\x9b`, `\x00\x7f\x85\x9b`},
		{"\u202eabc\u2066\ufeff", `\u202eabc\u2066\ufeff`, `\u202eabc\u2066\ufeff`},
		{"x\u2028y\u2029z", `x\u2028y\u2029z`, `x\u2028y\u2029z`},
		{"bad\xffbyte", "bad\uFFFDbyte", "bad\uFFFDbyte"},
		{"real \uFFFD", "real \uFFFD", "real \uFFFD"},
		// A literal backslash never reads as an escape in a bare value; in a
		// line, whose values are quoted, it is left as it is.
		{`C:\new` + "\n", `C:\\new\n`, `C:\new\n`},
		{`--service "a\nb"`, `--service "a\\nb"`, `--service "a\nb"`},
		{"", "", ""},
	} {
		if got := Clean(tc.in); got != tc.clean {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.clean)
		}
		if got := Line(tc.in); got != tc.line {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
		}
	}
}

// FuzzEscape: whatever the input, neither form lets a control or format
// character, a separator or invalid UTF-8 through; Line differs from Clean
// only in the backslashes Clean doubled; text with nothing to escape is
// kept as it is.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "a\nb", `C:\new`, "\x1b]0;x\a", "\u202e\u2028", "\xff\xfe", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clean, line := Clean(s), Line(s)
		for _, out := range []string{clean, line} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of %q: %q", s, out)
			}
			for _, r := range out {
				if r < 0x20 || r >= 0x7f && r < 0xa0 || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
					t.Fatalf("%U passed raw from %q: %q", r, s, out)
				}
			}
		}
		// Every escape but \\ starts with one backslash and a letter, so
		// undoubling Clean's backslashes, left to right, gives Line.
		if want := strings.ReplaceAll(clean, `\\`, `\`); line != want {
			t.Fatalf("Line(%q) = %q, want Clean's %q with backslashes undoubled: %q", s, line, clean, want)
		}
		if strings.Count(clean, `\`) < 2*strings.Count(s, `\`) {
			t.Fatalf("Clean(%q) = %q did not double every backslash", s, clean)
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || needsEscape(r) }) && clean != s {
			t.Fatalf("Clean changed %q, which needed nothing, to %q", s, clean)
		}
	})
}
