package lockfile

import (
	"errors"
	"fmt"
	"time"
)

// State is what a scan found at a lock path.
type State string

const (
	// Free: no lock directory.
	Free State = "free"
	// Held: the directory exists with readable details.
	Held State = "held"
	// NoDetails: the directory exists without a details file: a Kamal between
	// its mkdir and its write, or one that crashed there. Held, holder unknown.
	NoDetails State = "no-details"
	// Unreadable: something is there (a details file that cannot be read or
	// parsed, a symlink, a file instead of a directory). Held, holder unknown:
	// Kamal's own mkdir would fail on it.
	Unreadable State = "unreadable"
)

// IsHeld reports whether Kamal would find the lock taken.
func (s State) IsHeld() bool { return s != Free && s != "" }

// Lock is one lock as observed at one moment.
type Lock struct {
	Path    string    // relative to the SSH user's home, unless the run directory is absolute
	Layout  Layout    // which Kamal layout the path belongs to
	Name    string    // service[-destination], or mrsk_lock
	State   State     // free, held, no-details or unreadable
	Details *Details  // set when State is Held
	Problem string    // for NoDetails and Unreadable: what is wrong, for people
	ModTime time.Time // the lock directory's modification time (zero if unknown)
}

// Since is when the lock was taken: the details' time, else the directory's.
func (l Lock) Since() time.Time {
	if l.Details != nil && !l.Details.At.IsZero() {
		return l.Details.At
	}
	return l.ModTime
}

// ClockSkewTolerance is how far in the future a lock's time may be before it
// is flagged: Kamal writes the deployer's clock, truncated to the second.
const ClockSkewTolerance = time.Second

// Ahead is how far in the future of now the lock's time is, when that is more
// than ClockSkewTolerance (the clock of the machine that took it is ahead of
// now's), else 0. Such a lock's age cannot be told.
func (l Lock) Ahead(now time.Time) time.Duration {
	since := l.Since()
	if since.IsZero() || since.Sub(now) <= ClockSkewTolerance {
		return 0
	}
	return since.Sub(now)
}

// Hold returns the hookshim hold recorded in the lock's message, if any.
func (l Lock) Hold() (Hold, bool) {
	if l.Details == nil {
		return Hold{}, false
	}
	return ParseHold(l.Details.Message)
}

// Errors returned by Acquire and Release.
var (
	// ErrHeld: the lock is held by someone; the *HeldError says by whom.
	ErrHeld = errors.New("lock is held")
	// ErrNotOurs: Release found a lock with another token (or none readable) and left it alone.
	ErrNotOurs = errors.New("lock is not ours")
	// ErrGone: Release found no lock at all.
	ErrGone = errors.New("lock is gone")
)

// HeldError is returned by Acquire when the lock is already taken.
type HeldError struct{ Lock Lock }

func (e *HeldError) Error() string {
	if e.Lock.Details != nil {
		return fmt.Sprintf("lock %s is held by %s since %s", e.Lock.Path, e.Lock.Details.LockedBy, e.Lock.Details.AtText)
	}
	return fmt.Sprintf("lock %s is held (%s)", e.Lock.Path, e.Lock.State)
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// fromDetails fills a lock's state from the raw details bytes.
func (l *Lock) fromDetails(raw []byte) {
	d, err := Parse(raw)
	if err != nil {
		l.State, l.Problem = Unreadable, err.Error()
		return
	}
	l.State, l.Details = Held, &d
}
