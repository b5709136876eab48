package liveness

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Hold is what a hookshim hold records of the process that took it
// (lockfile.Hold): the hook it runs, and everything the hook starts, carry
// Token in HOOKSHIM_LOCK_TOKEN.
type Hold struct {
	Token string
	PID   int
	Start uint64 // hookshim's start time, clock ticks since boot
	SID   int    // hookshim's session, which its hook shares
	Boot  string // ShortBootID of the boot it ran in
}

// Liveness is what can be said about a hold's processes.
type Liveness int

const (
	// Unknown: neither alive nor provably gone (an older hold without a start
	// time, a process whose environment cannot be read, /proc unreadable).
	Unknown Liveness = iota
	// Alive: hookshim, or its hook or a process the hook started, still runs.
	Alive
	// Dead: hookshim has ended (its pid is gone or now another process's),
	// and no process started after it carries the hold's token.
	Dead
)

// Verdict is a Liveness and, for people, which process or why.
type Verdict struct {
	Liveness Liveness
	Why      string
}

// Check tells whether the hold's hookshim or its hook's processes still run
// on this machine. It reads every process's stat and, for those started after
// hookshim, its environment (/proc/PID/environ, readable for one's own
// processes only): a process carrying the token belongs to the hook. Alive
// means refuse; only Dead allows a release without asking.
//
// A process whose environment cannot be read (another user's, or one that made
// itself undumpable, as ssh does) is a doubt when it runs in hookshim's session,
// started after hookshim, in a process group whose leader is gone: the hook's
// group looks that way once the hook itself has ended.
func Check(h Hold) Verdict {
	if h.Start == 0 || h.Boot == "" {
		return Verdict{Unknown, fmt.Sprintf("the hold records pid %d but not its start time (taken by an older hookshim), so pid reuse cannot be ruled out", h.PID)}
	}
	boot := BootID()
	switch {
	case boot == "":
		return Verdict{Unknown, "this machine's boot id cannot be read"}
	case boot != h.Boot:
		return Verdict{Dead, fmt.Sprintf("this machine has restarted since the hold was taken (boot %s, now %s)", h.Boot, boot)}
	}
	gone := fmt.Sprintf("hookshim pid %d has ended", h.PID)
	switch st, err := Read(h.PID); {
	case err == nil && st.Start == h.Start && !st.Ended():
		return Verdict{Alive, fmt.Sprintf("hookshim pid %d (%s) still runs", h.PID, st.Comm)}
	case err == nil && st.Start == h.Start:
		gone = fmt.Sprintf("hookshim pid %d has ended (its parent has not yet collected its exit status)", h.PID)
	case err == nil:
		gone = fmt.Sprintf("hookshim pid %d has ended (the pid is now another process, started later)", h.PID)
	case !errors.Is(err, ErrNoProcess):
		return Verdict{Unknown, fmt.Sprintf("cannot read process %d: %v", h.PID, err)}
	}
	return scanHook(h, gone)
}

// scanHook looks for the hook's processes once hookshim itself is gone.
func scanHook(h Hold, gone string) Verdict {
	entries, err := os.ReadDir(root)
	if err != nil {
		return Verdict{Unknown, fmt.Sprintf("cannot list processes: %v", err)}
	}
	want := []byte("HOOKSHIM_LOCK_TOKEN=" + h.Token + "\x00")
	self := os.Getpid()
	doubt := ""
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, err := Read(pid)
		if err != nil || st.Start < h.Start || st.Ended() {
			continue // gone, or started before hookshim: not its descendant
		}
		env, err := os.ReadFile(filepath.Join(root, e.Name(), "environ"))
		switch {
		case err == nil:
			if bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...)) {
				return Verdict{Alive, fmt.Sprintf("%s, but its hook still runs: pid %d (%s), process group %d", gone, pid, st.Comm, st.PGID)}
			}
		case errors.Is(err, fs.ErrPermission) && st.SID == h.SID && doubt == "" && !leaderLives(st.PGID):
			doubt = fmt.Sprintf("%s, but process %d (%s) in its session, whose environment cannot be read, may be part of its hook", gone, pid, st.Comm)
		}
	}
	if doubt != "" {
		return Verdict{Unknown, doubt}
	}
	return Verdict{Dead, gone + ", and no process carries its token: its hook has ended too"}
}

// leaderLives reports whether process group pgid's leader (the process whose
// pid it is) still runs.
func leaderLives(pgid int) bool {
	st, err := Read(pgid)
	return err == nil && st.PGID == pgid || errors.Is(err, syscall.EACCES)
}
