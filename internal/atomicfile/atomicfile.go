// Package atomicfile replaces a file so that a reader sees the old content or
// the new, never a part: node_exporter's textfile collector may read the file
// at any moment.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Error is a failed write; Step says which: "create" (the temporary file could
// not be made: a missing or unwritable directory), "write", "fsync", "close",
// "chmod" or "rename".
type Error struct {
	Step string
	Path string // the file being replaced
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Path, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Write replaces path with what fill writes, with mode perm: it writes a
// temporary file in path's directory (named ".BASE.*.tmp", hidden, and not
// matching node_exporter's "*.prom"), fsyncs it, renames it over path and
// fsyncs the directory. On any failure path is left as it was and the
// temporary file is removed.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return &Error{"create", path, err}
	}
	tmp := f.Name()
	step := "write"
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = &Error{step, path, err}
		}
	}()
	bw := bufio.NewWriter(f)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; a collector running as another user
	// must be able to read it.
	step = "chmod"
	if err = f.Chmod(perm); err != nil {
		return err
	}
	step = "fsync"
	if err = f.Sync(); err != nil {
		return err
	}
	step = "close"
	if err = f.Close(); err != nil {
		return err
	}
	step = "rename"
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename durable where the file system can sync a
// directory; the new content is in place either way, so a failure (EINVAL on
// some file systems) is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
