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

// remoteCommand is what ssh sends for script: the user's login shell on the host
// (bash, zsh, fish, ...) replaces itself with sh, which runs script.
func remoteCommand(script string) string {
	return "exec sh -c " + quoteAnyShell(script)
}
