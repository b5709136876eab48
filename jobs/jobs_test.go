package jobs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

func TestCreateRecordsJobPrivately(t *testing.T) {
	state, j := newJob(t)
	if j.State != Starting || j.Version != SchemaVersion || ValidateID(j.ID) != nil {
		t.Fatalf("created job = %+v", j)
	}
	for _, d := range []string{state, filepath.Join(state, "jobs"), j.Dir} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", d, fi.Mode(), err)
		}
	}
	for _, f := range []string{j.RecordPath(), j.LogPath(), j.LockPath()} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode(), err)
		}
	}
	got, err := Load(state, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hook != "post-deploy" || got.Lock.String() != "web1:.kamal/lock-app" || got.State != Starting || !got.Deadline.Equal(j.Deadline) {
		t.Errorf("loaded %+v", got)
	}
	// No temp files are left behind by the atomic write.
	entries, _ := os.ReadDir(j.Dir)
	if len(entries) != 3 {
		t.Errorf("job dir holds %v, want job.json, lock, log", entries)
	}
}

func TestCreateRefusesUnusableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Create(filepath.Join(file, "state"), Job{Hook: "post-deploy"})
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("Create under a regular file: %v, want ENOTDIR", err)
	}
	if _, err := Create("relative/state", Job{Hook: "post-deploy"}); err == nil {
		t.Fatal("Create accepted a relative state dir")
	}
}

func TestCreateOnFullDiskLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k,nr_inodes=64", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Fill it.
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.Write(make([]byte, 64<<10))
	f.Close()
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", werr)
	}
	_, err = Create(state, Job{Hook: "post-deploy", Service: "app"})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Create on a full disk: %v, want ENOSPC", err)
	}
	entries, _ := os.ReadDir(filepath.Join(state, "jobs"))
	if len(entries) != 0 {
		t.Errorf("a failed Create left %v behind", entries)
	}
}

func TestJobRunsOnceAndIsFollowed(t *testing.T) {
	state, j := newJob(t)
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := startFake(t, state, j, "run", "JOBS_TEST_GATE="+gate, "JOBS_TEST_STATUS=3"); err != nil {
		t.Fatal(err)
	}
	// Picked up: a second waiter can neither take nor rerun it.
	if _, err := Claim(context.Background(), state, j.ID, 1); !errors.Is(err, ErrTaken) {
		t.Fatalf("second Claim while the waiter lives: %v, want ErrTaken", err)
	}

	var mu sync.Mutex
	var out bytes.Buffer
	sawLine1 := make(chan struct{})
	var once sync.Once
	var done []Job
	f := &Follower{
		Log: func(_ Job, b []byte) {
			mu.Lock()
			out.Write(b)
			if strings.Contains(out.String(), "line 1") {
				once.Do(func() { close(sawLine1) })
			}
			mu.Unlock()
		},
		Done: func(j Job) { done = append(done, j) },
	}
	followed := make(chan error, 1)
	go func() {
		_, err := f.Follow(context.Background(), []Job{j})
		followed <- err
	}()
	select {
	case <-sawLine1:
	case <-time.After(20 * time.Second):
		t.Fatal("the log was not streamed while the job ran")
	}
	if st := loadState(t, state, j.ID); st != Running {
		t.Errorf("state while running = %s", st)
	}
	if err := os.WriteFile(gate, []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not return when the job ended")
	}
	if len(done) != 1 || done[0].State != Failed || done[0].ExitStatus == nil || *done[0].ExitStatus != 3 {
		t.Fatalf("Done got %+v", done)
	}
	// The waiter's report of the end is in the log, not in what is streamed:
	// the follower says the end itself, once.
	if out.String() != "line 1\nline 2\n" {
		t.Errorf("streamed log %q, want the lines before the waiter's report", out.String())
	}
	if b, err := os.ReadFile(j.LogPath()); err != nil || !strings.HasSuffix(string(b), "line 2\nreport: the job ended\n") {
		t.Errorf("the log lacks the waiter's report: %q, %v", b, err)
	}
	// Ended: never picked up again.
	if _, err := Claim(context.Background(), state, j.ID, 1); !errors.Is(err, ErrNotStarting) {
		t.Fatalf("Claim of an ended job: %v", err)
	}
	// A second follower of an ended job gets the whole log and the end at once.
	var again bytes.Buffer
	var st State
	f2 := &Follower{Log: func(_ Job, b []byte) { again.Write(b) }, Done: func(j Job) { st = j.State }}
	if _, err := f2.Follow(context.Background(), []Job{done[0]}); err != nil || st != Failed || again.String() != out.String() {
		t.Errorf("following an ended job: %v, %s, %q", err, st, again.String())
	}
}

// A job still starting whose lock another process holds (a waiter that has
// it, a second waiter racing for it) is not claimed: Claim says ErrTaken and
// leaves the record as it was; once the lock is free, one Claim gets it.
func TestTook(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40*time.Millisecond + 400*time.Microsecond: "40ms",
		1004 * time.Millisecond:                    "1s",
		62 * time.Second:                           "1m02s",
		-time.Second:                               "0s",
	} {
		if got := Took(d); got != want {
			t.Errorf("Took(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestClaimRefusesAJobAnotherProcessHolds(t *testing.T) {
	state, j := newJob(t)
	other := flock.New(j.LockPath(), flock.SetFlag(os.O_RDONLY))
	if ok, err := other.TryLock(); !ok || err != nil {
		t.Fatalf("taking the job's lock as another waiter: %v %v", ok, err)
	}
	if c, err := Claim(context.Background(), state, j.ID, 1); !errors.Is(err, ErrTaken) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Claim of a job another process holds: %v, want ErrTaken", err)
	}
	if got, err := Load(state, j.ID); err != nil || got.Recorded != Starting || got.WaiterPID != 0 {
		t.Fatalf("after the refused Claim the record is %s (waiter pid %d), %v; want it untouched (starting)", got.Recorded, got.WaiterPID, err)
	}
	if err := other.Unlock(); err != nil {
		t.Fatal(err)
	}
	c, err := Claim(context.Background(), state, j.ID, 2)
	if err != nil {
		t.Fatalf("Claim once the lock is free: %v", err)
	}
	defer c.Close()
	if c.Job.State != Waiting || c.Job.WaiterPID != 2 {
		t.Fatalf("claimed job is %s with waiter pid %d, want waiting with 2", c.Job.State, c.Job.WaiterPID)
	}
}

func TestKilledWaiterIsOrphanedAndNeverRerun(t *testing.T) {
	state, j := newJob(t)
	pid, err := startFake(t, state, j, "hold")
	if err != nil {
		t.Fatal(err)
	}
	if st := loadState(t, state, j.ID); st != Waiting {
		t.Fatalf("state with a live waiter = %s", st)
	}
	got, _ := Load(state, j.ID)
	if got.WaiterPID != pid {
		t.Errorf("recorded waiter pid %d, started %d", got.WaiterPID, pid)
	}
	var done []Job
	f := &Follower{Done: func(j Job) { done = append(done, j) }}
	followed := make(chan error, 1)
	go func() {
		_, err := f.Follow(context.Background(), []Job{got})
		followed <- err
	}()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not notice the waiter's death")
	}
	if len(done) != 1 || done[0].State != Orphaned || done[0].Recorded != Waiting {
		t.Fatalf("Done got %+v", done)
	}
	if st := loadState(t, state, j.ID); st != Orphaned {
		t.Fatalf("state after SIGKILL = %s", st)
	}
	list, err := List(state)
	if err != nil || len(list) != 1 || list[0].State != Orphaned {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := Claim(context.Background(), state, j.ID, 1); !errors.Is(err, ErrNotStarting) {
		t.Fatalf("Claim of an orphaned job: %v, want ErrNotStarting", err)
	}
}

// A waiter killed while its hook runs leaves a job recorded running: it is
// reported orphaned (outcome unknown), by Load, List and Follow alike.
func TestWaiterKilledWhileRunningIsOrphaned(t *testing.T) {
	state, j := newJob(t)
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	pid, err := startFake(t, state, j, "run", "JOBS_TEST_GATE="+gate)
	if err != nil {
		t.Fatal(err)
	}
	// The fake records running, then blocks on the gate nobody opens.
	deadline := time.Now().Add(20 * time.Second)
	for loadState(t, state, j.ID) != Running {
		if time.Now().After(deadline) {
			t.Fatalf("the job never got to running: %s", loadState(t, state, j.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	running, _ := Load(state, j.ID)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var done []Job
	f := &Follower{Done: func(j Job) { done = append(done, j) }}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := f.Follow(ctx, []Job{running}); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if len(done) != 1 || done[0].State != Orphaned || done[0].Recorded != Running {
		t.Fatalf("Done got %+v, want orphaned, recorded running", done)
	}
	if st := loadState(t, state, j.ID); st != Orphaned {
		t.Fatalf("Load after SIGKILL = %s, want orphaned", st)
	}
	if list, err := List(state); err != nil || len(list) != 1 || list[0].State != Orphaned {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestWaiterThatDiesBeforePickingUpIsReported(t *testing.T) {
	state, j := newJob(t)
	_, err := startFake(t, state, j, "die")
	if err == nil || !strings.Contains(err.Error(), "giving up before picking the job up") {
		t.Fatalf("StartWaiter = %v, want the waiter's last words", err)
	}
	ok, err := Abandon(state, j.ID, "the waiter did not start")
	if !ok || err != nil {
		t.Fatalf("Abandon = %v, %v", ok, err)
	}
	got, _ := Load(state, j.ID)
	if got.State != Failed || got.Error != "the waiter did not start" || got.Ended == nil {
		t.Fatalf("abandoned job = %+v", got)
	}
	if ok, _ := Abandon(state, j.ID, "again"); ok {
		t.Error("Abandon changed a job that is no longer starting")
	}
}

func TestWaiterInheritsNoOtherDescriptor(t *testing.T) {
	state, j := newJob(t)
	// A leaky parent's pipe, inherited without close-on-exec.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETFD, 0); e != 0 {
		t.Fatal(e)
	}
	if _, err := startFake(t, state, j, "fds"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter holds the parent's pipe: a reader never sees end-of-file")
	}
	log, _ := os.ReadFile(j.LogPath())
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "fd" && strings.HasPrefix(f[2], "pipe:") && f[1] != "3" {
			t.Errorf("the waiter has a pipe it was not given: %s", line)
		}
	}
	if !strings.Contains(string(log), "fd 0 /dev/null") {
		t.Errorf("the waiter's stdin is not /dev/null:\n%s", log)
	}
}

func TestCorruptRecordIsReportedNotRun(t *testing.T) {
	state, j := newJob(t)
	if err := os.WriteFile(j.RecordPath(), []byte("{\"version\": 1, \"id\": "), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(state, j.ID)
	var ce *CorruptError
	if !errors.As(err, &ce) || got.State != Corrupt || got.LogPath() != j.LogPath() {
		t.Fatalf("Load of a corrupt record = %+v, %v", got, err)
	}
	list, err := List(state)
	if err != nil || len(list) != 1 || list[0].State != Corrupt || list[0].Problem == "" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := Claim(context.Background(), state, j.ID, 1); !errors.As(err, &ce) {
		t.Fatalf("Claim of a corrupt job: %v", err)
	}
	if _, err := Load(state, "20260101-000000-00000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a missing job: %v", err)
	}
	if _, err := Load(state, "../../etc"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Load accepted a path as a job id: %v", err)
	}
}

func TestStartingJobTurnsOrphanedWhenNobodyPicksItUp(t *testing.T) {
	state, j := newJob(t)
	if st := loadState(t, state, j.ID); st != Starting {
		t.Fatalf("fresh job = %s", st)
	}
	j.Created = time.Now().Add(-2 * StartTimeout)
	if err := save(j); err != nil {
		t.Fatal(err)
	}
	if st := loadState(t, state, j.ID); st != Orphaned {
		t.Fatalf("overdue job = %s", st)
	}
}

func TestListOrdersPendingFirst(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	var ids []string
	for i, st := range []State{Succeeded, Starting, Failed} {
		now := time.Now().UTC().Add(time.Duration(i) * time.Second)
		j, err := Create(state, Job{Hook: "post-deploy", Created: now, Deadline: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		j.State = st
		if err := save(j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	if err := os.Mkdir(filepath.Join(state, "jobs", "not a job"), 0o700); err != nil {
		t.Fatal(err)
	}
	list, err := List(state)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range list {
		got = append(got, j.ID)
	}
	want := []string{ids[1], ids[0], ids[2]}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List order %v, want %v", got, want)
	}
	if l, err := List(filepath.Join(t.TempDir(), "none")); err != nil || l != nil {
		t.Errorf("List of a missing state dir = %v, %v", l, err)
	}
}

func TestMarkReported(t *testing.T) {
	state, j := newJob(t)
	if err := MarkReported(j); err != nil {
		t.Fatal(err)
	}
	if err := MarkReported(j); err != nil {
		t.Fatal(err)
	}
	got, _ := Load(state, j.ID)
	if !got.Reported {
		t.Error("not reported")
	}
	if fi, err := os.Stat(filepath.Join(j.Dir, ReportedFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("reported marker: %v %v", fi, err)
	}
}

func TestWaitGone(t *testing.T) {
	home := t.TempDir()
	lock := filepath.Join(home, ".kamal", "lock-app")
	if err := os.MkdirAll(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	// Still there: only ctx ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := WaitGone(ctx, lock); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitGone on a present lock = %v", err)
	}
	// Removed while watched: returns. The removal comes only once the watch
	// is armed, so this is the event path, not the look before it.
	done := watchArmed(t, lock)
	if err := os.WriteFile(filepath.Join(lock, "details"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(lock); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitGone did not notice the removal")
	}
	// Missing, and missing parent: at once.
	if err := WaitGone(context.Background(), lock); err != nil {
		t.Fatal(err)
	}
	if err := WaitGone(context.Background(), filepath.Join(home, "nope", "lock-app")); err != nil {
		t.Fatal(err)
	}
	// Parent removed with it.
	if err := os.MkdirAll(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	done = watchArmed(t, lock)
	if err := os.RemoveAll(filepath.Join(home, ".kamal")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitGone did not notice the parent's removal")
	}
}

// watchArmed starts WaitGoneArmed on path and returns once its watch is
// armed, with the channel its result comes on.
func watchArmed(t *testing.T, path string) <-chan error {
	t.Helper()
	armed := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- WaitGoneArmed(context.Background(), path, func() { close(armed) }) }()
	select {
	case <-armed:
	case err := <-done:
		t.Fatalf("WaitGoneArmed(%s) returned %v before its watch was armed, with the path still there", path, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("WaitGoneArmed(%s) never armed its watch", path)
	}
	return done
}

func TestGone(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"dangling": false, "missing": true, "": false} {
		got, err := Gone(filepath.Join(dir, name))
		if got != want || err != nil {
			t.Errorf("Gone(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	file := filepath.Join(dir, "file")
	_ = os.WriteFile(file, nil, 0o600)
	if got, err := Gone(filepath.Join(file, "x")); !got || err != nil {
		t.Errorf("Gone under a file = %v, %v", got, err)
	}
}
