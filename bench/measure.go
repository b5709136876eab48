package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cmdSpec is one command to time.
type cmdSpec struct {
	Name string
	Argv []string
	Env  []string
	Dir  string
	// Settle, when set, runs after each run, untimed, and returns once what
	// the command started elsewhere is over (the sshd serving its
	// connections), so that the next run neither waits for it nor is charged
	// its CPU.
	Settle func()
}

// sample is one timed run: wall time from start to reaped, and the CPU
// time wait4 reports. (Not its peak RSS: a child of this process starts with
// this process's high-water mark; see bench/rsswrap.)
type sample struct {
	D   time.Duration
	CPU time.Duration // user+system time of the process and the children it reaped
	// Busy is the CPU time every process on this machine used meanwhile, all
	// CPUs together (the local sshd hosts' included), in clock ticks of 10 ms
	// from /proc/stat; -1 when unknown.
	Busy time.Duration
}

// machineBusy is the CPU time this machine has spent busy since boot, all CPUs
// together (user, nice, system, irq, softirq; not idle, iowait or steal), or -1.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ)
}

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every Linux.
const userHZ = 100

// runOnce runs c to its end with stdin and stdout on /dev/null and stderr
// kept for an error message; it must exit 0.
func runOnce(c cmdSpec) (sample, error) {
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	busy := machineBusy()
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if busy >= 0 {
		if after := machineBusy(); after >= 0 {
			busy = after - busy
		} else {
			busy = -1
		}
	}
	if err != nil {
		return sample{}, fmt.Errorf("%s: %v: %s", c.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return sample{D: d, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), Busy: busy}, nil
}

// interleaved runs warm rounds unmeasured, then reps rounds, each round
// running every spec once in turn, so that drift in the machine's speed hits
// every command alike. It returns the samples per spec.
func interleaved(reps, warm int, specs ...cmdSpec) ([][]sample, error) {
	out := make([][]sample, len(specs))
	for i := range warm + reps {
		for j, c := range specs {
			s, err := runOnce(c)
			if err != nil {
				return nil, err
			}
			if c.Settle != nil {
				c.Settle()
			}
			if i >= warm {
				out[j] = append(out[j], s)
			}
		}
	}
	return out, nil
}

// stats summarises durations.
type stats struct {
	N                int
	Median, P10, P90 time.Duration
	MedianCPU        time.Duration
	// MeanBusy is the mean of the samples' Busy (a mean, as its 10 ms ticks are
	// coarse for one run), or -1 when unknown.
	MeanBusy time.Duration
}

func durStats(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		// nearest rank
		i := int(p*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return s[i]
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{N: len(s), Median: med, P10: q(0.10), P90: q(0.90)}
}

func sampleStats(ss []sample) stats {
	ds := make([]time.Duration, len(ss))
	cpu := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i], cpu[i] = s.D, s.CPU
	}
	st := durStats(ds)
	st.MedianCPU = durStats(cpu).Median
	st.MeanBusy = -1
	if len(ss) > 0 {
		var sum time.Duration
		for _, s := range ss {
			if s.Busy < 0 {
				return st
			}
			sum += s.Busy
		}
		st.MeanBusy = sum / time.Duration(len(ss))
	}
	return st
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// signedMs is ms with a minus sign for a negative duration.
func signedMs(d time.Duration) string {
	if d < 0 {
		return "-" + ms(-d)
	}
	return ms(d)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// verdict says whether a measured value met its target.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// lineWatcher collects a process's output and lets the caller wait for text.
type lineWatcher struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLineWatcher() *lineWatcher { return &lineWatcher{changed: make(chan struct{})} }

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until the output contains s.
func (w *lineWatcher) waitFor(s string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ok, ch := bytes.Contains(w.buf.Bytes(), []byte(s)), w.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}
