package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hookshim/hookshim/jobs"
)

// stopWaiters ends the waiter of every deferred hook in hookshim's state dir
// that still has one. A waiter runs in a session of its own (jobs.StartWaiter),
// so nothing else the sandbox ends reaches it, and left alone it would retry
// the vanished web1 until its --defer-timeout. A job's waiter is alive exactly
// while it holds the job's lock (jobs.WaiterAlive), which also tells that the
// recorded pid is still that waiter's and not a reused one.
func stopWaiters(state string) {
	list, err := jobs.List(state)
	if err != nil {
		return // no state dir: nothing was deferred
	}
	for _, j := range list {
		if alive, _ := jobs.WaiterAlive(j); !alive || j.WaiterPID <= 0 {
			continue
		}
		// Its session's leader: its group is the waiter and the hook it runs.
		syscall.Kill(-j.WaiterPID, syscall.SIGTERM)
		if !gone(j, 30*time.Second) {
			syscall.Kill(-j.WaiterPID, syscall.SIGKILL)
			if !gone(j, 30*time.Second) {
				fmt.Fprintf(os.Stderr, "sandbox: the waiter of deferred hook %s (pid %d) does not exit\n", j.ID, j.WaiterPID)
			}
		}
	}
}

// gone polls until j's waiter has let go of its lock, for up to deadline.
func gone(j jobs.Job, deadline time.Duration) bool {
	for end := time.Now().Add(deadline); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if alive, err := jobs.WaiterAlive(j); err != nil || !alive {
			return true
		}
	}
	return false
}
