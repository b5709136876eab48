package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// pruneNow is the tests' clock: Prune is given it, never time.Now.
var pruneNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// recordAt records a job created at created and, unless st is pending, ended
// at ended with state st.
func recordAt(t *testing.T, state string, created, ended time.Time, st State) Job {
	t.Helper()
	j, err := Create(state, Job{Hook: "post-deploy", RepoDir: "/repo", Service: "app",
		Created: created, Deadline: created.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	j.State = st
	switch st {
	case Waiting:
	case Succeeded, Failed:
		code := 0
		if st == Failed {
			code = 1
		}
		j.ExitStatus, j.Started = &code, &created
		fallthrough
	default:
		j.Ended = &ended
	}
	if err := save(j); err != nil {
		t.Fatal(err)
	}
	return j
}

func exists(t *testing.T, j Job) bool {
	t.Helper()
	_, err := os.Lstat(j.Dir)
	return err == nil
}

func TestPruneRemovesOnlyJobsThatEndedBeforeTheRetention(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	keep := 7 * 24 * time.Hour
	old := pruneNow.Add(-10 * 24 * time.Hour)
	oldOK := recordAt(t, state, old, old.Add(time.Minute), Succeeded)
	oldFailed := recordAt(t, state, old, old.Add(time.Minute), Failed)
	oldExpired := recordAt(t, state, old, old.Add(30*time.Minute), Expired)
	// Recorded long ago, but ended within the retention: kept.
	lateEnd := recordAt(t, state, old, pruneNow.Add(-time.Hour), Failed)
	young := recordAt(t, state, pruneNow.Add(-time.Hour), pruneNow.Add(-time.Hour), Succeeded)
	// Its waiter died long ago: orphaned, its files untouched since.
	orphan := recordAt(t, state, old, time.Time{}, Waiting)
	for _, p := range []string{orphan.RecordPath(), orphan.LogPath()} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	// Its waiter still runs (it holds the lock), though recorded long ago.
	running := recordAt(t, state, old, time.Time{}, Waiting)
	waiter := flock.New(running.LockPath())
	if ok, err := waiter.TryLock(); !ok || err != nil {
		t.Fatalf("taking the waiter's lock: %v %v", ok, err)
	}
	defer waiter.Unlock()
	for _, p := range []string{running.RecordPath(), running.LogPath()} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	res := Prune(state, keep, pruneNow)
	if len(res.Errors) > 0 {
		t.Errorf("Prune errors: %v", res.Errors)
	}
	for _, j := range []Job{oldOK, oldFailed, oldExpired, orphan} {
		if exists(t, j) {
			t.Errorf("job %s (%s, ended before the retention) was kept", j.ID, j.State)
		}
		if !slices.Contains(res.Removed, j.ID) {
			t.Errorf("Prune did not report %s removed: %v", j.ID, res.Removed)
		}
	}
	for _, j := range []Job{lateEnd, young, running} {
		if !exists(t, j) {
			t.Errorf("job %s (%s) was removed", j.ID, j.State)
		}
	}
	list, err := List(state)
	if err != nil || len(list) != 3 {
		t.Errorf("List after Prune = %d jobs, %v; want the 3 kept", len(list), err)
	}
	if entries, _ := os.ReadDir(filepath.Join(state, "jobs")); len(entries) != 3 {
		t.Errorf("jobs/ holds %d entries after Prune, want 3 (nothing half removed)", len(entries))
	}
}

// A job whose lock anybody holds (its waiter, or `hookshim wait` reading it
// with a shared lock) is never removed, however old.
func TestPruneSkipsALockedJob(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	old := pruneNow.Add(-30 * 24 * time.Hour)
	j := recordAt(t, state, old, old.Add(time.Minute), Succeeded)
	for _, lock := range []func(*flock.Flock) (bool, error){(*flock.Flock).TryLock, (*flock.Flock).TryRLock} {
		fl := flock.New(j.LockPath())
		if ok, err := lock(fl); !ok || err != nil {
			t.Fatalf("taking the job's lock: %v %v", ok, err)
		}
		res := Prune(state, time.Hour, pruneNow)
		if !exists(t, j) || len(res.Removed) != 0 {
			t.Fatalf("Prune removed a job whose lock is held: %v", res.Removed)
		}
		if err := fl.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	if res := Prune(state, time.Hour, pruneNow); exists(t, j) || len(res.Removed) != 1 {
		t.Errorf("Prune kept the job once its lock was free: %+v", res)
	}
}

func TestPruneWithNoRetentionKeepsEverything(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	old := pruneNow.Add(-365 * 24 * time.Hour)
	j := recordAt(t, state, old, old.Add(time.Minute), Failed)
	if res := Prune(state, 0, pruneNow); !exists(t, j) || len(res.Removed) != 0 {
		t.Errorf("Prune with keep 0 removed %v", res.Removed)
	}
	if res := Prune(filepath.Join(t.TempDir(), "none"), time.Hour, pruneNow); len(res.Errors)+len(res.Removed) != 0 {
		t.Errorf("Prune of a missing state dir: %+v", res)
	}
}

// A job still starting within StartTimeout may yet be picked up by its
// waiter: kept even with a retention shorter than that.
func TestPruneKeepsAJobStillStarting(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	j, err := Create(state, Job{Hook: "post-deploy", Created: pruneNow.Add(-2 * time.Second), Deadline: pruneNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res := Prune(state, time.Second, pruneNow); !exists(t, j) || len(res.Removed) != 0 {
		t.Errorf("Prune removed a job still starting: %+v", res)
	}
}

// A Prune stopped half way leaves a renamed directory that no listing shows;
// the next Prune finishes it.
func TestPruneFinishesAnInterruptedRemoval(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	young := recordAt(t, state, pruneNow, pruneNow, Succeeded)
	left := filepath.Join(state, "jobs", removingPrefix+"20261101-000000-00000000")
	if err := os.MkdirAll(filepath.Join(left, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if list, err := List(state); err != nil || len(list) != 1 {
		t.Fatalf("List shows a directory being removed: %v %v", list, err)
	}
	Prune(state, time.Hour, pruneNow)
	if _, err := os.Lstat(left); err == nil {
		t.Error("a half-removed job directory was left")
	}
	if !exists(t, young) {
		t.Error("the young job was removed")
	}
}

func TestRemoved(t *testing.T) {
	created, ok := Removed("20261101-101010-0a0b0c0d", DefaultKeep, pruneNow)
	if !ok || !created.Equal(time.Date(2026, 11, 1, 10, 10, 10, 0, time.UTC)) {
		t.Errorf("Removed(old id) = %v, %v", created, ok)
	}
	for _, c := range []struct {
		id   string
		keep time.Duration
	}{{"20261127-101010-0a0b0c0d", DefaultKeep}, {"20261101-101010-0a0b0c0d", 0}, {"my-job", DefaultKeep}} {
		if _, ok := Removed(c.id, c.keep, pruneNow); ok {
			t.Errorf("Removed(%q, %s) = true", c.id, c.keep)
		}
	}
}
