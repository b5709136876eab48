package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/gofrs/flock"
)

// Follower streams the logs of some jobs as they grow and tells when each
// ends. It only reads: any number of followers can follow the same jobs at
// once, and none stands in a waiter's way.
type Follower struct {
	// Log receives what was appended to a job's log, in order, from its
	// start, up to the waiter's own report of how the job ended
	// (Job.ReportFrom): Done's record says that, so the one who follows says
	// it once. It is called from one goroutine at a time.
	Log func(j Job, b []byte)
	// Done receives each job's final record once: succeeded, failed,
	// expired, or orphaned (its waiter died).
	Done func(j Job)
}

type followed struct {
	job     Job
	offset  int64
	done    bool
	locking bool // a goroutine waits for the waiter's lock to be released
	// held is the shared lock waitUnlocked took once the waiter was gone:
	// kept until the job's end is read and told, so Prune cannot remove
	// the job while it is being read.
	held *flock.Flock
}

// Follow follows jobs until every one has ended (it returns nil) or ctx ends
// (it returns ctx.Err() and the jobs still pending). It learns of new output
// and changes of state from file system notifications, and of a waiter's end
// from the release of its lock, so a waiter killed with SIGKILL is reported
// orphaned at once.
func (f *Follower) Follow(ctx context.Context, jobs []Job) ([]Job, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return jobs, fmt.Errorf("following the jobs: %w", err)
	}
	defer w.Close()
	fw := &following{f: f, byDir: map[string]*followed{}, freed: make(chan *followed, len(jobs))}
	for _, j := range jobs {
		fj := &followed{job: j}
		fw.byDir[j.Dir] = fj
		fw.order = append(fw.order, fj)
		if err := w.Add(j.Dir); err != nil {
			return jobs, fmt.Errorf("following job %s: %w", j.ID, err)
		}
	}
	fw.left = len(fw.order)
	for _, fj := range fw.order {
		f.pump(fj)
		fw.check(fj)
	}
	// A job still starting is looked at again when its waiter is overdue.
	startTick := time.NewTicker(time.Second)
	defer startTick.Stop()
	for fw.left > 0 {
		select {
		case <-ctx.Done():
			return fw.pending(), ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return nil, errors.New("following the jobs: the watch ended")
			}
			fw.event(ev)
		case err := <-w.Errors:
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return nil, fmt.Errorf("following the jobs: %w", err)
			}
			for _, fj := range fw.order {
				f.pump(fj)
				fw.check(fj)
			}
		case fj := <-fw.freed:
			if err := fw.released(fj); err != nil {
				return nil, err
			}
		case <-startTick.C:
			for _, fj := range fw.order {
				if !fj.done && fj.job.Recorded == Starting {
					fw.check(fj)
				}
			}
		}
	}
	return nil, nil
}

// following is one Follow's jobs: by directory, in the order given, how many
// have not ended, and where waitUnlocked says a waiter has gone.
type following struct {
	f     *Follower
	byDir map[string]*followed
	order []*followed
	left  int
	freed chan *followed
}

func (fw *following) finish(fj *followed, j Job) {
	fw.f.pump(fj)
	fj.done, fj.job = true, j
	fw.left--
	if fw.f.Done != nil {
		fw.f.Done(j)
	}
}

// check reads a job's record again and acts on its state.
func (fw *following) check(fj *followed) {
	if fj.done {
		return
	}
	j, err := readRecord(fj.job.Dir)
	if err != nil {
		return // being replaced, or corrupt: the next event or the lock says more
	}
	j.State = j.Recorded
	switch {
	case j.Recorded == Starting:
		fj.job = j
		if time.Since(j.Created) >= StartTimeout {
			if alive, err := WaiterAlive(j); err == nil && !alive {
				j.State = Orphaned
				fw.finish(fj, j)
			}
		}
	default:
		// Waiting, running or ended: the end is told by the release of
		// the waiter's lock, when it has written all it will write.
		fj.job = j
		if !fj.locking {
			fj.locking = true
			go waitUnlocked(fj, j.LockPath(), fw.freed)
		}
	}
}

// event acts on a change in a job's directory: new output, or a new record.
func (fw *following) event(ev fsnotify.Event) {
	fj := fw.byDir[filepath.Dir(ev.Name)]
	if fj == nil || fj.done {
		return
	}
	switch filepath.Base(ev.Name) {
	case LogFile:
		fw.f.pump(fj)
	case RecordFile:
		fw.check(fj)
	}
}

// released ends a job whose waiter is gone: its record says how it ended,
// or it died (orphaned).
func (fw *following) released(fj *followed) error {
	if fj.held != nil {
		defer fj.held.Unlock()
	}
	if fj.done {
		return nil
	}
	j, err := readRecord(fj.job.Dir)
	if err != nil {
		var ce *CorruptError
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("job %s was removed while it was read: finished jobs are removed once they are older than HOOKSHIM_JOBS_KEEP", fj.job.ID)
		}
		if !errors.As(err, &ce) {
			return err
		}
		j = fj.job
		j.Problem = err.Error()
	}
	if j.Recorded.Pending() {
		j.State = Orphaned
	}
	fw.finish(fj, j)
	return nil
}

// pending is the jobs not ended yet, their logs copied so far.
func (fw *following) pending() []Job {
	var out []Job
	for _, fj := range fw.order {
		if !fj.done {
			fw.f.pump(fj)
			out = append(out, fj.job)
		}
	}
	return out
}

// waitUnlocked blocks until the job's waiter releases its lock (it ended, or
// died), then reports it on freed, with the shared lock it then took held in
// fj.held for released to let go. Nobody claims a job whose waiter has gone,
// so the lock stands in no waiter's way.
func waitUnlocked(fj *followed, lockPath string, freed chan<- *followed) {
	fl := flock.New(lockPath, flock.SetFlag(os.O_RDONLY|noFollow))
	if err := fl.RLock(); err == nil {
		fj.held = fl
	}
	freed <- fj
}

// pump copies what was appended to the job's log since the last call, up to
// where the waiter's report of the end starts. The log's size is taken before
// the record is read: the waiter records ReportFrom before it writes its
// report, so report bytes within that size are always known as such.
func (f *Follower) pump(fj *followed) {
	lf, err := openJobFile(fj.job.LogPath())
	if err != nil {
		return
	}
	defer lf.Close()
	fi, err := lf.Stat()
	if err != nil {
		return
	}
	end := fi.Size()
	if j, err := readRecord(fj.job.Dir); err == nil && j.ReportFrom != nil {
		end = min(end, *j.ReportFrom)
	}
	if end <= fj.offset {
		return
	}
	if _, err := lf.Seek(fj.offset, io.SeekStart); err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	r := io.LimitReader(lf, end-fj.offset)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			fj.offset += int64(n)
			if f.Log != nil {
				f.Log(fj.job, buf[:n])
			}
		}
		if err != nil || n == 0 {
			return
		}
	}
}
