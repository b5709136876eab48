package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hookshim/hookshim/install"
	"github.com/hookshim/hookshim/internal/sshx"
)

// hostProgress prints `install --ssh`'s line for each host on stdout as soon
// as that host is done and, while hosts are pending and stderr is a terminal,
// keeps one line on stderr rewritten in place:
//
//	installing on 3 hosts: 1 done, 2 pending (web1, db1)
//
// It is cleared before each host's line and once every host is done, so the
// terminal ends with the hosts' lines only. On anything but a terminal it
// writes no progress at all: a log or a pipe gets the hosts' lines alone.
type hostProgress struct {
	out     io.Writer
	term    io.Writer // stderr when it is a terminal (and the log is not JSON); nil otherwise
	width   int       // the terminal's columns
	total   int
	pending []string // the hosts not done yet, in the order given
	drawn   bool
	werr    error // the first failed write to out
}

// newHostProgress is the progress of an install on targets for p: on its
// stderr when that is a terminal and every stderr line need not be JSON.
func newHostProgress(p Process, targets []sshx.Target, jsonLog bool) *hostProgress {
	h := &hostProgress{out: p.Stdout, total: len(targets)}
	for _, t := range targets {
		h.pending = append(h.pending, t.String())
	}
	if isTerminal(p.Stderr) && !jsonLog {
		h.term = p.Stderr
		h.width = terminalColumns(p.Stderr)
		if h.width <= 0 {
			h.width = 80 // a terminal that does not say how wide it is
		}
	}
	return h
}

// start draws the progress line before any host is done.
func (h *hostProgress) start() { h.draw() }

// done prints a host's line, then the progress line again while hosts are
// pending. It fits install.Remote.Push's each.
func (h *hostProgress) done(res install.HostResult) {
	h.clear()
	if _, err := fmt.Fprintln(h.out, res); err != nil && h.werr == nil {
		h.werr = err
	}
	if i := slices.Index(h.pending, res.Target.String()); i >= 0 {
		h.pending = slices.Delete(h.pending, i, i+1)
	}
	h.draw()
}

// clear removes the progress line, if drawn.
func (h *hostProgress) clear() {
	if h.drawn {
		io.WriteString(h.term, "\r\x1b[K")
		h.drawn = false
	}
}

func (h *hostProgress) draw() {
	if h.term == nil || len(h.pending) == 0 {
		return
	}
	io.WriteString(h.term, "\r"+progressLine(h.total, h.pending, h.width-1)+"\x1b[K")
	h.drawn = true
}

// progressLine is "installing on N hosts: K done, M pending (h1, h2, …)"
// in at most width runes (the list of pending hosts is cut with "…").
func progressLine(total int, pending []string, width int) string {
	head := fmt.Sprintf("installing on %s: %d done, %d pending", pluralHosts(total), total-len(pending), len(pending))
	var b strings.Builder
	b.WriteString(head + " (")
	for i, p := range pending {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		rest := ")"
		if i < len(pending)-1 {
			rest = ", …)" // room for the cut, should the next host not fit
		}
		if utf8.RuneCountInString(b.String()+sep+p+rest) > width {
			if i == 0 {
				return head
			}
			b.WriteString(", …)")
			return b.String()
		}
		b.WriteString(sep + p)
	}
	b.WriteString(")")
	return b.String()
}
