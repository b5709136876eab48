package lockreport

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/hookshim/hookshim/internal/termsafe"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// DefaultWidth is how many columns a table fits by default: a line of it
// never wraps on a terminal of 120 columns or more.
const DefaultWidth = 120

// TableOptions shape the table.
type TableOptions struct {
	// Width is the most columns a line may take; 0 means DefaultWidth. Only
	// free-text columns are cut to fit, with "…": MESSAGE first, then HOLDER,
	// then VERSION (ERROR in the jobs table), each down to a floor of a few
	// runes. Hosts, lock paths, job ids, hooks, times, ages and states are
	// never cut, so a line holding a long one may be wider than Width.
	// Widths count runes, as text/tabwriter does.
	Width int
	// Wide shows every value whole, however wide the lines get.
	Wide bool
}

// table is the shape of a table: its headers, and the steps by which its
// free-text columns are cut when its lines are too wide.
type table struct {
	heads []string
	cuts  []cutStep
}

// cutStep cuts column col down to at most floor runes (never below its
// header) when the lines are still too wide.
type cutStep struct {
	col, floor int
}

// cell is one value of a table, already cleaned. short, when set, is what is
// shown instead of text when text must be cut (a hold's trace).
type cell struct {
	text, short string
}

// empty is what an unknown or empty cell shows.
const empty = "-"

// The lock table cuts VERSION first (7 hex digits still name a commit), then
// MESSAGE to 21 runes (Kamal's "Automatic deploy lock" whole), then HOLDER to
// 8, then MESSAGE to 8; the jobs table cuts ERROR only. The jobs table leaves
// out REPO and LOG unless wide: they are long paths that are never cut, so
// they alone would make it wider than most terminals, and `hookshim wait`
// names a job's log anyway.
var (
	lockTable = table{
		heads: []string{"HOST", "LOCK", "HOLDER", "SINCE", "AGE", "VERSION", "MESSAGE", "STATE"},
		cuts:  []cutStep{{5, 8}, {6, 21}, {2, 8}, {6, 8}},
	}
	jobTable = table{
		heads: []string{"JOB", "HOOK", "STATE", "SINCE", "AGE", "LOCK", "ERROR"},
		cuts:  []cutStep{{6, 12}},
	}
	wideJobTable = table{
		heads: []string{"JOB", "HOOK", "STATE", "SINCE", "AGE", "LOCK", "REPO", "LOG", "ERROR"},
	}
)

// Columns of the lock table that WriteTable reads back.
const (
	lockHostCol    = 0
	lockMessageCol = 6
	lockStateCol   = 7
)

// WriteTable writes the report for people: one row per lock (hosts in the
// order given, locks by path), one row per host that could not be read, the
// deferred jobs when there are any, and a last line counting it all. With no
// rows at all only that last line is written. When a value was cut, a line
// before the count says so and names --wide: "to fit N columns" when every
// line of the tables fits o.Width, else how wide they still are, since
// hosts, paths and times are never cut. When an unreachable host's reason
// was cut, the whole reason is written on a line of its own before that.
func WriteTable(w io.Writer, r *Report, o TableOptions) error {
	width := o.Width
	if width <= 0 {
		width = DefaultWidth
	}
	if o.Wide {
		width = 0
	}
	bw := bufio.NewWriter(w)
	rows := tableRows(r, o.Wide)
	var locks, jobs shown
	if len(rows) > 0 {
		locks = writeCells(bw, lockTable, rows, width)
	}
	if len(r.Jobs) > 0 {
		if len(rows) > 0 {
			bw.WriteString("\n")
		}
		t := jobTable
		if o.Wide {
			t = wideJobTable
		}
		jobs = writeCells(bw, t, jobRows(r, o.Wide), width)
	}
	if r.JobsErr != nil {
		// Whole: it names a path, and it is hookshim's own error, not text from a lock.
		bw.WriteString("deferred jobs: cannot list them: " + termsafe.Clean(r.JobsErr.Error()) + "\n")
	}
	if len(rows) > 0 || len(r.Jobs) > 0 {
		bw.WriteString("\n")
	}
	// Whole, as the hint after an unreachable host says the rows say why:
	// an operator needs the reason without running SSH again.
	for i, row := range rows {
		if row[lockStateCol].text == StateUnreachable && locks.cut[i] {
			fmt.Fprintf(bw, "%s is unreachable: %s\n", row[lockHostCol].text, row[lockMessageCol].text)
		}
	}
	if locks.anyCut || jobs.anyCut {
		if widest := max(locks.width, jobs.width); widest > width {
			fmt.Fprintf(bw, "(values cut with …; still %d columns wide: hosts, paths and times are never cut; --wide shows every value whole)\n", widest)
		} else {
			fmt.Fprintf(bw, "(values cut with … to fit %d columns; --wide shows them whole)\n", width)
		}
	}
	bw.WriteString(SummaryLine(r.Summary()) + "\n")
	return bw.Flush()
}

// shown is what writeCells wrote: which rows had a value cut, whether any
// had, and the widest line, in runes.
type shown struct {
	cut    []bool
	anyCut bool
	width  int
}

// writeCells writes a table whose lines fit width (0: no limit) as far as
// cutting its free-text columns can make them.
func writeCells(w io.Writer, t table, rows [][]cell, width int) shown {
	limits := t.fit(rows, width)
	s := shown{cut: make([]bool, len(rows))}
	lines := make([][]string, len(rows))
	widths := make([]int, len(t.heads))
	for i, h := range t.heads {
		widths[i] = utf8.RuneCountInString(h)
	}
	for r, row := range rows {
		lines[r] = make([]string, len(row))
		for i, c := range row {
			v := c.text
			if limits[i] > 0 && utf8.RuneCountInString(v) > limits[i] {
				if c.short != "" {
					v = c.short
				}
				v, s.cut[r], s.anyCut = clip(v, limits[i]), true, true
			}
			if v == "" {
				v = empty
			}
			lines[r][i] = v
			widths[i] = max(widths[i], utf8.RuneCountInString(v))
		}
	}
	// Every column but the last is padded by 2 (tabwriter's padding); the
	// last is not, so the widest line ends with the widest last cell.
	for i, n := range widths {
		if i < len(widths)-1 {
			n += 2
		}
		s.width += n
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// One Write per row: every Write to a tabwriter has its own cost, and
	// `locks --root` writes a row for each of possibly thousands of locks.
	buf := []byte(strings.Join(t.heads, "\t"))
	tw.Write(append(buf, '\n'))
	for _, line := range lines {
		buf = buf[:0]
		for i, v := range line {
			if i > 0 {
				buf = append(buf, '\t')
			}
			buf = append(buf, v...)
		}
		tw.Write(append(buf, '\n'))
	}
	tw.Flush()
	return s
}

// fit returns the most runes each column may show (0: no limit) so that the
// table's lines fit width, taking t.cuts in order until they fit or no step
// is left.
func (t table) fit(rows [][]cell, width int) []int {
	limits := make([]int, len(t.heads))
	if width <= 0 {
		return limits
	}
	widths := make([]int, len(t.heads))
	total := 2 * (len(t.heads) - 1) // tabwriter's padding between columns
	for i, h := range t.heads {
		widths[i] = utf8.RuneCountInString(h)
		for _, row := range rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i].text), len(empty))
		}
		total += widths[i]
	}
	for _, c := range t.cuts {
		if total <= width {
			break
		}
		floor := max(c.floor, utf8.RuneCountInString(t.heads[c.col]))
		if d := min(total-width, widths[c.col]-floor); d > 0 {
			widths[c.col] -= d
			total -= d
			limits[c.col] = widths[c.col]
		}
	}
	return limits
}

// tableRows are the lock rows, every cell cleaned; wide, versions are whole.
func tableRows(r *Report, wide bool) [][]cell {
	var rows [][]cell
	for _, res := range r.Results {
		host := cell{text: termsafe.Clean(res.Target.Name)}
		if res.Err != nil {
			rows = append(rows, []cell{host, {}, {}, {}, {}, {}, {text: termsafe.Clean(res.Err.Error())}, {text: StateUnreachable}})
			continue
		}
		for _, l := range locks(res) {
			rows = append(rows, lockRow(r, host, l, wide))
		}
	}
	return rows
}

func lockRow(r *Report, host cell, l lockfile.Lock, wide bool) []cell {
	var holder, since, age, version, message cell
	if t := l.Since(); !t.IsZero() {
		since.text = t.UTC().Format(lockfile.TimeLayout)
	}
	if ahead := l.Ahead(r.Now); ahead > 0 {
		age.text = "-" + shim.Ago(ahead) + " (clock skew)"
	} else if a, ok := r.Age(l); ok {
		age.text = shim.Ago(a)
	}
	if d := l.Details; d != nil {
		holder.text = termsafe.Clean(d.LockedBy)
		version.text = termsafe.Clean(d.Version)
		if !wide {
			version.text = shortVersion(version.text)
		}
		message.text = termsafe.Clean(d.Message)
		if h, ok := l.Hold(); ok {
			// Cut, a hold keeps what traces it: whose process on which machine.
			message.short = termsafe.Clean(fmt.Sprintf("hookshim %s hold by %s@%s pid %d", h.Hook, h.User, h.Host, h.PID))
		}
	} else {
		message.text = termsafe.Clean(l.Problem)
	}
	return []cell{host, {text: termsafe.Clean(l.Path)}, holder, since, age, version, message, {text: r.State(l)}}
}

// jobRows are the jobs' rows, every cell cleaned; wide, with REPO and LOG.
func jobRows(r *Report, wide bool) [][]cell {
	var rows [][]cell
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
		state := termsafe.Clean(j.State)
		if j.ExitStatus != nil {
			state += fmt.Sprintf(" (exit %d)", *j.ExitStatus)
		}
		row := []cell{{text: termsafe.Clean(j.ID)}, {text: termsafe.Clean(j.Hook)}, {text: state}, {text: since}, {text: age}, {text: termsafe.Clean(j.Lock)}}
		if wide {
			row = append(row, cell{text: termsafe.Clean(j.Repo)}, cell{text: termsafe.Clean(j.Log)})
		}
		rows = append(rows, append(row, cell{text: termsafe.Clean(j.Error)}))
	}
	return rows
}

// SummaryLine is the table's last line, e.g. "16 hosts, 2 locks (1 stale), 0 unreachable",
// or "... 3 locks (1 stale, 1 dead hold), ..." when a hold's process is gone.
func SummaryLine(s Summary) string {
	var b strings.Builder
	b.WriteString(plural(s.Hosts, "host", "hosts"))
	b.WriteString(", ")
	b.WriteString(plural(s.Locks, "lock", "locks"))
	switch {
	case s.Stale > 0 && s.DeadHolds > 0:
		fmt.Fprintf(&b, " (%d stale, %s)", s.Stale, plural(s.DeadHolds, "dead hold", "dead holds"))
	case s.Stale > 0:
		fmt.Fprintf(&b, " (%d stale)", s.Stale)
	case s.DeadHolds > 0:
		fmt.Fprintf(&b, " (%s)", plural(s.DeadHolds, "dead hold", "dead holds"))
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
