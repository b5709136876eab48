package lockfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/hookshim/hookshim/internal/sshx"
)

// Local is a lock tree on this machine: Root stands in for the SSH user's home
// on the lock host (hookshim's --root), or is the home itself when hookshim runs
// on the host.
type Local struct{ Root string }

// Where implements Store.
func (s Local) Where() string { return "local " + s.Root }

// Ref implements Store.
func (s Local) Ref(p string) string { return "local:" + s.abs(p) }

// RemoveCommand implements Store.
func (s Local) RemoveCommand(p string) string {
	return "rm -r -- " + sshx.Quote(s.abs(p))
}

func (s Local) abs(p string) string {
	if path.IsAbs(p) {
		return filepath.FromSlash(p)
	}
	return filepath.Join(s.Root, filepath.FromSlash(p))
}

// Scan implements Store.
func (s Local) Scan(ctx context.Context, runDirs ...string) ([]Lock, error) {
	var paths []string
	if _, err := os.Lstat(s.abs("mrsk_lock")); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		paths = append(paths, "mrsk_lock") // there, or cannot be told: read says which
	}
	var closed []Lock // directories that cannot be listed: what is in them is unknown
	for _, sd := range scanDirs(runDirs) {
		entries, err := os.ReadDir(s.abs(sd.dir))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			if !underAny(sd.dir, closed) {
				p := sd.dir + "/" + sd.prefix + "*"
				layout, name := classify(p)
				closed = append(closed, Lock{Path: p, Layout: layout, Name: name, State: Unreadable,
					Problem: fmt.Sprintf("%s cannot be listed (%s): whether a lock is there cannot be told", sd.dir, errText(err))})
			}
			continue
		}
		for _, e := range entries {
			// Names with a newline cannot be reported on one line; no Kamal makes them.
			if strings.HasPrefix(e.Name(), sd.prefix) && e.Name() != sd.prefix && !strings.Contains(e.Name(), "\n") {
				paths = append(paths, path.Join(sd.dir, e.Name())) // path.Join("", x) is x
			}
		}
	}
	sort.Strings(paths)
	locks, err := s.Read(ctx, paths...)
	return append(locks, closed...), err
}

// underAny reports whether dir is inside (or is) the directory of a lock
// pattern already reported as unlistable.
func underAny(dir string, closed []Lock) bool {
	for _, l := range closed {
		d := path.Dir(l.Path)
		if dir == d || strings.HasPrefix(dir, d+"/") {
			return true
		}
	}
	return false
}

// Read implements Store.
func (s Local) Read(ctx context.Context, paths ...string) ([]Lock, error) {
	out := make([]Lock, 0, len(paths))
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, s.read(p))
	}
	return out, nil
}

func (s Local) read(p string) Lock {
	layout, name := classify(p)
	l := Lock{Path: p, Layout: layout, Name: name}
	abs := s.abs(p)
	fi, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		l.State = Free
		return l
	case err != nil:
		l.State, l.Problem = Unreadable, err.Error()
		return l
	}
	l.ModTime = fi.ModTime().UTC()
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		l.State, l.Problem = Unreadable, "lock path is a symlink (not followed)"
		return l
	case !fi.IsDir():
		l.State, l.Problem = Unreadable, "lock path is a file, not a directory"
		return l
	}
	raw, err := readDetails(filepath.Join(abs, "details"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.State, l.Problem = NoDetails, "lock directory has no details file"
		return l
	case errors.Is(err, errNotRegular):
		l.State, l.Problem = Unreadable, "details is not a regular file"
		return l
	case err != nil:
		l.State, l.Problem = Unreadable, "cannot read details: "+errText(err)
		return l
	}
	l.fromDetails(raw)
	return l
}

// Acquire implements Store: mkdir -p of the parent, mkdir of the lock, then the
// details file, as Kamal does. If the details cannot be written the directory
// is removed again, so a failed acquire leaves no lock behind.
func (s Local) Acquire(ctx context.Context, p string, d Details) error {
	abs := s.abs(p)
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", path.Dir(p), err)
	}
	for tries := 0; ; tries++ {
		err := os.Mkdir(abs, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating lock %s: %w", p, err)
		}
		// Gone again by the time it is read: a release raced us; try again.
		if held := s.read(p); held.State.IsHeld() || tries == 4 {
			return &HeldError{Lock: held}
		}
	}
	err := writeNew(filepath.Join(abs, "details"), d.FileContent())
	if err != nil {
		_ = os.Remove(filepath.Join(abs, "details"))
		_ = os.Remove(abs)
		return fmt.Errorf("writing %s/details: %w", p, err)
	}
	appendAudit(ctx, s) // hookshim unlock's audit line for holds (audit.go)
	return nil
}

func writeNew(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Release implements Store.
func (s Local) Release(ctx context.Context, p, token string) error {
	l := s.read(p)
	if err := checkOurs(l, token); err != nil {
		return err
	}
	abs := s.abs(p)
	if err := os.Remove(filepath.Join(abs, "details")); err != nil {
		return fmt.Errorf("releasing %s: %w", p, err)
	}
	if err := os.RemoveAll(abs); err != nil {
		return fmt.Errorf("releasing %s: %w", p, err)
	}
	appendAudit(ctx, s) // hookshim unlock's audit line for holds (audit.go)
	return nil
}

// checkOurs decides whether a release may remove l.
func checkOurs(l Lock, token string) error {
	switch {
	case l.State == Free:
		return fmt.Errorf("%s: %w", l.Path, ErrGone)
	case l.Details == nil:
		return fmt.Errorf("%s (%s): %w", l.Path, l.State, ErrNotOurs)
	case !HeldBy(l.Details.Message, token):
		return fmt.Errorf("%s is held by %s (%q): %w", l.Path, l.Details.LockedBy, l.Details.Message, ErrNotOurs)
	}
	return nil
}

// errNotRegular is readDetails' error for a details that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// readDetails reads at most MaxDetailsSize+1 bytes of a details file, never
// following a symlink and never blocking on a fifo (O_NONBLOCK), refusing
// anything but a regular file (errNotRegular). Raw system calls, not
// os.OpenFile: an os.File tries to register every file with the network
// poller (an epoll_ctl that fails for a regular file) and reads once more to
// see EOF; `locks --root` over 1,000 locks paid 7 system calls per lock, and
// pays 5 (with the Lstat of its directory) this way.
func readDetails(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, errNotRegular
	}
	// The size fstat gave (bounded), plus one byte to tell a file over the bound.
	buf := make([]byte, min(max(st.Size, 0), MaxDetailsSize)+1)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
		if int64(n) >= st.Size && n < len(buf) {
			// A regular file holds what fstat said: no second read for EOF.
			// (One written meanwhile reads as far as it was when looked at.)
			break
		}
	}
	return buf[:n], nil
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
