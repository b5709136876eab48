package lockfile

import "context"

// Store is where locks live: a directory tree on this machine standing in for
// the SSH user's home (Local), or a host over SSH (Remote). Both behave alike, so
// everything above them works the same with --root and over SSH.
type Store interface {
	// Where names the store for people: a host, or "local DIR".
	Where() string
	// Ref names the lock at path as HOST:PATH (local:/abs/path for a local
	// tree), the form hooks receive in HOOKSHIM_LOCK.
	Ref(path string) string
	// RemoveCommand is the shell command a person runs (here) to remove the
	// lock directory at path by hand (rm -r), when hookshim could not or no Kamal can.
	RemoveCommand(path string) string
	// Scan finds every lock of every layout, plus locks in the extra Kamal 1.x
	// run directories given.
	Scan(ctx context.Context, runDirs ...string) ([]Lock, error)
	// Read observes the given paths: one Lock per path, State Free when absent.
	Read(ctx context.Context, paths ...string) ([]Lock, error)
	// Acquire takes the lock at path the way Kamal does (mkdir, then the details
	// file). A lock already there gives a *HeldError saying who holds it.
	Acquire(ctx context.Context, path string, d Details) error
	// Release removes the lock at path only if its message is a hookshim hold with
	// this token; otherwise it returns ErrNotOurs (or ErrGone) and touches nothing.
	Release(ctx context.Context, path, token string) error
}

// scanDirs are the directories, relative to the home ("" is the home itself),
// that hold lock entries, with the entry-name prefix that marks a lock in each.
// ~/mrsk_lock (MRSK 0.10-0.14) has no prefix to match and is looked for by name.
func scanDirs(runDirs []string) []scanDir {
	dirs := []scanDir{{"", "mrsk_lock-"}, {"", "kamal_lock-"}, {DefaultRunDir, "lock-"}, {DefaultRunDir + "/locks", ""}}
	seen := map[string]bool{DefaultRunDir: true}
	for _, d := range runDirs {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		dirs = append(dirs, scanDir{d, "lock-"}, scanDir{d + "/locks", ""})
	}
	return dirs
}

type scanDir struct{ dir, prefix string }

// pattern is the scan directory's glob relative to the home, as a shell word:
// the directory quoted, the prefix and "*" not.
func (sd scanDir) pattern(quote func(string) string) string {
	if sd.dir == "" {
		return sd.prefix + "*"
	}
	return quote(sd.dir) + "/" + sd.prefix + "*"
}
