// Package lockreport turns what `hookshim locks` found on its hosts into what it
// prints: a table for people and a JSON document (schema_version 1) for scripts.
//
// Everything in a lock came from disk or from a host and is untrusted: the
// table escapes every control and formatting character and clips long values,
// so no lock can break the table or drive the terminal; the JSON keeps values
// exact (JSON escaping makes them safe).
package lockreport

import (
	"sort"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// Kind is what a lock is, whatever its age. It is the JSON "state".
type Kind string

// Kinds of lock.
const (
	// KindHeld is an automatic Kamal lock: a Kamal command took it for itself
	// (message "Automatic deploy lock").
	KindHeld Kind = "held"
	// KindManual is a lock a person took with `kamal lock acquire -m MESSAGE`:
	// readable details whose message is neither Kamal's automatic one nor a
	// hookshim hold.
	KindManual Kind = "manual"
	// KindHold is a lock hookshim took for a hook; its message names the hook,
	// the token, the deployer's user@host and pid (lockfile.ParseHold).
	KindHold Kind = "hookshim-hold"
	// KindNoDetails is a lock directory without a details file: a Kamal between
	// its mkdir and its write, or one that crashed there. Held, holder unknown.
	KindNoDetails Kind = "no-details"
	// KindUnreadable is anything else at a lock path: details that cannot be
	// read or parsed (garbage, too large, not a regular file), a symlink, a file
	// instead of a directory. Kamal's own mkdir fails on it, so it is held.
	KindUnreadable Kind = "unreadable"
)

// States the table shows besides the kinds.
const (
	// StateStale follows the kind in the table, as "KIND, stale", for a lock
	// older than StaleAfter, whatever its kind (the JSON keeps the kind and a
	// stale flag).
	StateStale = "stale"
	// StateDead follows a hookshim hold's kind in the table, as
	// "hookshim-hold (dead)", when its process is provably gone
	// (ProcessGone): nothing will release it, `hookshim unlock` removes it
	// without asking.
	StateDead = "dead"
	// StateUnreachable marks a host that could not be read.
	StateUnreachable = "unreachable"
)

// KindOf classifies a lock found by a scan.
func KindOf(l lockfile.Lock) Kind {
	switch l.State {
	case lockfile.NoDetails:
		return KindNoDetails
	case lockfile.Held:
		if l.Details == nil {
			return KindUnreadable
		}
		if _, ok := l.Hold(); ok {
			return KindHold
		}
		if l.Details.IsAutomatic() {
			return KindHeld
		}
		return KindManual
	}
	return KindUnreadable
}

// Process is what is known of the process that took a hookshim hold: the
// JSON "holder_process".
type Process string

// What is known of a hold's process.
const (
	// ProcessRunning: the hold was taken on this machine and its hookshim, or
	// its hook, still runs (internal/liveness).
	ProcessRunning Process = "running"
	// ProcessGone: the hold was taken on this machine and its hookshim and
	// hook have provably ended (pid, start time, session, boot id), or the
	// machine has restarted since.
	ProcessGone Process = "gone"
	// ProcessUnknown: neither can be proven: a hold taken on another machine,
	// by a hookshim too old to record its start time, or whose processes
	// cannot all be read.
	ProcessUnknown Process = "unknown"
)

// Transports a target is read through.
const (
	TransportSSH   = "ssh"
	TransportLocal = "local"
)

// Target is one place locks were looked for.
type Target struct {
	// Name is the host as the user named it (--host, HOOKSHIM_HOSTS,
	// deploy.yml), or "local" for a directory on this machine.
	Name string
	// Transport is TransportSSH or TransportLocal.
	Transport string
	// Address is what was actually read: user@host[:port] as passed to ssh, or
	// the absolute directory standing in for the SSH user's home.
	Address string
}

// Result is what reading one target gave.
type Result struct {
	Target  Target
	Locks   []lockfile.Lock // every lock found; free entries are ignored
	Err     error           // non-nil when the target could not be read
	Elapsed time.Duration   // how long reading it took
}

// Job is one of this machine's deferred hook jobs, as `hookshim locks` shows it.
// The deferred-jobs code fills it; zero fields are shown as unknown.
type Job struct {
	ID    string    // job id, as `hookshim wait` names it
	Hook  string    // hook name, e.g. post-deploy
	State string    // e.g. waiting, running, succeeded, failed, expired, orphaned
	Repo  string    // the repository directory the job was deferred from
	Lock  string    // the lock it waits for, as host:path
	Since time.Time // when it was deferred
	Log   string    // path of its log file
	// ExitStatus is the hook's exit status once it ran; nil before.
	ExitStatus *int
	// Error says why a job failed, expired, was orphaned or cannot be read,
	// when its exit status does not tell it.
	Error string
}

// Report is everything one `hookshim locks` run shows.
type Report struct {
	Now time.Time
	// StaleAfter is the age past which a held lock is stale; 0 means never.
	StaleAfter time.Duration
	Results    []Result // in the order the hosts were given
	Jobs       []Job
	// JobsErr is why the deferred jobs could not be listed, if so.
	JobsErr error
	// Processes says whether the process of each hookshim hold taken on this
	// machine still runs, keyed by the hold as read from its lock. A hold
	// not in it (nil: none) is ProcessUnknown. Filled by whoever can read
	// this machine's processes: the report itself reads nothing.
	Processes map[lockfile.Hold]Process
}

// HolderProcess is what is known of the process that took l: ok is false
// when l is not a hookshim hold.
func (r *Report) HolderProcess(l lockfile.Lock) (p Process, ok bool) {
	h, ok := l.Hold()
	if !ok {
		return "", false
	}
	return r.processOf(h), true
}

// processOf is what is known of hold h's process.
func (r *Report) processOf(h lockfile.Hold) Process {
	if p, known := r.Processes[h]; known {
		return p
	}
	return ProcessUnknown
}

// deadHold reports whether l is a hookshim hold whose process is gone. With
// no hold of this machine found (the common case) it reads nothing of l.
func (r *Report) deadHold(l lockfile.Lock) bool {
	if len(r.Processes) == 0 {
		return false
	}
	p, _ := r.HolderProcess(l)
	return p == ProcessGone
}

// State is the table's STATE of l: its kind, then " (dead)" for a hold whose
// process is gone, then ", stale" when it is stale, e.g.
// "hookshim-hold (dead), stale".
func (r *Report) State(l lockfile.Lock) string {
	state := string(KindOf(l))
	if r.deadHold(l) {
		state += " (" + StateDead + ")"
	}
	if r.Stale(l) {
		state += ", " + StateStale
	}
	return state
}

// Stale reports whether l is older than r.StaleAfter. A lock whose time is
// unknown (no details time and no directory time) is never stale.
func (r *Report) Stale(l lockfile.Lock) bool {
	since := l.Since()
	return r.StaleAfter > 0 && !since.IsZero() && r.Now.Sub(since) > r.StaleAfter
}

// Age is how old l is at r.Now, never negative (a clock ahead of ours gives
// 0); ok is false when its time is unknown.
func (r *Report) Age(l lockfile.Lock) (age time.Duration, ok bool) {
	since := l.Since()
	if since.IsZero() {
		return 0, false
	}
	if age = r.Now.Sub(since); age < 0 {
		age = 0
	}
	return age, true
}

// locks returns a result's held locks sorted by path.
func locks(res Result) []lockfile.Lock {
	out := make([]lockfile.Lock, 0, len(res.Locks))
	for _, l := range res.Locks {
		if l.State.IsHeld() {
			out = append(out, l)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Summary counts what a report holds.
type Summary struct {
	Hosts          int // targets looked at
	Unreachable    int // targets that could not be read
	HostsWithLocks int // targets read with at least one lock
	Locks          int // locks found
	Stale          int // of which stale
	DeadHolds      int // of which hookshim holds whose process is gone
	Jobs           int // deferred jobs
}

// Summary counts the report's hosts, locks and jobs.
func (r *Report) Summary() Summary {
	s := Summary{Hosts: len(r.Results), Jobs: len(r.Jobs)}
	for _, res := range r.Results {
		if res.Err != nil {
			s.Unreachable++
			continue
		}
		ls := locks(res)
		if len(ls) > 0 {
			s.HostsWithLocks++
		}
		for _, l := range ls {
			s.Locks++
			if r.Stale(l) {
				s.Stale++
			}
			if r.deadHold(l) {
				s.DeadHolds++
			}
		}
	}
	return s
}

// Unreachable lists the names of the targets that could not be read.
func (r *Report) Unreachable() []string {
	var out []string
	for _, res := range r.Results {
		if res.Err != nil {
			out = append(out, res.Target.Name)
		}
	}
	return out
}
