package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// DefaultKeep is how long a finished job is kept after it ended, when
// HOOKSHIM_JOBS_KEEP does not say: a week of deploys, then the state dir
// stops growing.
const DefaultKeep = 7 * 24 * time.Hour

// Bounds on one Prune, so that recording a job never waits long on it: at
// most pruneLook old jobs are looked at and pruneMax removed; the rest wait
// for the next job.
const (
	pruneLook = 1000
	pruneMax  = 100
)

// removingPrefix names a job directory being removed: not a job id (ids have
// no '.'), so List and Load never see it half removed.
const removingPrefix = ".removing-"

// Pruned is what one Prune did: the ids removed, and what it could not do
// (each one line, for a debug log).
type Pruned struct {
	Removed []string
	Errors  []error
}

// Prune removes from stateDir the jobs that ended more than keep before now:
// succeeded, failed and expired ones (by their end time), and orphaned ones
// (their waiter gone; by the last change to their record or log). keep <= 0
// keeps every job. A job is only removed while Prune holds its lock
// exclusively, taken without waiting: a job whose waiter still runs, or that
// `hookshim wait` is reading, holds it and is skipped. A job still starting
// within StartTimeout, and a corrupt or unsafe one, is kept. The directory is
// first renamed out of the jobs' names, so nobody sees it half removed.
//
// Job ids start with their creation time, and nothing ends before it began,
// so only jobs created before now-keep are looked at. Errors never stop it:
// they are collected in Pruned.Errors.
func Prune(stateDir string, keep time.Duration, now time.Time) Pruned {
	var res Pruned
	if keep <= 0 {
		return res
	}
	if err := checkStateDirs(stateDir); err != nil {
		res.Errors = append(res.Errors, err)
		return res
	}
	root := filepath.Join(stateDir, "jobs")
	entries, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			res.Errors = append(res.Errors, err)
		}
		return res
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Name() < entries[b].Name() })
	cutoff := now.Add(-keep)
	looked := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, removingPrefix) {
			// Left by a Prune that was stopped half way.
			if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
				res.Errors = append(res.Errors, err)
			}
			continue
		}
		if !e.IsDir() || ValidateID(name) != nil {
			continue
		}
		if created, ok := idTime(name); ok && created.After(cutoff) {
			break // ids sort by creation: every later job is younger still
		}
		if looked++; looked > pruneLook || len(res.Removed) >= pruneMax {
			break
		}
		removed, err := pruneJob(root, name, keep, now)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("job %s: %w", name, err))
		}
		if removed {
			res.Removed = append(res.Removed, name)
		}
	}
	return res
}

// pruneJob removes job id when it ended more than keep before now, holding
// its lock throughout.
func pruneJob(root, id string, keep time.Duration, now time.Time) (bool, error) {
	dir := filepath.Join(root, id)
	if err := checkJobFiles(dir); err != nil {
		return false, err
	}
	fl := flock.New(filepath.Join(dir, LockFile), flock.SetFlag(os.O_RDONLY|noFollow))
	ok, err := fl.TryLock()
	if err != nil || !ok {
		return false, err // held: its waiter runs, or someone reads it
	}
	defer fl.Unlock()
	j, err := readRecord(dir)
	if err != nil {
		return false, err
	}
	ended, ok := endedAt(j, now)
	if !ok || now.Sub(ended) < keep {
		return false, nil
	}
	gone := filepath.Join(root, removingPrefix+id)
	if err := os.Rename(dir, gone); err != nil {
		return false, err
	}
	return true, os.RemoveAll(gone)
}

// endedAt is when a job read under its lock ended, and false for one that
// may still run: a finished job ended at Ended; a pending one, nobody
// holding its lock, was orphaned at the last change to its record or log,
// unless it is still starting within StartTimeout.
func endedAt(j Job, now time.Time) (time.Time, bool) {
	if j.State.Final() {
		if j.Ended == nil {
			return time.Time{}, false
		}
		return *j.Ended, true
	}
	if j.State == Starting && now.Sub(j.Created) < StartTimeout {
		return time.Time{}, false
	}
	last := j.Created
	for _, p := range []string{j.RecordPath(), j.LogPath()} {
		if fi, err := os.Lstat(p); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	return last, true
}

// idTime is the creation time a job id made by NewID starts with.
func idTime(id string) (time.Time, bool) {
	if len(id) < len("20060102-150405") {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102-150405", id[:len("20060102-150405")])
	return t, err == nil
}

// Removed says whether job id, not found in the state dir, was probably
// removed by Prune: it was recorded (its id says when) more than keep before
// now. It returns the creation time the id names.
func Removed(id string, keep time.Duration, now time.Time) (time.Time, bool) {
	created, ok := idTime(id)
	return created, ok && keep > 0 && now.Sub(created) > keep
}
