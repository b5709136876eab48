package jobs

import (
	"errors"

	"github.com/hookshim/hookshim/internal/liveness"
)

// HookProcess says whether the hook of an orphaned job whose record says
// running still runs on this machine, and if so one of its processes (the
// earliest started: the hook's step). The waiter leads a session of its
// own and starts the hook in it; once the waiter is gone, a live process of
// that session started after the waiter (liveness.InSession) is the hook's.
// Linux does not reuse the waiter's pid while it still names that session,
// so a pid now held by a process started at another time means the session,
// and the hook, have ended. It is Dead for any other job (a job orphaned
// while it waited never started its hook), Unknown when the record does not
// identify the waiter (a hookshim before WaiterStart) or /proc cannot tell.
func HookProcess(j Job) (liveness.Stamp, liveness.Liveness) {
	if j.State != Orphaned || j.Recorded != Running {
		return liveness.Stamp{}, liveness.Dead
	}
	if j.WaiterPID <= 0 || j.WaiterStart == 0 || j.WaiterBoot == "" {
		return liveness.Stamp{}, liveness.Unknown
	}
	switch boot := liveness.BootID(); {
	case boot == "":
		return liveness.Stamp{}, liveness.Unknown
	case boot != j.WaiterBoot:
		return liveness.Stamp{}, liveness.Dead // restarted since: nothing of it runs
	}
	st, err := liveness.Read(j.WaiterPID)
	switch {
	case err == nil && st.Start != j.WaiterStart:
		return liveness.Stamp{}, liveness.Dead // the pid is another process's: the session has ended
	case err == nil && !st.Ended():
		return st, liveness.Alive // the waiter itself, though its lock is free
	case err != nil && !errors.Is(err, liveness.ErrNoProcess):
		return liveness.Stamp{}, liveness.Unknown
	}
	st, err = liveness.InSession(j.WaiterPID, j.WaiterStart)
	switch {
	case err == nil:
		return st, liveness.Alive
	case errors.Is(err, liveness.ErrNoProcess):
		return liveness.Stamp{}, liveness.Dead
	}
	return liveness.Stamp{}, liveness.Unknown
}
