package sshx

import (
	"strings"
	"testing"
)

func TestConfigKeyword(t *testing.T) {
	for _, tc := range []struct{ line, key, rest string }{
		{"StrictHostKeyChecking yes", "StrictHostKeyChecking", "yes"},
		{"  stricthostkeychecking=no", "stricthostkeychecking", "no"},
		{"\tStrictHostKeyChecking = accept-new ", "StrictHostKeyChecking", "accept-new"},
		{"# StrictHostKeyChecking yes", "", ""},
		{"Include \"a b\" c", "Include", "\"a b\" c"},
		{"", "", ""},
	} {
		if k, r := configKeyword(tc.line); k != tc.key || r != tc.rest {
			t.Errorf("configKeyword(%q) = %q, %q; want %q, %q", tc.line, k, r, tc.key, tc.rest)
		}
	}
	if w, ok := configWords(`"a b" c  "d"`); !ok || strings.Join(w, "|") != "a b|c|d" {
		t.Errorf("configWords: %q %v", w, ok)
	}
	if _, ok := configWords(`"a b`); ok {
		t.Error("configWords took an unclosed quote")
	}
}

// FuzzScanConfig: any file content is scanned without a panic; a file with no
// StrictHostKeyChecking and no Include is never said to set it; one whose
// line starts with the keyword always is.
func FuzzScanConfig(f *testing.F) {
	for _, s := range []string{
		"Host *\n  StrictHostKeyChecking yes\n",
		"StrictHostKeyChecking=no",
		"# StrictHostKeyChecking yes\nHost x\n",
		"Include \"unclosed\n",
		"Include %d/x\n",
		"Host a\n\tPort 22\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lower := strings.ToLower(s)
		if strings.Contains(lower, "include") {
			// Following includes reads the file system; only the line parser here.
			for _, l := range strings.Split(s, "\n") {
				k, r := configKeyword(l)
				if strings.ContainsAny(k, " \t=") || (k == "" && r != "") {
					t.Fatalf("configKeyword(%q) = %q, %q", l, k, r)
				}
				configWords(r)
			}
			return
		}
		got := scanConfig([]byte(s), false, 0, "stricthostkeychecking")
		if !strings.Contains(lower, "stricthostkeychecking") && got {
			t.Fatalf("said to set StrictHostKeyChecking: %q", s)
		}
		if !got && scanConfig([]byte(s+"\nStrictHostKeyChecking yes\n"), false, 0, "stricthostkeychecking") == false {
			t.Fatalf("the keyword added on its own line was missed: %q", s)
		}
	})
}
