package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestDemoSameBytes runs the README's first command, examples/demo.sh, as a
// person would (go run included), in two time zones with the example's files
// touched in between: it must print the same bytes both times, and those of
// testdata/output.txt, which the README shows.
func TestDemoSameBytes(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	first := runExample(t, root, "examples/demo.sh", "UTC")
	later := time.Now() // touch
	for _, f := range []string{"examples/demo.sh", "examples/demo/main.go"} {
		if err := os.Chtimes(filepath.Join(root, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	second := runExample(t, root, "examples/demo.sh", "Asia/Tokyo")
	if !bytes.Equal(first, second) {
		t.Errorf("two runs differ:\n--- TZ=UTC\n%s--- TZ=Asia/Tokyo\n%s", first, second)
	}
	want, err := os.ReadFile("testdata/output.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, want) {
		t.Errorf("examples/demo.sh printed:\n%s\nwant (testdata/output.txt):\n%s", first, want)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, want) {
		t.Errorf("README.md does not show testdata/output.txt")
	}
}

// runExample runs one of the README's example scripts from the checkout's
// root as a person would (sh SCRIPT, go run included) with TZ=tz, and
// returns what it printed on stdout. Each says first, on stderr, that it is
// building.
func runExample(t *testing.T, root, script, tz string) []byte {
	t.Helper()
	cmd := exec.Command("sh", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TZ="+tz)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("TZ=%s %s: %v\n%s", tz, script, err, stderr.Bytes())
	}
	if !bytes.HasPrefix(stderr.Bytes(), []byte("building hookshim")) {
		t.Errorf("%s does not say it is building first; stderr:\n%s", script, stderr.Bytes())
	}
	return out
}
