package sshx

import "strings"

// Quote quotes s for a POSIX sh command line: the result is one word that the
// shell turns back into exactly s, whatever bytes s holds. It always quotes, even
// when s needs none, and gives a pair of single quotes for "". (No quoting helps
// a NUL byte: no argument can hold one.)
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteAnyShell quotes s so that sh, bash, dash, zsh and fish all read it back as
// exactly s. It is for the one word sent to the remote login shell, which need not be
// POSIX: fish treats \\ and \' as escapes even inside single quotes, so a backslash
// is written outside quotes as \\ (which every one of those shells reads as one
// backslash), and a single quote as \'.
func quoteAnyShell(s string) string {
	if s == "" {
		return "''"
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	open := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' || c == '\\' {
			if open {
				b.WriteByte('\'')
				open = false
			}
			b.WriteByte('\\')
			b.WriteByte(c)
			continue
		}
		if !open {
			b.WriteByte('\'')
			open = true
		}
		b.WriteByte(c)
	}
	if open {
		b.WriteByte('\'')
	}
	return b.String()
}

// remoteCommand is what ssh sends for script and its arguments: the user's
// login shell on the host (bash, zsh, fish, ...) replaces itself with sh, which
// runs script with args as its positional parameters $1, $2, ... ($0 is "sh").
// Each word is quoted once, here, so a value passed as an argument never becomes
// part of the script's text.
func remoteCommand(script string, args ...string) string {
	if len(args) == 0 {
		return "exec sh -c " + quoteAnyShell(script)
	}
	var b strings.Builder
	b.WriteString("exec sh -c ")
	b.WriteString(quoteAnyShell(script))
	b.WriteString(" sh")
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(quoteAnyShell(a))
	}
	return b.String()
}

// holdsNUL reports whether the script or one of its arguments holds a NUL byte,
// which no argument of a command can carry.
func holdsNUL(script string, args []string) bool {
	if strings.IndexByte(script, 0) >= 0 {
		return true
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return true
		}
	}
	return false
}
