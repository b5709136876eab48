package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/hookshim/hookshim/jobs"
)

// recordEnded records, in the state dir, a job of repo created at created
// that ended at ended with state st (failed with 1 when finished), as a
// waiter leaves it.
func recordEnded(t *testing.T, state, repo string, created, ended time.Time, st jobs.State) jobs.Job {
	t.Helper()
	j, err := jobs.Create(state, jobs.Job{Hook: "post-deploy", RepoDir: repo, Service: "app",
		Created: created, Deadline: created.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Final() {
		code := 1
		j.ExitStatus, j.Ended = &code, &ended
	}
	j.State = st
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j.RecordPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestDeferRemovesJobsOlderThanTheRetention: recording a deferred job
// removes the finished jobs that ended longer than HOOKSHIM_JOBS_KEEP (7
// days by default) ago, keeps young ones and one whose waiter still runs,
// and `hookshim wait` on a removed one says it was removed; with
// HOOKSHIM_JOBS_KEEP=0 nothing is removed.
func TestDeferRemovesJobsOlderThanTheRetention(t *testing.T) {
	for _, keep := range []string{"", "0"} {
		t.Run("keep="+keep, func(t *testing.T) {
			w := dtNewWorld(t, false, false)
			now := time.Now().UTC()
			old := now.Add(-8 * 24 * time.Hour)
			oldJob := recordEnded(t, w.state, w.repo, old, old.Add(time.Minute), jobs.Failed)
			young := recordEnded(t, w.state, w.repo, now.Add(-time.Hour), now.Add(-time.Hour), jobs.Failed)
			held := recordEnded(t, w.state, w.repo, old, time.Time{}, jobs.Waiting)
			waiter := flock.New(held.LockPath())
			if ok, err := waiter.TryLock(); !ok || err != nil {
				t.Fatalf("taking the waiter's lock: %v %v", ok, err)
			}
			defer waiter.Unlock()

			w.lock(".kamal/lock-app", "Kai Kamal")
			env := []string{"KAMAL_LOCK=true", "HOOKSHIM_JOBS_KEEP=" + keep}
			code, _, stderr := w.hookshim(env, w.cmd("run", "--service", "app", "--policy", "defer", "--defer-timeout", "30s", "post-deploy", "--", "true")...)
			if code != 0 {
				t.Fatalf("hookshim run: exit %d\n%s", code, stderr)
			}
			kept := map[string]bool{}
			for _, j := range w.jobs() {
				kept[j.ID] = true
			}
			if len(kept) != 4-map[bool]int{true: 1}[keep == ""] {
				t.Errorf("%d jobs kept: %v", len(kept), kept)
			}
			if !kept[young.ID] || !kept[held.ID] {
				t.Errorf("a young job or one whose waiter runs was removed: %v", kept)
			}
			if kept[oldJob.ID] != (keep == "0") {
				t.Fatalf("job that ended 8 days ago kept=%v with HOOKSHIM_JOBS_KEEP=%q", kept[oldJob.ID], keep)
			}
			if keep == "0" {
				return
			}
			code, _, stderr = w.hookshim(nil, "wait", oldJob.ID)
			if code != 66 || !strings.Contains(stderr, "no deferred job "+oldJob.ID) ||
				!strings.Contains(stderr, "hint: its id says it was recorded "+old.Format("2006-01-02T15:04:05Z")+": if it ended, it was removed, as finished jobs are 7d0h after they end (HOOKSHIM_JOBS_KEEP; 0 keeps them forever)") {
				t.Errorf("hookshim wait for a removed job: exit %d\n%s", code, stderr)
			}
			w.release(".kamal/lock-app")
			w.follow(w.newest())
		})
	}
}

// The table of `hookshim locks` lists pending jobs and those that ended in
// the last 24h, and says how many it left out; --json lists every job kept.
func TestLocksTableLeavesOutJobsThatEndedLongAgo(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	now := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	old := recordEnded(t, state, "/src/app", now.Add(-50*time.Hour), now.Add(-49*time.Hour), jobs.Failed)
	recent := recordEnded(t, state, "/src/app", now.Add(-50*time.Hour), now.Add(-time.Hour), jobs.Failed)
	env := []string{"HOME=" + root, "HOOKSHIM_STATE_DIR=" + state}
	stdout, stderr, code := runMain(t, env, "locks", "--root", root, "--now", now.Format(time.RFC3339))
	if code != 0 || strings.Contains(stdout, old.ID) || !strings.Contains(stdout, recent.ID) ||
		!strings.Contains(stderr, "deferred jobs that ended more than 24h ago, not listed: 1; hookshim locks --json lists every job kept") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = runMain(t, env, "locks", "--root", root, "--json", "--now", now.Format(time.RFC3339))
	if code != 0 || stderr != "" || !strings.Contains(stdout, old.ID) || !strings.Contains(stdout, recent.ID) {
		t.Errorf("--json: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
