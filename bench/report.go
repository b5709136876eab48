package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// section is one table of the results.
type section struct {
	Title string
	Head  []string
	Rows  [][]string
	Notes []string
}

// summaryLine is one target and what was measured against it.
type summaryLine struct {
	What, Measured, Target string
	Met                    bool
}

type report struct {
	sections      []section
	summary       []summaryLine
	binSize       int64
	binKind       string
	waiterRSSKB   int64 // deferred waiter's VmHWM
	fgWaiterRSSKB int64 // foreground `run --wait`
	loadBefore    string
	loadAfter     string
}

// loadAvg is /proc/loadavg's first three fields: how busy the machine was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (r *report) markdown(b *bench) string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	w("# hookshim benchmark results\n\n")
	if b.cfg.Quick {
		w("> **Quick run** (`-quick`): a handful of repetitions to check the harness. These numbers are not meaningful; run `go run ./bench` for the real ones.\n\n")
	}
	w("Produced by `%s` (from the module root), %s.\n\n", b.cfg.Command, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	w("| machine | |\n|---|---|\n")
	w("| CPUs (`nproc`) | %d |\n", runtime.NumCPU())
	w("| CPU | %s |\n", cpuModel())
	w("| `uname -a` | `%s` |\n", cmdLine("uname", "-a"))
	w("| Go | %s |\n", cmdLine("go", "version"))
	w("| OpenSSH | %s |\n", sshVersion())
	w("| hookshim | %s |\n", gitDescribe(b.modRoot))
	w("| load average (1, 5, 15 min) before / after | %s / %s |\n\n", r.loadBefore, r.loadAfter)
	w("Every number is a median of repeated, interleaved runs of real processes in this one run; ratios compare numbers from the same run. The sshd hosts are real OpenSSH servers on loopback addresses of this machine (one `sshd -i` per connection, as in the tests), so SSH costs here are handshake CPU, not network latency.\n\n")
	w("## Summary\n\n| measured | result | target | |\n|---|---|---|---|\n")
	for _, l := range r.summary {
		v := verdict(l.Met)
		if l.Target == "-" {
			v = ""
		} else if strings.HasPrefix(l.Measured, "n/a") {
			v = "not measured"
		}
		w("| %s | %s | %s | %s |\n", l.What, l.Measured, l.Target, v)
	}
	w("\n")
	for _, s := range r.sections {
		w("## %s\n\n", s.Title)
		w("| %s |\n|%s\n", strings.Join(s.Head, " | "), strings.Repeat("---|", len(s.Head)))
		for _, row := range s.Rows {
			for len(row) < len(s.Head) {
				row = append(row, "")
			}
			w("| %s |\n", strings.Join(row, " | "))
		}
		w("\n")
		for _, n := range s.Notes {
			w("- %s\n", n)
		}
		if len(s.Notes) > 0 {
			w("\n")
		}
	}
	return sb.String()
}

func cmdLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func sshVersion() string {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	if s := strings.TrimSpace(string(out)); s != "" {
		return s
	}
	return "unknown"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func gitDescribe(dir string) string {
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return "commit " + strings.TrimSpace(string(out))
}
