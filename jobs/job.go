// Package jobs records deferred hooks in the state dir, runs their waiters
// exactly once, and reports them.
//
// A job is a directory <state>/jobs/<id> (0700) holding:
//
//	job.json  the record (0600), replaced atomically (temp file + rename) on
//	          every change of state; it never holds the hook's environment,
//	          which lives only in the waiter's memory
//	log       the waiter's and the hook's output (0600), appended to
//	lock      the waiter's gofrs/flock lock: held exclusively by the waiter for
//	          its whole life, so a job whose lock is free while its record
//	          says waiting or running has lost its waiter (orphaned)
//	reported  present once `hookshim wait` has reported the job's end
//
// A job goes starting (recorded, waiter not up yet) -> waiting (the waiter
// holds the lock and waits for the deploy lock) -> running (the hook started)
// -> succeeded or failed; or waiting -> expired (--defer-timeout passed) or
// failed (it could not be run). A waiter only ever picks up a job in state
// starting, so nothing runs a job twice; an orphaned job is reported, never
// run again automatically.
package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// SchemaVersion is the version of job.json this package writes.
const SchemaVersion = 1

// File names inside a job's directory.
const (
	RecordFile   = "job.json"
	LogFile      = "log"
	LockFile     = "lock"
	ReportedFile = "reported"
)

// StartTimeout bounds how long a waiter may take to pick up its job. A job
// still starting after that with nobody holding its lock is orphaned.
const StartTimeout = 10 * time.Second

// State is where a job stands.
type State string

const (
	Starting  State = "starting"  // recorded; its waiter is being started
	Waiting   State = "waiting"   // the waiter waits for the deploy lock
	Running   State = "running"   // the hook is running
	Succeeded State = "succeeded" // the hook exited 0
	Failed    State = "failed"    // the hook exited non-zero, or could not be run
	Expired   State = "expired"   // --defer-timeout passed before the lock was released
	// Orphaned is never recorded: it is what List and Load report for a job
	// whose record says starting, waiting or running while no waiter holds
	// its lock (the waiter was killed, or the machine restarted).
	Orphaned State = "orphaned"
	// Corrupt is never recorded: the record could not be read (see Job.Problem).
	Corrupt State = "corrupt"
)

// Pending reports whether a job in state s may still run its hook.
func (s State) Pending() bool { return s == Starting || s == Waiting || s == Running }

// Final reports whether a job in state s has ended for good.
func (s State) Final() bool { return !s.Pending() }

// LockRef is the deploy lock a job waits for.
type LockRef struct {
	Host string `json:"host"` // as hookshim names the store: a host, or "local DIR"
	Path string `json:"path"` // relative to the SSH user's home unless absolute
}

// String is host:path, as HOOKSHIM_LOCK spells it.
func (l LockRef) String() string { return l.Host + ":" + l.Path }

// Holder is who held the lock when the hook was deferred.
type Holder struct {
	LockedBy string    `json:"locked_by,omitempty"`
	Version  string    `json:"version,omitempty"`
	Message  string    `json:"message,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

// Job is one deferred hook. The JSON form is job.json, schema SchemaVersion.
type Job struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Hook    string `json:"hook"`
	// Command is what runs after `--`; empty means the scripts in HOOK.d.
	Command     []string `json:"command,omitempty"`
	RepoDir     string   `json:"repo_dir"`
	Service     string   `json:"service"`
	Destination string   `json:"destination,omitempty"`
	Lock        LockRef  `json:"lock"`
	Holder      *Holder  `json:"holder,omitempty"`
	// Policy is the policy under which `hookshim run` deferred the hook;
	// RunPolicy is how the waiter runs it: hold (Kamal 2.6+) or strict.
	Policy    string `json:"policy"`
	RunPolicy string `json:"run_policy"`
	Reason    string `json:"reason,omitempty"` // why it was deferred
	// Settings is what `hookshim run` resolved from its command line and
	// environment (never the environment itself), as JSON in the form of
	// internal/cli, which versions it on its own: the waiter runs the hook
	// with exactly these. A reader that does not run jobs ignores it.
	Settings json.RawMessage `json:"settings,omitempty"`

	Created  time.Time `json:"created"`
	Deadline time.Time `json:"deadline"` // Created + --defer-timeout

	WaiterPID int `json:"waiter_pid,omitempty"`
	// WaiterStart and WaiterBoot identify the waiter's process beyond its
	// pid (liveness.Stamp.Start, clock ticks since boot; liveness.BootID),
	// recorded when it picks the job up: its hook's processes stay in the
	// session it leads, so `hookshim wait` can tell whether an orphaned
	// job's hook still runs (HookProcess). Absent from records of a
	// hookshim before them, and where /proc cannot be read: nothing can be
	// told then. Added within SchemaVersion 1: older readers ignore them.
	WaiterStart uint64     `json:"waiter_start,omitempty"`
	WaiterBoot  string     `json:"waiter_boot,omitempty"`
	State       State      `json:"state"`
	ExitStatus  *int       `json:"exit_status,omitempty"`
	Started     *time.Time `json:"started,omitempty"`
	Ended       *time.Time `json:"ended,omitempty"`
	// Error says why the job failed or expired without the hook's own
	// status telling it (the lock was never released, a host was unreachable).
	Error string `json:"error,omitempty"`
	// ReportFrom is where, in bytes, the waiter's own report of how the job
	// ended starts in its log, recorded before that report is written.
	// `hookshim wait` streams the log up to it and says the end itself, once.
	ReportFrom *int64 `json:"report_from,omitempty"`

	// Dir is the job's directory; not stored.
	Dir string `json:"-"`
	// Recorded is the state as job.json has it, before Orphaned was derived.
	Recorded State `json:"-"`
	// Problem says why the record is Corrupt; not stored.
	Problem string `json:"-"`
	// Reported is true once `hookshim wait` has reported the job's end.
	Reported bool `json:"-"`
}

// LogPath is the job's log file.
func (j Job) LogPath() string { return filepath.Join(j.Dir, LogFile) }

// RecordPath is the job's job.json.
func (j Job) RecordPath() string { return filepath.Join(j.Dir, RecordFile) }

// LockPath is the file the waiter keeps locked.
func (j Job) LockPath() string { return filepath.Join(j.Dir, LockFile) }

// Dir is the directory of job id in stateDir.
func Dir(stateDir, id string) string { return filepath.Join(stateDir, "jobs", id) }

// NewID makes a job id: UTC time to the second, then 8 random hex digits, so
// ids sort by creation and never collide.
func NewID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// ValidateID checks a job id given by a person: it becomes part of a path.
func ValidateID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("job id %q is not a job id", id)
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return fmt.Errorf("job id %q is not a job id (letters, digits, '-' and '_' only)", id)
		}
	}
	return nil
}

// ErrNotFound is returned by Load for a job id with no directory.
var ErrNotFound = errors.New("no such job")

// CorruptError is returned by Load for a record that cannot be read.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	what := "job record"
	if filepath.Base(e.Path) != RecordFile {
		what = "job file"
	}
	return fmt.Sprintf("%s %s is corrupt: %v", what, e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// maxRecord bounds what is read of a job.json: real ones are well under 4 KB.
const maxRecord = 1 << 20

// decode reads and checks a record.
func decode(path string, b []byte) (Job, error) {
	var j Job
	if len(b) > maxRecord {
		return j, &CorruptError{path, fmt.Errorf("%d bytes, more than any job record", len(b))}
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&j); err != nil {
		return j, &CorruptError{path, err}
	}
	switch {
	case j.Version != SchemaVersion:
		return j, &CorruptError{path, fmt.Errorf("schema version %d, this hookshim reads %d", j.Version, SchemaVersion)}
	case ValidateID(j.ID) != nil:
		return j, &CorruptError{path, fmt.Errorf("bad id %q", j.ID)}
	case lockfile.ValidateName("hook", j.Hook) != nil:
		return j, &CorruptError{path, lockfile.ValidateName("hook", j.Hook)}
	}
	switch j.State {
	case Starting, Waiting, Running, Succeeded, Failed, Expired:
	default:
		return j, &CorruptError{path, fmt.Errorf("unknown state %q", j.State)}
	}
	if err := consistent(j); err != nil {
		return j, &CorruptError{path, err}
	}
	return j, nil
}

// consistent checks that a record's state agrees with its exit status and
// times, as the waiter writes them: a record that says "failed" with exit
// status 0 was not written by a waiter, and `hookshim wait` must not pass
// its 0 on.
func consistent(j Job) error {
	st := j.ExitStatus
	switch {
	case st != nil && (*st < 0 || *st > 255):
		return fmt.Errorf("exit status %d is not an exit status", *st)
	case j.State.Pending() && (st != nil || j.Ended != nil):
		return fmt.Errorf("state %s with an exit status or an end: a pending job has neither", j.State)
	case j.State == Running && j.Started == nil:
		return errors.New("state running without a start time")
	case j.State.Pending():
		return nil
	case j.Ended == nil:
		return fmt.Errorf("state %s without an end time", j.State)
	case j.State == Succeeded && (st == nil || *st != 0):
		return fmt.Errorf("state succeeded with exit status %s: they disagree", statusText(st))
	case j.State != Succeeded && st != nil && *st == 0:
		return fmt.Errorf("state %s with exit status 0: they disagree", j.State)
	}
	return nil
}

func statusText(st *int) string {
	if st == nil {
		return "none"
	}
	return fmt.Sprint(*st)
}

// encode renders a record.
func encode(j Job) ([]byte, error) {
	j.Version = SchemaVersion
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readRecord loads job.json of the job in dir, with the id the directory names.
func readRecord(dir string) (Job, error) {
	path := filepath.Join(dir, RecordFile)
	f, err := openJobFile(path)
	if err != nil {
		return Job{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return Job{}, err
	}
	j, err := decode(path, b)
	if err != nil {
		return j, err
	}
	if j.ID != filepath.Base(dir) {
		return j, &CorruptError{path, fmt.Errorf("id %q does not match its directory %s", j.ID, filepath.Base(dir))}
	}
	j.Dir = dir
	j.Recorded = j.State
	return j, nil
}

// Duration is how long the hook ran, when it did.
func (j Job) Duration() time.Duration {
	if j.Started == nil || j.Ended == nil {
		return 0
	}
	return j.Ended.Sub(*j.Started)
}
