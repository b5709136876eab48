package jobs

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// OrphanedStatus is `hookshim wait`'s status for a job whose waiter died: its
// outcome is unknown.
const OrphanedStatus = exitcode.Software

// Result is nil for a job that succeeded, else the error that says which job
// failed, how, and carries the status to exit with (an *exitcode.Error: the
// hook's own status, exitcode.Conflict for an expired job, OrphanedStatus).
// byHand gives the command line that runs the job's hook by hand, for the
// hint of a job that expired or was orphaned.
func Result(j Job, byHand func(Job) string) error {
	status := 1
	if j.ExitStatus != nil {
		status = *j.ExitStatus
	}
	switch j.State {
	case Succeeded:
		return nil
	case Expired:
		return exitcode.Newf(exitcode.Conflict, "job %s (%s) expired: %s; log: %s", j.ID, j.Hook, orText(j.Error, "the lock was not released in time"), j.LogPath()).
			WithHint("run it by hand once the lock is free: %s", byHand(j))
	case Orphaned:
		return orphaned(j, byHand)
	case Failed:
		if j.Started == nil {
			if status == 0 {
				status = 1
			}
			return exitcode.Newf(status, "job %s (%s) failed: %s; log: %s", j.ID, j.Hook, orText(j.Error, "it could not be run"), j.LogPath())
		}
		return exitcode.Newf(status, "job %s (%s) failed with exit status %d%s; log: %s", j.ID, j.Hook, status, RanFor(j), j.LogPath())
	}
	return exitcode.Newf(exitcode.Software, "job %s (%s) ended in state %s; log: %s", j.ID, j.Hook, j.State, j.LogPath())
}

// Why says, for `hookshim locks`, why a job ended as it did when its exit
// status does not tell it: the record's error for a failed or expired job,
// what is known of an orphaned job's waiter and hook, what is wrong with a
// corrupt record; "" otherwise.
func Why(j Job) string {
	switch j.State {
	case Orphaned:
		st, lv := HookProcess(j)
		return orphanedWhy(j, st, lv)
	case Corrupt:
		return j.Problem
	}
	return j.Error
}

// orphaned is Result's error for an orphaned job. Its hint runs the hook by
// hand only when the hook cannot be running: never while a process of it
// still runs (HookProcess), and only once its processes are seen to have
// ended when that cannot be told.
func orphaned(j Job, byHand func(Job) string) error {
	st, lv := HookProcess(j)
	e := exitcode.Newf(OrphanedStatus, "job %s (%s) is orphaned: %s; it is not run again automatically; log: %s", j.ID, j.Hook, orphanedWhy(j, st, lv), j.LogPath())
	switch {
	case lv == liveness.Alive:
		return e.WithHint("do not run it again while it runs (its processes: ps -o pid,stat,args -s %d; its output goes on into its log); hookshim wait reports the job again once they have ended", j.WaiterPID)
	case lv == liveness.Unknown && j.WaiterPID > 0:
		return e.WithHint("whether the hook still runs cannot be told; once no process is left in its waiter's session (ps -o pid,stat,args -s %d), if it still needs to run: %s", j.WaiterPID, byHand(j))
	}
	return e.WithHint("if it still needs to run: %s", byHand(j))
}

// orphanedWhy is "its waiter (pid N) died while ...": what an orphaned job's
// record says of where its waiter was when it died, and, when the hook still
// runs, one of its processes.
func orphanedWhy(j Job, st liveness.Stamp, lv liveness.Liveness) string {
	if j.Recorded == Starting {
		return fmt.Sprintf("its waiter never picked it up within %s (it died, or never started): the hook was not run", StartTimeout)
	}
	what := "while it waited for the lock: the hook was not run"
	if j.Recorded == Running {
		what = "while the hook ran: its outcome is unknown"
	}
	pid := ""
	if j.WaiterPID != 0 {
		pid = fmt.Sprintf(" (pid %d)", j.WaiterPID)
	}
	if lv == liveness.Alive { // HookProcess: only for a job whose hook ran
		// First, so that a table cut to its width still shows it.
		return fmt.Sprintf("the hook may still be running (pid %d, %s): its waiter%s died while it ran, so its end will not be recorded", st.PID, st.Comm, pid)
	}
	return fmt.Sprintf("its waiter%s died %s", pid, what)
}

// Describe says where a job stands, for a line about it, in hookshim's
// times (UTC to the second, lockfile.TimeLayout) and durations (shim.Ago):
// "waiting for the lock until 2026-11-27T07:45:12Z, 29m58s from now",
// "running since 2026-11-27T07:15:14Z, for 3s", "orphaned (its waiter
// died)", "ended: <state>".
func Describe(j Job) string {
	now := time.Now()
	switch j.State {
	case Starting, Waiting:
		return fmt.Sprintf("waiting for the lock until %s, %s from now", j.Deadline.UTC().Format(lockfile.TimeLayout), shim.Ago(j.Deadline.Sub(now)))
	case Running:
		if j.Started != nil {
			return fmt.Sprintf("running since %s, for %s", j.Started.UTC().Format(lockfile.TimeLayout), shim.Ago(now.Sub(*j.Started)))
		}
		return "running"
	case Orphaned:
		return "orphaned (its waiter died)"
	}
	return "ended: " + string(j.State)
}

// RanFor is " (started <time>, took <duration>)" for a job whose hook ran,
// else "".
func RanFor(j Job) string {
	if j.Started == nil || j.Ended == nil {
		return ""
	}
	return fmt.Sprintf(" (started %s, took %s)", j.Started.UTC().Format(lockfile.TimeLayout), Took(j.Duration()))
}

// Took is how long something took, for people: whole seconds as shim.Ago
// writes them ("1m02s"), or milliseconds under a second ("40ms").
func Took(d time.Duration) string {
	if d < time.Second {
		return max(d, 0).Round(time.Millisecond).String()
	}
	return shim.Ago(d)
}

func orText(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// Streams writes jobs' logs to one stream: as they are when there is one
// job, each line prefixed by its job id ("<id>| ") when Prefix is set. Its
// Write fits Follower.Log.
type Streams struct {
	W       io.Writer
	Prefix  bool
	partial map[string][]byte
}

// Write writes a piece of j's log; with Prefix, only whole lines, keeping
// the rest for the next piece or Flush.
func (s *Streams) Write(j Job, b []byte) {
	if !s.Prefix {
		_, _ = s.W.Write(b)
		return
	}
	if s.partial == nil {
		s.partial = map[string][]byte{}
	}
	buf := append(s.partial[j.ID], b...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(s.W, "%s| %s\n", j.ID, buf[:i])
		buf = buf[i+1:]
	}
	s.partial[j.ID] = append([]byte(nil), buf...)
}

// Flush writes a job's unfinished last line.
func (s *Streams) Flush(j Job) {
	if rest := s.partial[j.ID]; len(rest) > 0 {
		fmt.Fprintf(s.W, "%s| %s\n", j.ID, rest)
		delete(s.partial, j.ID)
	}
}
