// Package termsafe escapes untrusted text (a lock file's fields, a host's
// error, a deploy.yml value, an environment variable, a flag) so that
// showing it can never drive a terminal: no control character, no Unicode
// format character (bidi overrides, zero-width characters), no line or
// paragraph separator and no invalid UTF-8 reaches the screen raw.
//
// There is one escaping, in two forms that differ only in the backslash:
// Clean doubles it, for a value shown bare (a cell of the locks table, a
// lock's Locked by in a message), where "\n" must not read as an escaped
// newline; Line leaves it, for a whole line hookshim writes to stderr, whose
// values are either already escaped (quoted with %q, or by Clean) or text
// with no escapes in it, so a second doubling would only garble them.
package termsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes an untrusted value safe to show on one line of a terminal:
// newline, carriage return and tab become \n, \r and \t; every other control
// character (C0, DEL, C1) becomes \xNN; Unicode format characters (category
// Cf: bidi overrides, zero-width characters, BOM) and line/paragraph
// separators become \uNNNN; invalid UTF-8 becomes U+FFFD; a backslash becomes
// \\, so that a value that spells "\n" never reads as an escaped newline.
// Nothing else changes.
func Clean(s string) string { return escape(s, true) }

// Line is Clean but for the backslash, which it leaves alone: for a line
// made of hookshim's words and values that were escaped once already (%q,
// Clean), which the terminal must still never receive a control or format
// character through (a value that was not escaped, whatever its source).
func Line(s string) string { return escape(s, false) }

func escape(s string, backslash bool) string {
	if plain(s, backslash) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' && backslash:
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r) // RuneError for invalid bytes writes U+FFFD
		}
	}
	return b.String()
}

// plain says escape has nothing to do: the common case, checked without
// building a copy (and for printable ASCII without the Unicode tables).
func plain(s string, backslash bool) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' && backslash {
			ascii = false
			break
		}
	}
	if ascii {
		return true
	}
	for _, r := range s {
		// A real U+FFFD is written back as it is; an invalid byte is not.
		if needsEscape(r) || r == utf8.RuneError || r == '\\' && backslash {
			return false
		}
	}
	return true
}

func needsEscape(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return false // printable ASCII: the common case, without the Unicode tables
	}
	return r < 0x20 || r >= 0x7f && r < 0xa0 ||
		unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}
