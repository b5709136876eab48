// Command testsummary reads `go test -json` on standard input and prints what
// a person (and CI) needs from it: the output of every failed test, every
// skipped test with its reason, go test's closing line for each package
// (ok/FAIL), and a last line "N passed, N failed, N skipped".
//
// A skip is allowed only when its reason matches one of the -allow regular
// expressions; any other skip fails the run, so that a test that cannot run
// on a machine (no CAP_SYS_ADMIN, a writable /sys) is never mistaken for one
// that passed. Exit status: 0 all passed, 1 a test or package failed or a
// skip was not allowed, 2 bad input.
//
//	go test -json ./... | go run ./internal/testsummary -allow 'skipped with -short$'
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type allowList []*regexp.Regexp

func (a *allowList) String() string { return fmt.Sprint(*a) }

func (a *allowList) Set(s string) error {
	re, err := regexp.Compile(s)
	if err != nil {
		return err
	}
	*a = append(*a, re)
	return nil
}

// summary is what has been seen so far.
type summary struct {
	out                     io.Writer
	output                  map[string]*strings.Builder // package + " " + test -> its output
	ended                   map[string]bool
	skips                   []string // "package test: reason"
	passed, failed, skipped int
	pkgFailed               bool
}

func main() {
	var allow allowList
	flag.Var(&allow, "allow", "a skip reason `REGEXP` that is allowed (repeatable)")
	flag.Parse()
	s := &summary{out: os.Stdout, output: map[string]*strings.Builder{}, ended: map[string]bool{}}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not JSON (go vet or the build before the tests): pass it on.
			fmt.Fprintln(s.out, sc.Text())
			continue
		}
		s.add(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	os.Exit(s.finish(allow))
}

// add takes one event: a test's output is kept until it ends, and printed
// only if it failed; a package's own output (its ok/FAIL line, build errors)
// is printed as it comes.
func (s *summary) add(e event) {
	key := e.Package + " " + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(s.out, e.Output)
	case e.Test == "" && e.Action == "output":
		if e.Output != "PASS\n" {
			fmt.Fprint(s.out, e.Output)
		}
	case e.Test == "" && e.Action == "fail":
		s.pkgFailed = true
		// A panic or a timeout ends the package with tests still running:
		// their output says why.
		for k, b := range s.output {
			if strings.HasPrefix(k, e.Package+" ") && !s.ended[k] {
				fmt.Fprint(s.out, b.String())
			}
		}
	case e.Test == "":
	case e.Action == "output":
		if s.output[key] == nil {
			s.output[key] = &strings.Builder{}
		}
		s.output[key].WriteString(e.Output)
	case e.Action == "pass":
		s.ended[key] = true
		s.passed++
	case e.Action == "fail":
		s.ended[key] = true
		s.failed++
		if b := s.output[key]; b != nil {
			fmt.Fprint(s.out, b.String())
		}
	case e.Action == "skip":
		s.ended[key] = true
		s.skipped++
		s.skips = append(s.skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason(s.output[key])))
	}
}

// reason is what a skipped test logged, without the run and result lines.
func reason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " | ")
}

// finish lists the skips, marking those not allowed, prints the last line
// and returns the exit status.
func (s *summary) finish(allow allowList) int {
	sort.Strings(s.skips)
	bad := 0
	for _, sk := range s.skips {
		ok := false
		for _, re := range allow {
			ok = ok || re.MatchString(sk[strings.Index(sk, ": ")+2:])
		}
		mark := "SKIP (allowed)"
		if !ok {
			mark, bad = "SKIP NOT ALLOWED", bad+1
		}
		fmt.Fprintf(s.out, "%s: %s\n", mark, sk)
	}
	if bad > 0 {
		fmt.Fprintf(s.out, "%d tests skipped for a reason not on test.sh's allow-list: make them runnable here, or add the reason there with why it cannot run\n", bad)
	}
	fmt.Fprintf(s.out, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	if s.failed > 0 || s.pkgFailed || bad > 0 {
		return 1
	}
	return 0
}
