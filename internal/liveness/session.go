package liveness

import (
	"fmt"
	"os"
	"strconv"
)

// InSession returns the earliest started live process of session sid that
// started at or after start (clock ticks since boot, as Stamp.Start), or
// ErrNoProcess when there is none. A deferred hook's waiter leads a session
// of its own (jobs.StartWaiter) and its hook's processes stay in it after the
// waiter dies: Linux keeps a pid from being reused while it still names a
// session or process group, so a live process in session sid started after
// the waiter is its hook or something the hook started (unless it left the
// session with setsid(2)). Zombies do not count: they run nothing.
func InSession(sid int, start uint64) (Stamp, error) {
	if sid <= 0 {
		return Stamp{}, ErrNoProcess
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return Stamp{}, fmt.Errorf("cannot list processes: %w", err)
	}
	self := os.Getpid()
	var found Stamp
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, err := Read(pid)
		if err != nil || st.SID != sid || st.Start < start || st.Ended() {
			continue
		}
		if found.PID == 0 || st.Start < found.Start || st.Start == found.Start && st.PID < found.PID {
			found = st
		}
	}
	if found.PID == 0 {
		return Stamp{}, ErrNoProcess
	}
	return found, nil
}
