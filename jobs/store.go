package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/hookshim/hookshim/internal/liveness"
)

// Create records a new job in stateDir: the directories (0700) as needed,
// job.json in state Starting, an empty log and the lock file (0600). It fills
// in j's ID, Dir, Version, State and, when zero, Created. Nothing is left
// behind when it fails: the hook is then not deferred, and the caller must say
// so.
func Create(stateDir string, j Job) (Job, error) {
	if !filepath.IsAbs(stateDir) {
		return j, fmt.Errorf("state directory %q is not an absolute path", stateDir)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return j, err
	}
	root := filepath.Join(stateDir, "jobs")
	if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return j, err
	}
	if err := checkStateDirs(stateDir); err != nil {
		return j, err
	}
	if j.Created.IsZero() {
		j.Created = time.Now().UTC()
	}
	var err error
	for range 5 {
		j.ID = NewID(j.Created)
		j.Dir = filepath.Join(root, j.ID)
		if err = os.Mkdir(j.Dir, 0o700); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return j, err
	}
	j.Version, j.State, j.Recorded = SchemaVersion, Starting, Starting
	if err := create(j); err != nil {
		_ = os.RemoveAll(j.Dir)
		return j, err
	}
	return j, nil
}

func create(j Job) error {
	for _, name := range []string{LogFile, LockFile} {
		f, err := os.OpenFile(filepath.Join(j.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return save(j)
}

// save replaces job.json atomically: a temp file in the same directory,
// written, synced and renamed over the old one. Only the job's creator (before
// its waiter runs) and the holder of the job's lock call it.
func save(j Job) error {
	b, err := encode(j)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(j.Dir, ".job.json.tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(name, 0o600)
	}
	if err == nil {
		err = os.Rename(name, filepath.Join(j.Dir, RecordFile))
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("writing job record %s: %w", filepath.Join(j.Dir, RecordFile), err)
	}
	return nil
}

// Load reads job id from stateDir, with its state derived (Orphaned when its
// waiter is gone). It returns ErrNotFound for an unknown id and a
// *CorruptError (with the Job's ID, Dir and State Corrupt) for a record that
// cannot be read.
func Load(stateDir, id string) (Job, error) {
	if err := ValidateID(id); err != nil {
		return Job{}, err
	}
	if err := checkStateDirs(stateDir); err != nil {
		return Job{}, err
	}
	dir := Dir(stateDir, id)
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return Job{}, fmt.Errorf("job %s: %w in %s", id, ErrNotFound, stateDir)
		}
		return Job{}, err
	}
	return load(dir)
}

// load reads the job in dir, once its directory and files passed
// checkJobFiles: an *UnsafeError is returned as it is, a file that is not a
// regular one makes the job Corrupt.
func load(dir string) (Job, error) {
	err := checkJobFiles(dir)
	var ue *UnsafeError
	if errors.As(err, &ue) {
		return Job{}, err
	}
	j := Job{}
	if err == nil {
		j, err = readRecord(dir)
	}
	if errors.As(err, &ue) {
		return Job{}, err
	}
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) || errors.Is(err, fs.ErrNotExist) {
			bad := Job{ID: filepath.Base(dir), Dir: dir, State: Corrupt, Problem: err.Error()}
			if errors.Is(err, fs.ErrNotExist) {
				err = &CorruptError{filepath.Join(dir, RecordFile), errors.New("missing")}
				bad.Problem = err.Error()
			}
			return bad, err
		}
		return j, err
	}
	if _, err := os.Lstat(filepath.Join(dir, ReportedFile)); err == nil {
		j.Reported = true
	}
	j.State = derive(j, time.Now())
	return j, nil
}

// derive turns the recorded state into the state to report: a pending job
// whose lock nobody holds has lost its waiter. It never blocks.
func derive(j Job, now time.Time) State {
	if !j.State.Pending() {
		return j.State
	}
	held, err := WaiterAlive(j)
	if err != nil {
		// Cannot tell: report what was recorded.
		return j.State
	}
	switch {
	case held && j.State == Starting:
		// Picked up; the waiter is about to record it.
		return Waiting
	case held:
		return j.State
	case j.State == Starting && now.Sub(j.Created) < StartTimeout:
		return Starting
	}
	return Orphaned
}

// WaiterAlive reports whether some process holds the job's lock (its waiter).
// It takes a shared lock for an instant when the lock is free, which never
// stands in a waiter's way for long: waiters retry taking theirs.
func WaiterAlive(j Job) (bool, error) {
	fl := flock.New(j.LockPath(), flock.SetFlag(os.O_RDONLY|noFollow))
	ok, err := fl.TryRLock()
	if err != nil {
		return false, err
	}
	if ok {
		_ = fl.Unlock()
		return false, nil
	}
	return true, nil
}

// List reads every job in stateDir, with states derived, pending jobs first
// and then finished ones, each group oldest first. Corrupt records are listed
// with State Corrupt and the Problem. A state directory that does not exist
// holds no jobs.
func List(stateDir string) ([]Job, error) {
	if err := checkStateDirs(stateDir); err != nil {
		return nil, err
	}
	root := filepath.Join(stateDir, "jobs")
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	var out []Job
	for _, e := range entries {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		j, err := load(filepath.Join(root, e.Name()))
		var ue *UnsafeError
		if errors.As(err, &ue) {
			return nil, err
		}
		if err != nil && j.State != Corrupt {
			return nil, fmt.Errorf("reading job %s: %w", e.Name(), err)
		}
		out = append(out, j)
	}
	sort.SliceStable(out, func(a, b int) bool {
		pa, pb := out[a].State.Pending(), out[b].State.Pending()
		if pa != pb {
			return pa
		}
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

// MarkReported records that `hookshim wait` has reported j's end, so later
// waits leave it out. Idempotent, and safe from several waits at once.
func MarkReported(j Job) error {
	f, err := os.OpenFile(filepath.Join(j.Dir, ReportedFile), os.O_WRONLY|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// ErrTaken is returned by Claim when another process holds the job's lock.
var ErrTaken = errors.New("another waiter holds this job")

// ErrNotStarting is returned by Claim for a job that is not in state
// starting: it was picked up before (and maybe run), so it must never be run
// again automatically.
var ErrNotStarting = errors.New("job was picked up before; a job is never run twice")

// Claimed is a job held by its waiter: the lock is held until Close.
type Claimed struct {
	Job Job
	fl  *flock.Flock
}

// claimRetry bounds how long Claim waits for its lock: only an instant's
// look by List or WaiterAlive can be in its way.
const claimRetry = time.Second

// Claim takes job id's lock for the calling waiter and moves the job from
// starting to waiting, recording pid (with its start time and boot, when
// /proc tells them: HookProcess needs them). It fails with ErrTaken when another
// process holds the lock, ErrNotStarting when the job was picked up before.
func Claim(ctx context.Context, stateDir, id string, pid int) (*Claimed, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := checkStateDirs(stateDir); err != nil {
		return nil, err
	}
	dir := Dir(stateDir, id)
	if err := checkJobFiles(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("job %s: %w in %s", id, ErrNotFound, stateDir)
		}
		return nil, err
	}
	fl := flock.New(filepath.Join(dir, LockFile), flock.SetFlag(os.O_RDONLY|noFollow))
	ctx, cancel := context.WithTimeout(ctx, claimRetry)
	defer cancel()
	ok, err := fl.TryLockContext(ctx, 2*time.Millisecond)
	if !ok {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("job %s: %w", id, ErrTaken)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("job %s: %w in %s", id, ErrNotFound, stateDir)
		}
		return nil, fmt.Errorf("job %s: taking its lock: %w", id, err)
	}
	j, err := readRecord(dir)
	if err != nil {
		_ = fl.Unlock()
		return nil, err
	}
	if j.State != Starting {
		_ = fl.Unlock()
		return nil, fmt.Errorf("job %s is %s: %w", id, j.State, ErrNotStarting)
	}
	j.State, j.WaiterPID = Waiting, pid
	if st, err := liveness.Read(pid); err == nil {
		j.WaiterStart, j.WaiterBoot = st.Start, liveness.BootID()
	}
	if err := save(j); err != nil {
		_ = fl.Unlock()
		return nil, err
	}
	j.Recorded = j.State
	return &Claimed{Job: j, fl: fl}, nil
}

// Update changes the claimed job's record with fn and saves it atomically.
// On error the record on disk is unchanged and c.Job keeps the change.
func (c *Claimed) Update(fn func(*Job)) error {
	fn(&c.Job)
	c.Job.Recorded = c.Job.State
	return save(c.Job)
}

// Close releases the job's lock. The waiter's exit does the same.
func (c *Claimed) Close() error { return c.fl.Unlock() }

// Abandon marks a job that its waiter never picked up as failed, with why.
// It is for the process that created the job when the waiter did not come up.
// It returns false, touching nothing, when a waiter holds the job after all or
// the job is no longer starting.
func Abandon(stateDir, id, why string) (bool, error) {
	dir := Dir(stateDir, id)
	if err := checkJobFiles(dir); err != nil {
		return false, err
	}
	fl := flock.New(filepath.Join(dir, LockFile), flock.SetFlag(os.O_RDONLY|noFollow))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ok, err := fl.TryLockContext(ctx, 2*time.Millisecond)
	if !ok {
		return false, err
	}
	defer fl.Unlock()
	j, err := readRecord(dir)
	if err != nil {
		return false, err
	}
	if j.State != Starting {
		return false, nil
	}
	now := time.Now().UTC()
	j.State, j.Error, j.Ended = Failed, why, &now
	return true, save(j)
}
