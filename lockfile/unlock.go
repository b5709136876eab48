package lockfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrChanged: the lock is no longer the one that was looked at (released and
// taken again, rewritten); RemoveSeen left it alone.
var ErrChanged = errors.New("lock changed since it was looked at")

// ErrAudit: the lock was removed, but its line could not be added to the audit log.
var ErrAudit = errors.New("audit log not written")

// Seen is a lock as it was shown to the person removing it, with a
// fingerprint of exactly what was on disk: the lock path's and the details
// file's inode, modification time (to the nanosecond) and type, and the
// details' checksum. Two different locks at one path differ in it even when
// their details are byte for byte the same.
type Seen struct {
	Lock
	Fingerprint string
}

// Unlocker is a Store that removes a lock only if it is still the one seen.
type Unlocker interface {
	Store
	// Look reads the lock at path and its fingerprint, both from one moment.
	Look(ctx context.Context, path string) (Seen, error)
	// RemoveSeen removes the lock at s.Path, whoever holds it, only if its
	// fingerprint is still s.Fingerprint (else ErrChanged; ErrGone when there
	// is no lock), then appends a.Line to a.File. A failed append after the
	// removal gives an error wrapping ErrAudit.
	RemoveSeen(ctx context.Context, s Seen, a Audit) error
}

var (
	_ Unlocker = Local{}
	_ Unlocker = Remote{}
)

// lookTries bounds how often Look reads again when the lock changed while it
// was being read.
const lookTries = 5

// Look implements Unlocker.
func (s Local) Look(ctx context.Context, p string) (Seen, error) {
	abs := s.abs(p)
	for range lookTries {
		if err := ctx.Err(); err != nil {
			return Seen{}, err
		}
		before := localFingerprint(abs)
		l := s.read(p)
		if after := localFingerprint(abs); after == before {
			return Seen{Lock: l, Fingerprint: after}, nil
		}
	}
	return Seen{}, fmt.Errorf("%s: %w while being read, %d times", p, ErrChanged, lookTries)
}

// localFingerprint is Seen.Fingerprint for a path on this machine; "" when
// nothing is there.
func localFingerprint(abs string) string {
	fi, err := os.Lstat(abs)
	if err != nil {
		return ""
	}
	var b strings.Builder
	statPrint(&b, fi)
	if !fi.IsDir() {
		return b.String()
	}
	dfi, err := os.Lstat(filepath.Join(abs, "details"))
	if err != nil {
		return b.String()
	}
	b.WriteString("|")
	statPrint(&b, dfi)
	if dfi.Mode().IsRegular() {
		if f, err := os.Open(filepath.Join(abs, "details")); err == nil {
			h := sha256.New()
			_, _ = io.Copy(h, io.LimitReader(f, MaxDetailsSize+1))
			f.Close()
			b.WriteString("|" + hex.EncodeToString(h.Sum(nil)))
		}
	}
	return b.String()
}

func statPrint(b *strings.Builder, fi fs.FileInfo) {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	fmt.Fprintf(b, "%d %d %o %d", ino, fi.ModTime().UnixNano(), fi.Mode(), fi.Size())
}

// RemoveSeen implements Unlocker.
func (s Local) RemoveSeen(ctx context.Context, seen Seen, a Audit) error {
	abs := s.abs(seen.Path)
	switch fp := localFingerprint(abs); {
	case fp == "":
		return fmt.Errorf("%s: %w", seen.Path, ErrGone)
	case fp != seen.Fingerprint:
		return fmt.Errorf("%s: %w", seen.Path, ErrChanged)
	}
	// As Kamal releases: the details first, then the directory. A symlink
	// or a file at the lock path is removed itself, never followed.
	var err error
	if fi, lerr := os.Lstat(abs); lerr == nil && fi.IsDir() {
		if rerr := os.Remove(filepath.Join(abs, "details")); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		} else {
			err = os.RemoveAll(abs)
		}
	} else {
		err = os.Remove(abs)
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", seen.Path, err)
	}
	if a.File == "" {
		return nil
	}
	if err := appendLine(s.abs(a.File), a.Line); err != nil {
		return fmt.Errorf("%s: %w: %v", a.File, ErrAudit, err)
	}
	return nil
}

func appendLine(name, line string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// remoteFingerprint is the sh function fp PATH that prints Seen.Fingerprint
// on one line for a path on the host ("" when nothing is there), from GNU
// stat and POSIX cksum.
const remoteFingerprint = `fp() {
  [ -e "$1" ] || [ -L "$1" ] || return 0
  a=$(stat -c '%i %y %f %s' -- "$1") || a=unreadable
  b= c=
  if [ -d "$1" ] && [ ! -L "$1" ] && { [ -e "$1/details" ] || [ -L "$1/details" ]; }; then
    b=$(stat -c '%i %y %f %s' -- "$1/details") || b=unreadable
    if [ -f "$1/details" ] && [ ! -L "$1/details" ] && [ -r "$1/details" ]; then c=$(cksum < "$1/details"); fi
  fi
  printf '%s|%s|%s\n' "$a" "$b" "$c"
}
`

// Exit statuses of the remove script (besides statusGone).
const (
	statusChanged     = 6
	statusAuditFailed = 7
)

// Look implements Unlocker: one round trip reads the fingerprint, the lock,
// and the fingerprint again.
func (s Remote) Look(ctx context.Context, p string) (Seen, error) {
	script := "LC_ALL=C; export LC_ALL\n" + remoteFingerprint + readDetailsFn + scanLib + `before=$(fp "$1")
scan lit "$1"
after=$(fp "$1")
printf 'FP\t%s\n' "$before" "$after"
`
	for range lookTries {
		res, err := s.Runner.Run(ctx, script, nil, p)
		if err != nil {
			return Seen{}, err
		}
		if res.ExitStatus != 0 {
			return Seen{}, fmt.Errorf("reading lock %s on %s failed (exit %d): %s", p, s.Host, res.ExitStatus, firstLine(res.Stderr))
		}
		locks, err := ParseScan(res.Stdout)
		if err != nil {
			return Seen{}, err
		}
		fps := fingerprintLines(res.Stdout)
		if len(fps) != 2 {
			return Seen{}, fmt.Errorf("reading lock %s on %s: the fingerprint was cut short", p, s.Host)
		}
		if fps[0] != fps[1] {
			continue
		}
		l := Lock{Path: p, State: Free}
		l.Layout, l.Name = classify(p)
		if len(locks) > 0 {
			l = locks[0]
		}
		return Seen{Lock: l, Fingerprint: fps[1]}, nil
	}
	return Seen{}, fmt.Errorf("%s on %s: %w while being read, %d times", p, s.Host, ErrChanged, lookTries)
}

// fingerprintLines are the values of the lines "FP<TAB>..." after the scan's END.
func fingerprintLines(out []byte) []string {
	_, after, ok := bytes.Cut(out, []byte("\nEND\n"))
	if !ok {
		return nil
	}
	var fps []string
	sc := bufio.NewScanner(bytes.NewReader(after))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "FP\t"); ok {
			fps = append(fps, v)
		}
	}
	return fps
}

// RemoveSeen implements Unlocker: compare, remove and append the audit line
// in one script on the host, so that nothing can change between a person's
// look and the removal but the few microseconds the script takes.
func (s Remote) RemoveSeen(ctx context.Context, seen Seen, a Audit) error {
	script := "LC_ALL=C; export LC_ALL\n" + remoteFingerprint + `d=$1
[ -e "$d" ] || [ -L "$d" ] || exit ` + fmt.Sprint(statusGone) + `
[ "$(fp "$d")" = "$2" ] || exit ` + fmt.Sprint(statusChanged) + `
if [ -d "$d" ] && [ ! -L "$d" ]; then
  rm -f -- "$d/details" && rm -r -f -- "$d"
else
  rm -f -- "$d"
fi
if [ -e "$d" ] || [ -L "$d" ]; then echo "could not remove $d" >&2; exit 1; fi
[ -n "$3" ] || exit 0
mkdir -p -- "$(dirname -- "$3")" && printf '%s\n' "$4" >> "$3" || exit ` + fmt.Sprint(statusAuditFailed) + `
`
	res, err := s.Runner.Run(ctx, script, nil, seen.Path, seen.Fingerprint, a.File, a.Line)
	if err != nil {
		return err
	}
	switch res.ExitStatus {
	case 0:
		return nil
	case statusGone:
		return fmt.Errorf("%s on %s: %w", seen.Path, s.Host, ErrGone)
	case statusChanged:
		return fmt.Errorf("%s on %s: %w", seen.Path, s.Host, ErrChanged)
	case statusAuditFailed:
		return fmt.Errorf("%s on %s: %w: %s", a.File, s.Host, ErrAudit, firstLine(res.Stderr))
	}
	return fmt.Errorf("removing lock %s on %s failed: %s", seen.Path, s.Host, firstLine(res.Stderr))
}

// CheckLockPath checks a lock directory named by a person (as `hookshim
// locks` prints it): a path where some Kamal layout keeps a lock, relative to
// the SSH user's home or absolute (an absolute Kamal 1.x run_directory).
func CheckLockPath(p string) error {
	if err := ValidateRunDir(p); err != nil || p == "" {
		return fmt.Errorf("%q is not a lock path", p)
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	name := ""
	switch {
	case p == "mrsk_lock":
		return nil
	case dir == "" && strings.HasPrefix(base, "mrsk_lock-"):
		name = strings.TrimPrefix(base, "mrsk_lock-")
	case dir == "" && strings.HasPrefix(base, "kamal_lock-"):
		name = strings.TrimPrefix(base, "kamal_lock-")
	case dir != "" && path.Base(dir) == "locks":
		name = base
	case dir != "" && strings.HasPrefix(base, "lock-"):
		name = strings.TrimPrefix(base, "lock-")
	default:
		return fmt.Errorf("%q is not where any Kamal keeps its lock (mrsk_lock, mrsk_lock-SERVICE, kamal_lock-SERVICE, RUN_DIR/lock-SERVICE, RUN_DIR/locks/SERVICE, .kamal/lock-SERVICE)", p)
	}
	if err := ValidateName("lock", name); err != nil {
		return fmt.Errorf("%q is not a lock path: %w", p, err)
	}
	return nil
}
