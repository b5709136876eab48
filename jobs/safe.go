package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The state directory is trusted the way OpenSSH trusts ~/.ssh (StrictModes):
// only when the user owns it and nobody else can reach into it. A record or
// log another user could write would make `hookshim wait` print what they
// like (a symlink to a file only root may read), exit 0 for a hook that never
// ran, or hang on a fifo. So the state directory, jobs/, every job directory
// and every job file must be owned by the effective user and writable by
// nobody else, group included (hookshim makes them 0700 and 0600); job files are opened
// without following symlinks and without blocking, and used only when they
// are regular files.

// UnsafeError is a state directory, or something in it, that another user
// owns or can reach: nothing in it is trusted.
type UnsafeError struct {
	Path    string
	Problem string // e.g. "is owned by uid 65534, not by you (uid 0)"
	Fix     string // a command that makes it safe
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("deferred jobs: %s %s, so hookshim does not trust it; fix: %s", e.Path, e.Problem, e.Fix)
}

// noFollow opens job files: never through a symlink, never blocking on a
// fifo or device.
const noFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// checkOwner is nil when fi (of path) belongs to the effective user and
// neither group nor others may write it (OpenSSH's StrictModes rule).
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid := os.Geteuid()
	if int(st.Uid) != uid {
		return &UnsafeError{path, fmt.Sprintf("is owned by uid %d, not by you (uid %d)", st.Uid, uid),
			fmt.Sprintf("check what is in it, then chown -R %d %s && chmod -R go-rwx %s; or pass --state-dir DIR", uid, path, path)}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UnsafeError{path, fmt.Sprintf("is writable by other users (mode %04o)", perm),
			fmt.Sprintf("check what is in it, then chmod -R go-rwx %s", path)}
	}
	return nil
}

// checkDir checks a directory of the state tree without following a
// symlink: exists is false when there is nothing at path.
func checkDir(path string) (exists bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return true, &UnsafeError{path, "is a symbolic link",
			fmt.Sprintf("pass --state-dir with the directory it points to, or replace it with a directory: mkdir -m 700 %s", path)}
	case !fi.IsDir():
		return true, fmt.Errorf("deferred jobs: %s is not a directory", path)
	}
	return true, checkOwner(path, fi)
}

// checkStateDirs checks the state directory and its jobs/ directory, where
// they exist.
func checkStateDirs(stateDir string) error {
	for _, d := range []string{stateDir, filepath.Join(stateDir, "jobs")} {
		if exists, err := checkDir(d); err != nil || !exists {
			return err
		}
	}
	return nil
}

// openJobFile opens a job file for reading: not through a symlink, not a
// fifo or device (a *CorruptError), and only when it is safely the user's
// (else an *UnsafeError).
func openJobFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &CorruptError{path, errors.New("a symbolic link, not a file")}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &CorruptError{path, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	}
	if err == nil {
		err = checkOwner(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkJobFiles checks a job's directory and the files in it that hookshim
// opens (record, log, lock) before any of them is read or locked.
func checkJobFiles(dir string) error {
	if exists, err := checkDir(dir); err != nil || !exists {
		if err == nil {
			err = fs.ErrNotExist
		}
		return err
	}
	for _, name := range []string{LogFile, LockFile, ReportedFile} {
		f, err := openJobFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}
