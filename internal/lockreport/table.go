package lockreport

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// Widest values the table shows, in runes; longer ones are clipped with "…".
const (
	maxHost    = 48
	maxPath    = 64
	maxHolder  = 40
	maxVersion = 40
	maxMessage = 120
)

// empty is what an unknown or empty cell shows.
const empty = "-"

// WriteTable writes the report for people: one row per lock (hosts in the
// order given, locks by path), one row per host that could not be read, the
// deferred jobs when there are any, and a last line counting it all. With no
// rows at all only that last line is written.
func WriteTable(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	rows := tableRows(r)
	if len(rows) > 0 {
		writeCells(bw, [][]string{{"HOST", "LOCK", "HOLDER", "SINCE", "AGE", "VERSION", "MESSAGE", "STATE"}}, rows)
	}
	if len(r.Jobs) > 0 {
		if len(rows) > 0 {
			bw.WriteString("\n")
		}
		writeCells(bw, [][]string{{"JOB", "HOOK", "STATE", "SINCE", "AGE", "LOCK", "REPO", "LOG", "ERROR"}}, jobRows(r))
	}
	if r.JobsErr != nil {
		fmt.Fprintf(bw, "deferred jobs: cannot list them: %s\n", clip(Clean(r.JobsErr.Error()), maxMessage*2))
	}
	if len(rows) > 0 || len(r.Jobs) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString(SummaryLine(r.Summary()) + "\n")
	return bw.Flush()
}

func writeCells(w io.Writer, head, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// One Write per row: every Write to a tabwriter has its own cost, and
	// `locks --root` writes a row for each of possibly thousands of locks.
	var line []byte
	for _, row := range append(head, rows...) {
		line = line[:0]
		for i, cell := range row {
			if cell == "" {
				cell = empty
			}
			if i > 0 {
				line = append(line, '\t')
			}
			line = append(line, cell...)
		}
		tw.Write(append(line, '\n'))
	}
	tw.Flush()
}

// tableRows are the lock rows, every cell already cleaned and clipped.
func tableRows(r *Report) [][]string {
	var rows [][]string
	for _, res := range r.Results {
		host := clip(Clean(res.Target.Name), maxHost)
		if res.Err != nil {
			rows = append(rows, []string{host, "", "", "", "", "", clip(Clean(res.Err.Error()), maxMessage*2), StateUnreachable})
			continue
		}
		for _, l := range locks(res) {
			rows = append(rows, lockRow(r, host, l))
		}
	}
	return rows
}

func lockRow(r *Report, host string, l lockfile.Lock) []string {
	state := string(KindOf(l))
	if r.Stale(l) {
		state = StateStale
	}
	var holder, since, age, version, message string
	if t := l.Since(); !t.IsZero() {
		since = t.UTC().Format(lockfile.TimeLayout)
	}
	if ahead := l.Ahead(r.Now); ahead > 0 {
		age = "-" + shim.Ago(ahead) + " (clock skew)"
	} else if a, ok := r.Age(l); ok {
		age = shim.Ago(a)
	}
	if d := l.Details; d != nil {
		holder = clip(Clean(d.LockedBy), maxHolder)
		version = clip(Clean(shortVersion(d.Version)), maxVersion)
		message = clip(Clean(d.Message), maxMessage)
		if h, ok := l.Hold(); ok && utf8.RuneCountInString(Clean(d.Message)) > maxMessage {
			// Keep what traces a hold (token, user@host, pid) whatever follows it.
			message = clip(Clean(h.Message()), maxMessage)
		}
	} else {
		message = clip(Clean(l.Problem), maxMessage)
	}
	return []string{host, clip(Clean(l.Path), maxPath), holder, since, age, version, message, state}
}

func jobRows(r *Report) [][]string {
	var rows [][]string
	for _, j := range r.Jobs {
		var since, age string
		if !j.Since.IsZero() {
			since = j.Since.UTC().Format(lockfile.TimeLayout)
			a := r.Now.Sub(j.Since)
			if a < 0 {
				a = 0
			}
			age = shim.Ago(a)
		}
		state := Clean(j.State)
		if j.ExitStatus != nil {
			state += fmt.Sprintf(" (exit %d)", *j.ExitStatus)
		}
		rows = append(rows, []string{
			clip(Clean(j.ID), maxHost), clip(Clean(j.Hook), maxHost), clip(state, maxHost), since, age,
			clip(Clean(j.Lock), maxPath), clip(Clean(j.Repo), maxPath), clip(Clean(j.Log), maxPath),
			clip(Clean(j.Error), maxMessage),
		})
	}
	return rows
}

// SummaryLine is the table's last line, e.g. "16 hosts, 2 locks (1 stale), 0 unreachable".
func SummaryLine(s Summary) string {
	var b strings.Builder
	b.WriteString(plural(s.Hosts, "host", "hosts"))
	b.WriteString(", ")
	b.WriteString(plural(s.Locks, "lock", "locks"))
	if s.Stale > 0 {
		fmt.Fprintf(&b, " (%d stale)", s.Stale)
	}
	fmt.Fprintf(&b, ", %d unreachable", s.Unreachable)
	if s.Jobs > 0 {
		b.WriteString(", " + plural(s.Jobs, "deferred job", "deferred jobs"))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// shortVersion abbreviates a full git SHA-1 (40 hex digits), which is what
// Kamal usually deploys, to its first 12 digits. Other versions are kept.
func shortVersion(v string) string {
	if len(v) != 40 {
		return v
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return v
		}
	}
	return v[:12]
}

// Clean makes an untrusted string safe to show on one line of a terminal:
// newline, carriage return and tab become \n, \r and \t; every other control
// character (C0, DEL, C1) becomes \xNN; Unicode format characters (bidi
// overrides, zero-width characters, BOM) and line/paragraph separators become
// \uNNNN; invalid UTF-8 becomes U+FFFD; a backslash becomes \\, so that a
// value that spells "\n" never reads as an escaped newline. Nothing else
// changes. It is the one escaping hookshim uses: the locks table, and every
// line hookshim logs or reports on a terminal (see escapedLines in package
// main).
func Clean(s string) string {
	if printableASCII(s) {
		return s
	}
	clean := true
	for _, r := range s {
		if needsEscape(r) || r == utf8.RuneError || r == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
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

func needsEscape(r rune) bool {
	if r >= 0x20 && r < 0x7f {
		return false // printable ASCII: the common case, without the Unicode tables
	}
	return r < 0x20 || r >= 0x7f && r < 0xa0 ||
		unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// printableASCII says s is all printable ASCII but the backslash: nothing
// for Clean to do.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// clip shortens s to at most n runes, ending in "…" when it cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}
