package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// The file is replaced by a rename (a new inode: a reader that opened the old
// one keeps reading it whole), readable by others, with nothing left behind.
func TestWriteReplacesByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hookshim.prom")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	before, _ := os.Stat(path)

	var tmpSeen []string
	err = Write(path, 0o644, func(w io.Writer) error {
		tmpSeen = listDir(t, dir)
		_, err := io.WriteString(w, "new\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tmpSeen {
		if n != "hookshim.prom" {
			if m, _ := filepath.Match("*.prom", n); m || n[0] != '.' {
				t.Errorf("temporary file %q would be read by node_exporter's textfile collector", n)
			}
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new\n" {
		t.Errorf("content %q", got)
	}
	if after.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", after.Mode().Perm())
	}
	if os.SameFile(before, after) {
		t.Error("the file was rewritten in place, not replaced")
	}
	if got, _ := io.ReadAll(old); string(got) != "old\n" {
		t.Errorf("a reader of the old file saw %q", got)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("left in the directory: %v", names)
	}
}

// A failure while writing leaves the old file as it was and no temporary file.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hookshim.prom")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	var e *Error
	if !errors.As(err, &e) || e.Step != "write" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("content %q", got)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("left in the directory: %v", names)
	}
}

func TestWriteMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "hookshim.prom")
	err := Write(path, 0o644, func(io.Writer) error { return nil })
	var e *Error
	if !errors.As(err, &e) || e.Step != "create" || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err = %v", err)
	}
}
