package shim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// syncBuffer is a log sink that tests can read while the runner writes.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lines != nil {
		for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			select {
			case b.lines <- l:
			default:
			}
		}
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	home   string
	store  lockfile.Store
	log    *syncBuffer
	stdout *syncBuffer
	r      *Runner
}

const lockPath = ".kamal/lock-app"

func newFixture(t *testing.T, policy Policy, script string) *fixture {
	t.Helper()
	home := t.TempDir()
	hook := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fixture{home: home, store: lockfile.Local{Root: home}, log: &syncBuffer{lines: make(chan string, 64)}, stdout: &syncBuffer{}}
	f.r = &Runner{
		Hook:    "post-deploy",
		Steps:   []Step{{Path: hook}},
		Policy:  policy,
		Poll:    10 * time.Millisecond,
		Spec:    lockfile.Spec{Service: "app"},
		Layouts: []lockfile.Layout{lockfile.LayoutKamal2},
		Store:   f.store,
		Kamal:   KamalEnv{Command: "deploy", Version: "v1", Lock: "false", CallerLock: "false", Under: true},
		GitUser: tester,
		Exec:    Exec{Stdout: f.stdout, Stderr: f.stdout},
		Env:     []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LOCKDIR=" + filepath.Join(home, lockPath)},
		Log:     zerolog.New(zerolog.ConsoleWriter{Out: f.log, NoColor: true, PartsOrder: []string{"message"}}),
		User:    "ci", Hostname: "runner", PID: 99,
	}
	return f
}

func (f *fixture) takeAs(t *testing.T, by, message string) {
	t.Helper()
	d := lockfile.Details{LockedBy: by, At: time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Second), Version: "v0", Message: message}
	if err := f.store.Acquire(context.Background(), lockPath, d); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) lockState(t *testing.T) lockfile.Lock {
	t.Helper()
	ls, err := f.store.Read(context.Background(), lockPath)
	if err != nil {
		t.Fatal(err)
	}
	return ls[0]
}

func TestHoldTakesRunsReleases(t *testing.T) {
	f := newFixture(t, Hold, `
test -d "$LOCKDIR" || { echo "lock not held while the hook runs"; exit 9; }
echo "KAMAL_LOCK=$KAMAL_LOCK"
echo "TOKEN=$HOOKSHIM_LOCK_TOKEN"
echo "HOLDER=$HOOKSHIM_LOCK_HOLDER"
echo "LOCK=$HOOKSHIM_LOCK"
base64 -d < "$LOCKDIR/details"; echo
`)
	if err := f.r.Run(context.Background()); err != nil {
		t.Fatalf("run: %v\n%s", err, f.stdout)
	}
	out := f.stdout.String()
	for _, want := range []string{"KAMAL_LOCK=true", "HOLDER=Hookshim Tester", "LOCK=local:" + f.home + "/.kamal/lock-app", "Message: Automatic deploy lock (hookshim post-deploy hold ", " by ci@runner pid 99", "Version: v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("hook output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "TOKEN=") || strings.Contains(out, "TOKEN=\n") {
		t.Errorf("hook did not get its token:\n%s", out)
	}
	if l := f.lockState(t); l.State != lockfile.Free {
		t.Fatalf("lock left behind: %+v", l)
	}
	if !strings.Contains(f.log.String(), "is free; took it for the hook (policy hold)") {
		t.Errorf("decision line missing:\n%s", f.log)
	}
}

func TestHoldPassesFailureThroughAndReleases(t *testing.T) {
	f := newFixture(t, Hold, "exit 7\n")
	err := f.r.Run(context.Background())
	if exitcode.Code(err) != 7 {
		t.Fatalf("status %d (%v), want the hook's 7", exitcode.Code(err), err)
	}
	if l := f.lockState(t); l.State != lockfile.Free {
		t.Fatalf("lock left behind after a failing hook: %+v", l)
	}
}

func TestStrictRefusesNamingTheHolder(t *testing.T) {
	f := newFixture(t, Strict, "echo ran\n")
	f.takeAs(t, "Anna Schmidt", "migrating by hand")
	err := f.r.Run(context.Background())
	if exitcode.Code(err) != exitcode.Conflict {
		t.Fatalf("status %d, want 75: %v", exitcode.Code(err), err)
	}
	var buf bytes.Buffer
	exitcode.Report(&buf, err)
	msg := buf.String()
	for _, want := range []string{"post-deploy: refused: lock .kamal/lock-app", "held by Anna Schmidt since ", "(3m0", "version v0", `message "migrating by hand"`, "a manual lock", "--policy defer", "--wait 5m", "kamal lock release"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(f.stdout.String(), "ran") {
		t.Fatal("hook ran despite the refusal")
	}
	f.r.ConflictExitCode = 3
	if err := f.r.Run(context.Background()); exitcode.Code(err) != 3 {
		t.Fatalf("--conflict-exit-code ignored: %d", exitcode.Code(err))
	}
}

func TestUnknownHolderIsRefusedNotRun(t *testing.T) {
	f := newFixture(t, Auto, "echo ran\n")
	if err := os.MkdirAll(filepath.Join(f.home, lockPath), 0o755); err != nil {
		t.Fatal(err)
	}
	err := f.r.Run(context.Background())
	var buf bytes.Buffer
	exitcode.Report(&buf, err)
	if exitcode.Code(err) != exitcode.Conflict || !strings.Contains(buf.String(), "an unknown holder") || !strings.Contains(buf.String(), "no details file") {
		t.Fatalf("got %d:\n%s", exitcode.Code(err), buf.String())
	}
}

// With --wait, a hold waits out someone else's lock and then takes it.
func TestHoldWaitsThenTakes(t *testing.T) {
	f := newFixture(t, Hold, `base64 -d < "$LOCKDIR/details" | grep -q "hookshim post-deploy hold" && echo held-by-hookshim`)
	f.takeAs(t, "Other Deployer", lockfile.AutomaticMessage)
	f.r.Wait = time.Minute
	done := make(chan error, 1)
	go func() { done <- f.r.Run(context.Background()) }()
	for line := range f.log.lines {
		if strings.Contains(line, "waiting up to 1m0s") {
			break
		}
	}
	// The other deploy finishes: Kamal's own release.
	if err := os.RemoveAll(filepath.Join(f.home, lockPath)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, f.log)
	}
	if !strings.Contains(f.stdout.String(), "held-by-hookshim") {
		t.Fatalf("hook did not run under hookshim's hold:\n%s", f.stdout)
	}
	if f.lockState(t).State != lockfile.Free {
		t.Fatal("lock left behind")
	}
}

// A lock that becomes ours while the hook waits for it (here: the enclosing
// hookshim's hold, named by HOOKSHIM_LOCK_TOKEN, replaces the other holder's
// details) ends the wait at once: the hook runs inside it, without taking it.
func TestWaitEndsWhenTheLockBecomesOurs(t *testing.T) {
	f := newFixture(t, Auto, `echo "ran KAMAL_LOCK=$KAMAL_LOCK token=$HOOKSHIM_LOCK_TOKEN"`)
	f.takeAs(t, "Other Deployer", "db maintenance")
	token := lockfile.NewToken()
	f.r.Kamal = KamalEnv{Token: token}
	f.r.Wait = 10 * time.Minute
	f.r.WaitManual = true // the lock taken above is a manual one
	done := make(chan error, 1)
	go func() { done <- f.r.Run(context.Background()) }()
	for line := range f.log.lines {
		if strings.Contains(line, "still held") {
			break
		}
	}
	// The details change in one rename: the lock is never seen free.
	hold := lockfile.Hold{Hook: "post-deploy", Token: token, User: "ci", Host: "runner", PID: 1}
	d := lockfile.Details{LockedBy: tester(), At: time.Now().UTC().Truncate(time.Second), Version: "v1", Message: hold.Message()}
	tmp := filepath.Join(f.home, lockPath, "details.new")
	if err := os.WriteFile(tmp, d.FileContent(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(f.home, lockPath, "details")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, f.log)
		}
	case <-time.After(time.Minute):
		t.Fatalf("still waiting for a lock that is ours:\n%s", f.log)
	}
	if want := "ran KAMAL_LOCK=true token=" + token; !strings.Contains(f.stdout.String(), want) {
		t.Fatalf("hook output %q, want %q", f.stdout, want)
	}
	if l := f.lockState(t); l.State != lockfile.Held || l.Details.Message != hold.Message() {
		t.Fatalf("the enclosing hold was touched: %+v", l)
	}
}

// --wait refuses a manual lock at once, as Kamal 2.12's --lock-wait does, and
// says how to wait for it anyway; it waits for an automatic one.
func TestWaitRefusesManualLock(t *testing.T) {
	f := newFixture(t, Auto, "echo ran\n")
	f.takeAs(t, "Other Deployer", "db maintenance")
	f.r.Wait = 2 * time.Second // bounds the test if it did wait
	err := f.r.Run(context.Background())
	if code := exitcode.Code(err); code != exitcode.Conflict || !strings.Contains(err.Error(), "it is a manual lock") {
		t.Fatalf("got %d %v\n%s", code, err, f.log)
	}
	if strings.Contains(f.log.String(), "waiting up to") || strings.Contains(f.stdout.String(), "ran") {
		t.Fatalf("waited for a manual lock, or ran the hook:\n%s", f.log)
	}
	var report strings.Builder
	exitcode.Report(&report, err)
	if !strings.Contains(report.String(), "--wait-manual") {
		t.Errorf("no hint naming --wait-manual:\n%s", report.String())
	}
}

func TestWaitTimesOutWithRefusal(t *testing.T) {
	f := newFixture(t, Auto, "echo ran\n")
	f.takeAs(t, "Other", lockfile.AutomaticMessage)
	f.r.Wait = 50 * time.Millisecond
	err := f.r.Run(context.Background())
	if exitcode.Code(err) != exitcode.Conflict || strings.Contains(f.stdout.String(), "ran") {
		t.Fatalf("got %v, output %q", err, f.stdout)
	}
}

// A lock stolen while the hook runs is left alone, with a warning saying who has it.
func TestHoldLeavesAStolenLockAlone(t *testing.T) {
	thief := lockfile.Details{LockedBy: "Thief", At: time.Now().UTC().Truncate(time.Second), Version: "v9", Message: "mine now"}
	f := newFixture(t, Hold, `rm -r "$LOCKDIR" && mkdir "$LOCKDIR" && printf '%s' "$THIEF" > "$LOCKDIR/details"`)
	f.r.Env = append(f.r.Env, "THIEF="+string(thief.FileContent()))
	if err := f.r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := f.lockState(t)
	if l.State != lockfile.Held || l.Details.LockedBy != "Thief" {
		t.Fatalf("the thief's lock was touched: %+v", l)
	}
	if !strings.Contains(f.log.String(), "was taken over while the hook ran (now held by Thief") {
		t.Fatalf("no warning:\n%s", f.log)
	}
}

// SIGTERM during a held hook reaches the hook's process group, and the lock is released.
func TestSignalDuringHoldReleases(t *testing.T) {
	f := newFixture(t, Hold, "echo ready\nsleep 60 &\nwait\n")
	pr, pw := io.Pipe()
	f.r.Exec.Stdout = pw
	sigs := make(chan os.Signal, 1)
	f.r.Exec.Signals = sigs
	done := make(chan error, 1)
	go func() { done <- f.r.Run(context.Background()); pw.Close() }()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("hook did not start: %q", sc.Text())
	}
	sigs <- syscall.SIGTERM
	go io.Copy(io.Discard, pr)
	err := <-done
	if exitcode.Code(err) != 128+int(syscall.SIGTERM) {
		t.Fatalf("status %d (%v), want 143", exitcode.Code(err), err)
	}
	if f.lockState(t).State != lockfile.Free {
		t.Fatal("SIGTERM left the lock behind")
	}
}

// A hook that handles SIGTERM by exiting 0 was still interrupted: 143, not
// success. A hook that ignores SIGTERM is killed by the second one (SIGKILL to
// its process group): 137. Either way the hold is released.
func TestSignalToAHookThatHandlesIt(t *testing.T) {
	for _, tc := range []struct {
		name, trap string
		signals    int
		want       int
	}{
		{"exits-0-on-sigterm", `trap 'exit 0' TERM`, 1, 128 + int(syscall.SIGTERM)},
		{"ignores-sigterm", `trap '' TERM`, 2, 128 + int(syscall.SIGKILL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The sleep is started before "ready", so the signals find it in
			// the hook's group, and holds no output pipe open.
			f := newFixture(t, Hold, tc.trap+"\nsleep 600 >/dev/null 2>&1 &\necho ready\nwait\n")
			pr, pw := io.Pipe()
			f.r.Exec.Stdout = pw
			sigs := make(chan os.Signal) // unbuffered: each send is taken before the next
			f.r.Exec.Signals = sigs
			done := make(chan error, 1)
			go func() { done <- f.r.Run(context.Background()); pw.Close() }()
			sc := bufio.NewScanner(pr)
			if !sc.Scan() || sc.Text() != "ready" {
				t.Fatalf("hook did not start: %q", sc.Text())
			}
			go io.Copy(io.Discard, pr)
			for range tc.signals {
				sigs <- syscall.SIGTERM
			}
			select {
			case err := <-done:
				if exitcode.Code(err) != tc.want {
					t.Fatalf("status %d (%v), want %d", exitcode.Code(err), err, tc.want)
				}
			case <-time.After(time.Minute):
				t.Fatal("the hook outlived the signals meant to end it")
			}
			if f.lockState(t).State != lockfile.Free {
				t.Fatal("the lock was left behind")
			}
		})
	}
}

// The identity the hook is given: when the lock is not ours, KAMAL_LOCK stays
// as Kamal set it (false here) and no HOOKSHIM_LOCK_* is passed; when it is,
// KAMAL_LOCK=true and the holder's details, each on one line.
func TestHookIdentityEnv(t *testing.T) {
	script := `echo "KAMAL_LOCK=${KAMAL_LOCK-unset} HOLDER=${HOOKSHIM_LOCK_HOLDER-unset} MESSAGE=${HOOKSHIM_LOCK_MESSAGE-unset}"` + "\n"
	t.Run("free", func(t *testing.T) {
		f := newFixture(t, Auto, script)
		f.r.Kamal = KamalEnv{Command: "deploy", Version: "v1", Lock: "false", CallerLock: "false", Under: true}
		f.r.Env = append(f.r.Env, "KAMAL_LOCK=false", EnvLockHolder+"=Stale Outer Holder")
		if err := f.r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if want := "KAMAL_LOCK=false HOLDER=unset MESSAGE=unset\n"; f.stdout.String() != want {
			t.Fatalf("hook saw %q, want %q", f.stdout, want)
		}
	})
	t.Run("ours", func(t *testing.T) {
		f := newFixture(t, Auto, script)
		f.takeAs(t, "Kai Kamal", "line one\nline two")
		f.r.Kamal = KamalEnv{Command: "deploy", Version: "v1", Lock: "true", CallerLock: "true", Under: true}
		f.r.Env = append(f.r.Env, "KAMAL_LOCK=true")
		if err := f.r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if want := "KAMAL_LOCK=true HOLDER=Kai Kamal MESSAGE=line one line two\n"; f.stdout.String() != want {
			t.Fatalf("hook saw %q, want %q", f.stdout, want)
		}
	})
}

func TestRecursionGuard(t *testing.T) {
	f := newFixture(t, Hold, "echo ran\n")
	f.r.FromDir, f.r.HooksDir = true, t.TempDir()
	base := f.r.Env
	// Another service's, another destination's or another directory's
	// post-deploy is not recursion.
	for i, other := range []string{
		GuardKey("post-deploy", "other", "", f.r.HooksDir),
		GuardKey("post-deploy", "app", "staging", f.r.HooksDir),
		GuardKey("post-deploy", "app", "", t.TempDir()),
	} {
		f.r.Env = append(base, EnvActiveHooks+"="+GuardKey("pre-connect", "app", "", f.r.HooksDir)+","+other)
		if err := f.r.Run(context.Background()); err != nil || strings.Count(f.stdout.String(), "ran") != i+1 {
			t.Fatalf("with %s active, not run: %v %q", other, err, f.log)
		}
	}
	ran := f.stdout.String()
	f.r.Env = append(base, EnvActiveHooks+"="+GuardKey("pre-connect", "app", "", f.r.HooksDir)+","+GuardKey("post-deploy", "app", "", f.r.HooksDir))
	if err := f.r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.stdout.String() != ran || !strings.Contains(f.log.String(), "already running in an enclosing hookshim") {
		t.Fatalf("recursion not stopped: %q %q", f.stdout, f.log)
	}
	// A `--` command is never taken for recursion.
	f.r.FromDir = false
	if err := f.r.Run(context.Background()); err != nil || f.stdout.String() == ran {
		t.Fatalf("explicit command blocked: %v", err)
	}
}

func TestDeferWithoutDeferrerRefusesClearly(t *testing.T) {
	f := newFixture(t, Defer, "echo ran\n")
	f.takeAs(t, "Other", lockfile.AutomaticMessage)
	err := f.r.Run(context.Background())
	if exitcode.Code(err) != exitcode.Conflict || !strings.Contains(err.Error(), "deferring a hook is not available") {
		t.Fatalf("got %v", err)
	}
}

func TestExecStatuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok", "#!/bin/sh\necho ok >> \"$OUT\"\n", 0o755)
	fail := write("fail", "#!/bin/sh\nexit 4\n", 0o755)
	killed := write("killed", "#!/bin/sh\nkill -KILL $$\n", 0o755)
	out := filepath.Join(dir, "out")
	e := Exec{Stdout: io.Discard, Stderr: io.Discard}
	env := []string{"OUT=" + out}
	if st, err := e.Run(context.Background(), []Step{{Path: ok}, {Path: fail}, {Path: ok}}, env); st != 4 || err != nil {
		t.Fatalf("got %d %v", st, err)
	}
	if b, _ := os.ReadFile(out); string(b) != "ok\n" {
		t.Fatalf("steps after a failure ran: %q", b)
	}
	if st, _ := e.Run(context.Background(), []Step{{Path: killed}}, env); st != 137 {
		t.Fatalf("killed: %d", st)
	}
	st, err := e.Run(context.Background(), []Step{{Path: filepath.Join(dir, "missing")}}, env)
	if st != 127 || err == nil {
		t.Fatalf("missing: %d %v", st, err)
	}
}

func TestPlanBadInput(t *testing.T) {
	hooks := t.TempDir()
	if _, err := Plan(hooks, "post-deploy", nil, nil); exitcode.Code(err) != exitcode.NoInput || !strings.Contains(err.Error(), "post-deploy.d does not exist") {
		t.Fatalf("missing dir: %v", err)
	}
	d := filepath.Join(hooks, "post-deploy.d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if steps, err := Plan(hooks, "post-deploy", nil, nil); err != nil || len(steps) != 0 {
		t.Fatalf("empty dir: %v %v", steps, err)
	}
	for name, mode := range map[string]os.FileMode{"20-b": 0o755, "10-a": 0o755, ".hidden": 0o755, "30-c~": 0o755} {
		if err := os.WriteFile(filepath.Join(d, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	steps, err := Plan(hooks, "post-deploy", nil, []string{"x"})
	if err != nil || len(steps) != 2 || steps[0].Name() != "10-a" || steps[1].Name() != "20-b" || steps[0].Args[0] != "x" {
		t.Fatalf("got %+v %v", steps, err)
	}
	if err := os.WriteFile(filepath.Join(d, "15-noexec"), []byte("echo"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Plan(hooks, "post-deploy", nil, nil)
	var e *exitcode.Error
	if !errors.As(err, &e) || e.Code != exitcode.CannotExecute || !strings.Contains(e.Hints[0], "chmod +x") {
		t.Fatalf("non-executable: %v", err)
	}
	for _, bad := range []string{"../x", "a/b", "..", ""} {
		if err := ValidateHook(bad); exitcode.Code(err) != exitcode.Usage {
			t.Errorf("hook %q accepted", bad)
		}
	}
}

// A deferred hook waiting for the very Kamal lock it was deferred for (the
// details `hookshim run` saw: DeferredFor) says that the Kamal command it was
// deferred for still holds it, not "another Kamal command"; a lock with other
// details is another command's, and a manual lock stays a manual lock.
func TestDeferredHookNamesTheLockItWasDeferredFor(t *testing.T) {
	for _, tc := range []struct {
		name, by, message, want string
	}{
		{"same lock", "Other Deployer", lockfile.AutomaticMessage, "(the Kamal command this hook was deferred for still holds it)"},
		{"another lock", "Someone Else", lockfile.AutomaticMessage, "(another Kamal command holds it)"},
		{"same manual lock", "Other Deployer", "db maintenance", "(a manual lock (kamal lock acquire))"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Strict, `echo ran`)
			f.r.WaitManual = true
			f.takeAs(t, tc.by, tc.message)
			seen := *f.lockState(t).Details
			seen.LockedBy = "Other Deployer"
			f.r.DeferredFor = &seen
			f.r.Wait = time.Minute
			done := make(chan error, 1)
			go func() { done <- f.r.Run(context.Background()) }()
			var waiting string
			for line := range f.log.lines {
				if strings.Contains(line, "waiting up to 1m0s") {
					waiting = line
					break
				}
			}
			if err := os.RemoveAll(filepath.Join(f.home, lockPath)); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("run: %v\n%s", err, f.log)
			}
			if !strings.Contains(waiting, tc.want) {
				t.Errorf("waiting line %q does not say %q", waiting, tc.want)
			}
		})
	}
}

// racingStore is a lock store where someone else takes the lock between the
// runner's look (free) and its mkdir: what concurrent holds meet.
type racingStore struct {
	lockfile.Local
	f *fixture
	t *testing.T
}

func (s racingStore) Acquire(ctx context.Context, path string, d lockfile.Details) error {
	s.f.takeAs(s.t, "Other Hold", "Automatic deploy lock")
	return s.Local.Acquire(ctx, path, d)
}

// A hold that loses the race for a lock it saw free says only what is true:
// who holds it, never that it is taking it.
func TestHoldLosingTheRaceDoesNotClaimTheLock(t *testing.T) {
	f := newFixture(t, Hold, "echo ran\n")
	f.r.Store = racingStore{Local: lockfile.Local{Root: f.home}, f: f, t: t}
	err := f.r.Run(context.Background())
	if err == nil {
		t.Fatalf("ran though another held the lock:\n%s", f.log)
	}
	log := f.log.String()
	if strings.Contains(log, "for the hook") {
		t.Errorf("claims to take a lock it lost:\n%s", log)
	}
	if !strings.Contains(log, "held by Other Hold") {
		t.Errorf("does not name who won the lock:\n%s", log)
	}
	if strings.Contains(f.stdout.String(), "ran") {
		t.Errorf("hook ran without the lock")
	}
}

// Signals are named as people send them (kill -TERM), not by Go's String().
func TestSignalName(t *testing.T) {
	for sig, want := range map[os.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP", syscall.Signal(63): "signal 63"} {
		if got := SignalName(sig); got != want {
			t.Errorf("SignalName(%v) = %q, want %q", sig, got, want)
		}
	}
}
