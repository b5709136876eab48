package main

import (
	"regexp"
	"strings"
	"testing"
)

// A failed test's output is printed, package lines pass through, and a skip
// fails the summary unless its reason is allowed.
func TestSummary(t *testing.T) {
	events := []event{
		{Action: "output", Package: "p", Test: "TestA", Output: "=== RUN   TestA\n"},
		{Action: "pass", Package: "p", Test: "TestA"},
		{Action: "output", Package: "p", Test: "TestB", Output: "    b_test.go:3: boom\n"},
		{Action: "fail", Package: "p", Test: "TestB"},
		{Action: "output", Package: "p", Test: "TestC", Output: "    c_test.go:9: cannot mount a tmpfs\n"},
		{Action: "output", Package: "p", Test: "TestC", Output: "--- SKIP: TestC (0.00s)\n"},
		{Action: "skip", Package: "p", Test: "TestC"},
		{Action: "output", Package: "p", Output: "PASS\n"},
		{Action: "output", Package: "p", Output: "ok  \tp\t0.1s\n"},
		{Action: "pass", Package: "p"},
	}
	for _, tc := range []struct {
		allow  string
		status int
		want   string
	}{
		{"nothing", 1, "SKIP NOT ALLOWED: p TestC: c_test.go:9: cannot mount a tmpfs\n"},
		{"tmpfs$", 1, "SKIP (allowed): p TestC: c_test.go:9: cannot mount a tmpfs\n"},
	} {
		var out strings.Builder
		s := &summary{out: &out, output: map[string]*strings.Builder{}, ended: map[string]bool{}}
		for _, e := range events {
			s.add(e)
		}
		status := s.finish(allowList{regexp.MustCompile(tc.allow)})
		got := out.String()
		if status != tc.status || !strings.Contains(got, tc.want) || !strings.Contains(got, "b_test.go:3: boom") ||
			strings.Contains(got, "PASS\n") || !strings.Contains(got, "ok  \tp\t0.1s\n") || !strings.HasSuffix(got, "1 passed, 1 failed, 1 skipped\n") {
			t.Errorf("allow %q: status %d, want %d; output:\n%s", tc.allow, status, tc.status, got)
		}
	}
	var out strings.Builder
	s := &summary{out: &out, output: map[string]*strings.Builder{}, ended: map[string]bool{}}
	for _, e := range append(events[:2:2], events[4:]...) {
		s.add(e)
	}
	if status := s.finish(allowList{regexp.MustCompile("tmpfs$")}); status != 0 {
		t.Errorf("a pass and an allowed skip: status %d, want 0:\n%s", status, out.String())
	}
}
