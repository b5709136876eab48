package jobs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestMain lets the test binary stand in for the processes the tests need:
//
//   - named "hookshim" (a link in an sshd host's PATH): `hookshim watch
//     --until-eof --timeout D -- PATH`, the part of hookshim a host runs;
//   - with JOBS_TEST_WAITER=MODE: a job's waiter (see fakeWaiter).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "hookshim" {
		os.Exit(fakeWatch(os.Args[1:]))
	}
	if mode := os.Getenv("JOBS_TEST_WAITER"); mode != "" {
		os.Exit(fakeWaiter(mode))
	}
	os.Exit(m.Run())
}

// fakeWatch is `hookshim watch` as RemoteWatch calls it.
func fakeWatch(args []string) int {
	if len(args) != 6 || args[0] != "watch" || args[1] != "--until-eof" || args[2] != "--timeout" || args[4] != "--" {
		fmt.Fprintf(os.Stderr, "fake hookshim: unexpected arguments %q\n", args)
		return 64
	}
	timeout, err := time.ParseDuration(args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 64
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		b := make([]byte, 1)
		for {
			if _, err := os.Stdin.Read(b); err != nil {
				cancel()
				return
			}
		}
	}()
	// Tests learn from files in the host's home when the watch is armed and
	// when it has ended.
	home := os.Getenv("HOME")
	defer os.WriteFile(filepath.Join(home, "watch.ended"), nil, 0o600)
	err = WaitGoneArmed(ctx, args[5], func() { _ = os.WriteFile(filepath.Join(home, "watch.armed"), nil, 0o600) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return WatchStatusTimeout
	}
	fmt.Println("gone")
	return 0
}

// waitFile blocks until path exists, learning of it from file system events.
func waitFile(t *testing.T, path string) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-w.Events:
		case err := <-w.Errors:
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("%s never appeared", path)
		}
	}
}

// fakeWaiter is a job's waiter as hookshim's is, minus the hook: it claims
// the job (JOBS_TEST_STATE, JOBS_TEST_ID), says ready on ReadyFD, then:
//
//	hold   holds the job until killed
//	run    writes "line 1" to its log, records running, waits for a line on
//	       the fifo JOBS_TEST_GATE, writes "line 2", records exit status
//	       JOBS_TEST_STATUS and where its report starts, writes the report
//	       ("report: ...") and exits
//	die    exits 3 without claiming: never ready
//	fds    writes the descriptors it has to its log, then holds like hold
func fakeWaiter(mode string) int {
	if mode == "die" {
		fmt.Println("fake waiter: giving up before picking the job up")
		return 3
	}
	cl, err := Claim(context.Background(), os.Getenv("JOBS_TEST_STATE"), os.Getenv("JOBS_TEST_ID"), os.Getpid())
	if err != nil {
		fmt.Println("fake waiter:", err)
		CloseReadyFD(ReadyFD)
		return 75
	}
	if mode == "fds" {
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
			fmt.Printf("fd %s %s\n", e.Name(), target)
		}
	}
	if err := Ready(ReadyFD); err != nil {
		fmt.Println("fake waiter:", err)
		return 70
	}
	switch mode {
	case "hold", "fds":
		select {}
	case "run":
		fmt.Println("line 1")
		now := time.Now().UTC()
		if err := cl.Update(func(j *Job) { j.State, j.Started = Running, &now }); err != nil {
			fmt.Println(err)
			return 74
		}
		gate, err := os.Open(os.Getenv("JOBS_TEST_GATE"))
		if err != nil {
			fmt.Println(err)
			return 74
		}
		_, _ = bufio.NewReader(gate).ReadString('\n')
		fmt.Println("line 2")
		status := 0
		fmt.Sscan(os.Getenv("JOBS_TEST_STATUS"), &status)
		end := time.Now().UTC()
		st := Succeeded
		if status != 0 {
			st = Failed
		}
		// As RunDeferred: where its report starts is recorded, then the report.
		from := logSize(cl.Job)
		if err := cl.Update(func(j *Job) { j.State, j.ExitStatus, j.Ended, j.ReportFrom = st, &status, &end, from }); err != nil {
			fmt.Println(err)
			return 74
		}
		fmt.Println("report: the job ended")
		return status
	}
	return 64
}

// newJob records a job in a fresh state dir.
func newJob(t *testing.T) (string, Job) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	now := time.Now().UTC()
	j, err := Create(state, Job{
		Hook: "post-deploy", RepoDir: "/repo", Service: "app",
		Lock:   LockRef{Host: "web1", Path: ".kamal/lock-app"},
		Policy: "defer", RunPolicy: "hold",
		Created: now, Deadline: now.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return state, j
}

// startFake starts the fake waiter for j the way hookshim run starts its own.
func startFake(t *testing.T, state string, j Job, mode string, extra ...string) (int, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "JOBS_TEST_WAITER="+mode, "JOBS_TEST_STATE="+state, "JOBS_TEST_ID="+j.ID)
	pid, err := StartWaiter(j, Waiter{Path: exe, Args: []string{"jobs.test"}, Env: append(env, extra...), Dir: "/"}, 10*time.Second)
	if pid > 0 {
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	return pid, err
}

// loadState loads j and returns its derived state.
func loadState(t *testing.T, state, id string) State {
	t.Helper()
	j, err := Load(state, id)
	if err != nil {
		t.Fatal(err)
	}
	return j.State
}
