package cli

import (
	"time"

	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/jobs"
)

// listJobsForLocks gives `hookshim locks` this machine's deferred jobs, from
// the state directory (--state-dir, else from p's environment, never the real
// process's), with their states derived (an orphaned job is one whose waiter
// died) and why each ended as it did when its exit status does not tell it
// (jobs.Why: a failed or expired job's error, an orphaned job's waiter, a
// corrupt record's problem), the ERROR column and "error": pending ones first, then the finished ones still kept, newest last;
// the jobs section of the table and the "jobs" array of the JSON show them in
// that order. It never waits on a waiter. An error is shown ("jobs_error" in
// the JSON) and makes the exit status 74 when nothing worse happened; the
// locks are still shown. With endedSince not zero, finished jobs that ended
// before it are left out, and counted in hidden.
func listJobsForLocks(p Process, givenStateDir string, endedSince time.Time) (_ []lockreport.Job, hidden int, _ error) {
	if testOnlyJobsForLocks != nil {
		l, err := testOnlyJobsForLocks()
		return l, 0, err
	}
	dir, err := stateDir(p, givenStateDir)
	if err != nil {
		return nil, 0, err
	}
	list, err := jobs.List(dir)
	if err != nil {
		return nil, 0, err
	}
	out := make([]lockreport.Job, 0, len(list))
	for _, j := range list {
		if !endedSince.IsZero() && j.State.Final() && j.Ended != nil && j.Ended.Before(endedSince) {
			hidden++
			continue
		}
		lj := lockreport.Job{
			ID:         j.ID,
			Hook:       j.Hook,
			State:      string(j.State),
			Repo:       j.RepoDir,
			Since:      j.Created,
			Log:        j.LogPath(),
			ExitStatus: j.ExitStatus,
			Error:      jobs.Why(j),
		}
		if j.Lock.Host != "" || j.Lock.Path != "" {
			lj.Lock = j.Lock.String()
		}
		out = append(out, lj)
	}
	return out, hidden, nil
}

// jobsTableWindow is how far back the table of `hookshim locks` shows
// finished jobs: a day of deploys; --json lists every job kept.
const jobsTableWindow = 24 * time.Hour

// jobsEndedSince is, for the table, the time before which finished jobs are
// left out of it (now - jobsTableWindow); zero for --json and metrics, which
// show every job kept.
func jobsEndedSince(o locksOptions) time.Time {
	if o.format != formatTable {
		return time.Time{}
	}
	return o.now.Add(-jobsTableWindow)
}

// testOnlyJobsForLocks, when set by a test, stands in for the state
// directory: it gives jobs in states a test cannot easily produce for real.
var testOnlyJobsForLocks func() ([]lockreport.Job, error)
