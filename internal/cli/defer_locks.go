package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/jobs"
)

func init() { deferredJobs = listJobsForLocks }

// listJobsForLocks gives `hookshim locks` this machine's deferred jobs, with
// their states derived (an orphaned job is one whose waiter died). It never
// waits on a waiter.
func listJobsForLocks(_ context.Context, c *cli.Context, p Process) ([]lockreport.Job, error) {
	dir, err := stateDir(c, p)
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
