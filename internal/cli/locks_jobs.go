package cli

import (
	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/jobs"
)

// listJobsForLocks gives `hookshim locks` this machine's deferred jobs, from
// the state directory (--state-dir, else from p's environment, never the real
// process's), with their states derived (an orphaned job is one whose waiter
// died): pending ones first, then the finished ones still kept, newest last;
// the jobs section of the table and the "jobs" array of the JSON show them in
// that order. It never waits on a waiter. An error is shown ("jobs_error" in
// the JSON) and makes the exit status 74 when nothing worse happened; the
// locks are still shown.
func listJobsForLocks(p Process, givenStateDir string) ([]lockreport.Job, error) {
	if testOnlyJobsForLocks != nil {
		return testOnlyJobsForLocks()
	}
	dir, err := stateDir(p, givenStateDir)
	if err != nil {
		return nil, err
	}
	list, err := jobs.List(dir)
	if err != nil {
		return nil, err
	}
	out := make([]lockreport.Job, 0, len(list))
	for _, j := range list {
		lj := lockreport.Job{
			ID:         j.ID,
			Hook:       j.Hook,
			State:      string(j.State),
			Repo:       j.RepoDir,
			Since:      j.Created,
			Log:        j.LogPath(),
			ExitStatus: j.ExitStatus,
		}
		if j.Lock.Host != "" || j.Lock.Path != "" {
			lj.Lock = j.Lock.String()
		}
		out = append(out, lj)
	}
	return out, nil
}

// testOnlyJobsForLocks, when set by a test, stands in for the state
// directory: it gives jobs in states a test cannot easily produce for real.
var testOnlyJobsForLocks func() ([]lockreport.Job, error)
