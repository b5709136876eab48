package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLocksExampleSameBytes runs the README's second command,
// examples/locks.sh, in two time zones with the example host's lock
// directories touched in between (as a fresh clone leaves them, at the clone's
// time): it must print the same bytes both times, and those of
// testdata/locks-output.txt, which the README shows.
func TestLocksExampleSameBytes(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	first := runExample(t, root, "examples/locks.sh", "UTC")
	now := time.Now()
	err = filepath.Walk(filepath.Join(root, "examples", "host"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, now, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	second := runExample(t, root, "examples/locks.sh", "Asia/Tokyo")
	if !bytes.Equal(first, second) {
		t.Errorf("two runs differ:\n--- TZ=UTC\n%s--- TZ=Asia/Tokyo\n%s", first, second)
	}
	want, err := os.ReadFile("testdata/locks-output.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, want) {
		t.Errorf("examples/locks.sh printed:\n%s\nwant (testdata/locks-output.txt):\n%s", first, want)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, want) {
		t.Errorf("README.md does not show testdata/locks-output.txt")
	}
}
