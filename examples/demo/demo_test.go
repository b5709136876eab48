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
	run := func(tz string) []byte {
		t.Helper()
		cmd := exec.Command("sh", "examples/demo.sh")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "TZ="+tz)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("TZ=%s examples/demo.sh: %v\n%s", tz, err, stderr.Bytes())
		}
		if !bytes.HasPrefix(stderr.Bytes(), []byte("building hookshim")) {
			t.Errorf("examples/demo.sh does not say it is building first; stderr:\n%s", stderr.Bytes())
		}
		return out
	}
	first := run("UTC")
	later := time.Now() // touch
	for _, f := range []string{"examples/demo.sh", "examples/demo/main.go"} {
		if err := os.Chtimes(filepath.Join(root, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	second := run("Asia/Tokyo")
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
