package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// start. It is called from one goroutine at a time.
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
	byDir := map[string]*followed{}
	var order []*followed
	for _, j := range jobs {
		fj := &followed{job: j}
		byDir[j.Dir] = fj
		order = append(order, fj)
		if err := w.Add(j.Dir); err != nil {
			return jobs, fmt.Errorf("following job %s: %w", j.ID, err)
		}
	}
	freed := make(chan *followed, len(jobs))
	left := len(order)
	finish := func(fj *followed, j Job) {
		f.pump(fj)
		fj.done, fj.job = true, j
		left--
		if f.Done != nil {
			f.Done(j)
		}
	}
	// check reads a job's record again and acts on its state.
	check := func(fj *followed) {
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
					finish(fj, j)
				}
			}
		default:
			// Waiting, running or ended: the end is told by the release of
			// the waiter's lock, when it has written all it will write.
			fj.job = j
			if !fj.locking {
				fj.locking = true
				go waitUnlocked(fj, j.LockPath(), freed)
			}
		}
	}
	for _, fj := range order {
		f.pump(fj)
		check(fj)
	}
	// A job still starting is looked at again when its waiter is overdue.
	startTick := time.NewTicker(time.Second)
	defer startTick.Stop()
	for left > 0 {
		select {
		case <-ctx.Done():
			var pending []Job
			for _, fj := range order {
				if !fj.done {
					f.pump(fj)
					pending = append(pending, fj.job)
				}
			}
			return pending, ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return nil, errors.New("following the jobs: the watch ended")
			}
			fj := byDir[filepath.Dir(ev.Name)]
			if fj == nil || fj.done {
				continue
			}
			switch filepath.Base(ev.Name) {
			case LogFile:
				f.pump(fj)
			case RecordFile:
				check(fj)
			}
		case err := <-w.Errors:
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return nil, fmt.Errorf("following the jobs: %w", err)
			}
			for _, fj := range order {
				f.pump(fj)
				check(fj)
			}
		case fj := <-freed:
			if fj.done {
				continue
			}
			// The waiter is gone: its record says how it ended, or it died.
			j, err := readRecord(fj.job.Dir)
			if err != nil {
				var ce *CorruptError
				if !errors.As(err, &ce) {
					return nil, err
				}
				j = fj.job
				j.Problem = err.Error()
			}
			if j.Recorded.Pending() {
				j.State = Orphaned
			}
			finish(fj, j)
		case <-startTick.C:
			for _, fj := range order {
				if !fj.done && fj.job.Recorded == Starting {
					check(fj)
				}
			}
		}
	}
	return nil, nil
}

// waitUnlocked blocks until the job's waiter releases its lock (it ended, or
// died), then reports it on freed. It takes a shared lock only for an instant.
func waitUnlocked(fj *followed, lockPath string, freed chan<- *followed) {
	fl := flock.New(lockPath, flock.SetFlag(os.O_RDONLY|noFollow))
	if err := fl.RLock(); err == nil {
		_ = fl.Unlock()
	}
	freed <- fj
}

// pump copies what was appended to the job's log since the last call.
func (f *Follower) pump(fj *followed) {
	lf, err := openJobFile(fj.job.LogPath())
	if err != nil {
		return
	}
	defer lf.Close()
	if _, err := lf.Seek(fj.offset, io.SeekStart); err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := lf.Read(buf)
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
