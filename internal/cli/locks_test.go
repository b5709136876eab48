package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/jobs"
	"github.com/hookshim/hookshim/lockfile"
)

// gateStore is a lock store whose Scan reports that it started and then
// blocks until released (or its context ends), counting how many scans run
// at once.
type gateStore struct {
	lockfile.Store // only Where and Scan are used
	name           string
	entered        chan<- string
	release        <-chan struct{}
	mu             *sync.Mutex
	active         *int
	most           *int
}

func (s gateStore) Where() string { return s.name }

func (s gateStore) Scan(ctx context.Context, runDirs ...string) ([]lockfile.Lock, error) {
	s.mu.Lock()
	*s.active++
	*s.most = max(*s.most, *s.active)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		*s.active--
		s.mu.Unlock()
	}()
	s.entered <- s.name
	select {
	case <-s.release:
		return []lockfile.Lock{{Path: ".kamal/lock-" + s.name, State: lockfile.NoDetails}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func gateTargets(n int, entered chan<- string, release <-chan struct{}) (targets []locksTarget, most func() int) {
	var mu sync.Mutex
	active, peak := 0, 0
	for i := range n {
		name := fmt.Sprintf("h%d", i)
		targets = append(targets, locksTarget{
			target: lockreport.Target{Name: name, Transport: lockreport.TransportSSH, Address: name},
			store:  gateStore{name: name, entered: entered, release: release, mu: &mu, active: &active, most: &peak},
		})
	}
	return targets, func() int { mu.Lock(); defer mu.Unlock(); return peak }
}

func waitEntered(t *testing.T, entered <-chan string, n int) {
	t.Helper()
	for range n {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("hosts are not read in parallel: a scan did not start")
		}
	}
}

// Every host is read at the same time when the bound allows: all scans are
// in flight before any of them is let go.
func TestScanTargetsParallel(t *testing.T) {
	const n = 20
	entered, release := make(chan string, n), make(chan struct{})
	targets, most := gateTargets(n, entered, release)
	done := make(chan []lockreport.Result)
	go func() {
		done <- scanTargets(context.Background(), zerolog.Nop(), targets, locksOptions{parallel: n, timeout: time.Minute})
	}()
	waitEntered(t, entered, n)
	close(release)
	results := <-done
	if most() != n {
		t.Errorf("%d scans at once, want %d", most(), n)
	}
	for i, r := range results {
		if r.Err != nil || r.Target.Name != fmt.Sprintf("h%d", i) || len(r.Locks) != 1 {
			t.Errorf("result %d = %+v, want host h%d with one lock, in the order given", i, r, i)
		}
	}
}

// --parallel bounds how many hosts are read at once.
func TestScanTargetsBound(t *testing.T) {
	const n, bound = 7, 3
	entered, release := make(chan string, n), make(chan struct{})
	targets, most := gateTargets(n, entered, release)
	done := make(chan []lockreport.Result)
	go func() {
		done <- scanTargets(context.Background(), zerolog.Nop(), targets, locksOptions{parallel: bound, timeout: time.Minute})
	}()
	waitEntered(t, entered, bound)
	for range n - bound {
		release <- struct{}{} // let one finish, and the next one start
		waitEntered(t, entered, 1)
	}
	for range bound {
		release <- struct{}{}
	}
	<-done
	if most() != bound {
		t.Errorf("%d scans at once, want at most (and at some point exactly) %d", most(), bound)
	}
}

// A host that does not answer within --timeout is a result with an error
// saying so; the others are still read.
func TestScanTargetsTimeout(t *testing.T) {
	entered := make(chan string, 2)
	never := make(chan struct{})
	targets, _ := gateTargets(1, entered, never)
	targets = append(targets, locksTarget{
		target: lockreport.Target{Name: "quick", Address: "quick"},
		store:  errStore{err: errors.New("permission denied")},
	})
	results := scanTargets(context.Background(), zerolog.Nop(), targets, locksOptions{parallel: 4, timeout: 50 * time.Millisecond})
	if err := results[0].Err; err == nil || err.Error() != "no answer from h0 within 50ms (--timeout)" {
		t.Errorf("timed-out host: err = %v", err)
	}
	if err := results[1].Err; err == nil || err.Error() != "permission denied" {
		t.Errorf("failing host: err = %v", err)
	}
}

type errStore struct {
	gateStore
	err error
}

func (s errStore) Scan(context.Context, ...string) ([]lockfile.Lock, error) { return nil, s.err }

func runMain(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(Process{
		Args:   append([]string{"hookshim"}, args...),
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errOut,
		Env:    env,
		Dir:    t.TempDir(),
	})
	return out.String(), errOut.String(), code
}

// The example tree shipped for the README shows every state.
func TestLocksExampleTree(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "examples", "host"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runMain(t, []string{"HOME=" + t.TempDir()}, "locks", "--root", root, "--now", "2026-11-27T07:00:00Z", "--wide")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		`(?m)^local +\.kamal/lock-app +Ana Lima .* Automatic deploy lock +held$`,
		`(?m)^local +\.kamal/lock-app-staging +Bruno Costa .* manual$`,
		`(?m)^local +\.kamal/lock-api +CI Bot .* hookshim post-deploy hold 3f9c2a7b1e4d5f6a7b8c9d0e by deploy@ci-runner-7 pid 48213 +hookshim-hold$`,
		`(?m)^local +\.kamal/lock-worker +CI Bot +2026-11-20T03:12:45Z .* hookshim post-deploy hold 9a1b8c7d6e5f4a3b2c1d0e9f by deploy@ci-runner-3 pid 1999 +hookshim-hold, stale$`,
		`(?m)^local +\.kamal/locks/legacy +Carla Dias .* held$`,
		`(?m)^local +\.kamal/lock-cron +- .* lock directory has no details file +no-details$`,
		`(?m)^local +\.kamal/lock-broken +- .* details file is not base64: .* unreadable$`,
		`(?m)^1 host, 7 locks \(1 stale\), 0 unreachable$`,
	} {
		if !regexpMatch(want, stdout) {
			t.Errorf("no line matching %s in:\n%s", want, stdout)
		}
	}
}

// This machine's deferred jobs, from the state directory the Process's HOME
// names, are shown after the locks, in the table and in the JSON; an error
// listing them is exit status 74, and the locks are still shown.
func TestLocksDeferredJobs(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, ".local", "state", "hookshim")
	since := time.Date(2026, 11, 27, 6, 58, 0, 0, time.UTC)
	j, err := jobs.Create(state, jobs.Job{Hook: "post-deploy", RepoDir: "/src/app", Service: "app",
		Lock: jobs.LockRef{Host: "web1", Path: ".kamal/lock-app"}, Policy: "auto", RunPolicy: "hold",
		Created: since, Deadline: since.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + root}
	stdout, stderr, code := runMain(t, env, "locks", "--root", root, "--now", "2026-11-27T07:00:00Z")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		`(?m)^JOB +HOOK +STATE +SINCE +AGE +LOCK +ERROR$`,
		// Recorded as starting days ago, and no waiter holds it: orphaned,
		// and ERROR says so (cut to fit 120 columns).
		`(?m)^` + regexp.QuoteMeta(j.ID) + ` +post-deploy +orphaned +2026-11-27T06:58:00Z +2m00s +web1:\.kamal/lock-app +its waiter never.*…$`,
		`(?m)^1 host, 0 locks, 0 unreachable, 1 deferred job$`,
	} {
		if !regexpMatch(want, stdout) {
			t.Errorf("no line matching %s in:\n%s", want, stdout)
		}
	}
	// --wide adds the repository and the log.
	stdout, _, _ = runMain(t, env, "locks", "--root", root, "--now", "2026-11-27T07:00:00Z", "--wide")
	if want := `(?m)^` + regexp.QuoteMeta(j.ID) + ` +post-deploy +orphaned +2026-11-27T06:58:00Z +2m00s +web1:\.kamal/lock-app +/src/app +` + regexp.QuoteMeta(j.LogPath()) + ` +its waiter never picked it up within 10s \(it died, or never started\): the hook was not run$`; !regexpMatch(want, stdout) {
		t.Errorf("--wide: no line matching %s in:\n%s", want, stdout)
	}

	stdout, _, code = runMain(t, env, "locks", "--root", root, "--json", "--now", "2026-11-27T07:00:00Z")
	var doc struct {
		Jobs []map[string]any `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	if len(doc.Jobs) != 1 || doc.Jobs[0]["id"] != j.ID || doc.Jobs[0]["age_seconds"] != 120.0 || doc.Jobs[0]["log"] != j.LogPath() ||
		doc.Jobs[0]["error"] != "its waiter never picked it up within 10s (it died, or never started): the hook was not run" {
		t.Errorf("jobs = %v", doc.Jobs)
	}

	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runMain(t, env, "locks", "--root", root)
	if code != 74 || !strings.Contains(stdout, "deferred jobs: cannot list them: deferred jobs: "+state+" is not a directory") ||
		!strings.Contains(stderr, "hookshim: error: cannot list the deferred jobs: deferred jobs: "+state+" is not a directory") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// With no state directory, the JSON still has an empty jobs array.
func TestLocksNoJobs(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ".kamal", "lock-app"), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runMain(t, []string{"HOME=" + root}, "locks", "--json")
	if code != 0 || stderr != "" || !strings.Contains(stdout, `"jobs": [],`) || !strings.Contains(stdout, `"state": "no-details"`) {
		t.Errorf("exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
