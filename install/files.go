package install

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// writeTemp creates a temporary file in dir whose name starts with prefix, fills
// it from r, sets mode, fsyncs and closes it, and returns its path. On any
// failure the file is removed again and the error names the step that failed.
func writeTemp(dir, prefix string, r io.Reader, mode os.FileMode) (name string, step string, err error) {
	f, err := os.CreateTemp(dir, prefix)
	if err != nil {
		return "", "create", err
	}
	name = f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return name, "write", err
	}
	if err = f.Chmod(mode); err != nil {
		return name, "chmod", err
	}
	if err = f.Sync(); err != nil {
		return name, "fsync", err
	}
	if err = f.Close(); err != nil {
		return name, "close", err
	}
	return name, "", nil
}

// syncDir fsyncs a directory so a rename in it is durable. File systems that
// cannot sync a directory (EINVAL) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// linkNoClobber makes newname a second name of oldname, failing with
// fs.ErrExist when newname exists: an atomic create-if-absent. Where the file
// system has no hard links it falls back to an exclusive copy that keeps the
// mode (copied reports that the fallback was taken).
func linkNoClobber(oldname, newname string) (copied bool, err error) {
	err = os.Link(oldname, newname)
	if err == nil || errors.Is(err, os.ErrExist) {
		return false, err
	}
	var le *os.LinkError
	if !errors.As(err, &le) || !(errors.Is(le.Err, syscall.EPERM) || errors.Is(le.Err, syscall.EXDEV) ||
		errors.Is(le.Err, syscall.ENOTSUP) || errors.Is(le.Err, syscall.EMLINK)) {
		return false, err
	}
	return true, copyExclusive(oldname, newname)
}

// copyExclusive copies src to a new file dst (which must not exist) with src's
// mode, and fsyncs it. A partial dst is removed.
func copyExclusive(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(dst)
		}
	}()
	if _, err = io.Copy(out, in); err != nil {
		return err
	}
	// The umask may have narrowed the mode given to OpenFile.
	if err = out.Chmod(fi.Mode()); err != nil {
		return err
	}
	if err = out.Sync(); err != nil {
		return err
	}
	return out.Close()
}
