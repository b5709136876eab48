package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/lockreport"
)

// deferredJobs is the seam through which `hookshim locks` shows this machine's
// deferred hook jobs, whatever hosts it reads locks from. It lists every job
// in the state directory (pending ones first, then the finished ones still
// kept), newest last; the jobs section of the table and the "jobs" array of
// the JSON show them, in that order.
//
// nil means deferred jobs are not built in: the table has no jobs section and
// the JSON has "jobs": []. The deferred-jobs code fills it from an init
// function in its own file:
//
//	func init() { deferredJobs = listJobsForLocks }
//
// It must read the state directory from p (p.Getenv("XDG_STATE_HOME"),
// p.Getenv("HOME")) or from c's flags, never from the real process, and must
// not block on a waiter. An error is shown ("jobs_error" in the JSON) and makes
// the exit status 74 when nothing worse happened; the locks are still shown.
var deferredJobs func(ctx context.Context, c *cli.Context, p Process) ([]lockreport.Job, error)
