package shim

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

const fixtures = "../lockfile/testdata/kamal"

// fixtureEnv reads the KAMAL_* environment the real Kamal gave post-deploy.
func fixtureEnv(t *testing.T, version, command string) func(string) (string, bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, version, command+"-post-deploy-hook.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "KAMAL_") {
			env[k] = v
		}
	}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// fixtureLock is the lock the real Kamal held while its setup's post-deploy ran.
func fixtureLock(t *testing.T, version string) lockfile.Lock {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, version, "details-automatic.raw"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := lockfile.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return lockfile.Lock{Path: ".kamal/lock-app", Layout: lockfile.LayoutKamal2, State: lockfile.Held, Details: &d}
}

func tester() string { return "Hookshim Tester" }

// What the real Kamal hands post-deploy under setup proves the lock is ours on
// every generation: KAMAL_LOCK=true on 2.6+, the matching automatic lock on 2.5.
func TestClassifyRecordedSetup(t *testing.T) {
	for _, tt := range []struct{ version, reason string }{
		{"v2.5.3", "Kamal < 2.6 runs post-deploy under its lock during setup"},
		{"v2.6.0", "KAMAL_LOCK=true"},
		{"v2.12.0", "KAMAL_LOCK=true"},
	} {
		t.Run(tt.version, func(t *testing.T) {
			k, err := ReadKamalEnv(fixtureEnv(t, tt.version, "setup"))
			if err != nil {
				t.Fatal(err)
			}
			// The recorded details of 2.5.3's setup lock were captured separately;
			// take the time the hook saw, which is before KAMAL_RECORDED_AT.
			l := fixtureLock(t, tt.version)
			o := Classify(l, caller(k, "post-deploy"))
			if o.State != Ours || !strings.Contains(o.Reason, tt.reason) {
				t.Fatalf("got %s (%s)", o.State, o.Reason)
			}
		})
	}
}

func TestClassifyRecordedDeploy(t *testing.T) {
	for _, version := range []string{"v2.5.3", "v2.6.0", "v2.12.0"} {
		t.Run(version, func(t *testing.T) {
			k, err := ReadKamalEnv(fixtureEnv(t, version, "deploy"))
			if err != nil {
				t.Fatal(err)
			}
			if o := Classify(lockfile.Lock{State: lockfile.Free}, caller(k, "post-deploy")); o.State != Free {
				t.Fatalf("free lock: %s", o.State)
			}
			// Under deploy, Kamal has released its lock: a held lock is someone else's,
			// even an automatic one of the same user and version.
			o := Classify(fixtureLock(t, version), caller(k, "post-deploy"))
			if o.State != Theirs {
				t.Fatalf("got %s (%s)", o.State, o.Reason)
			}
		})
	}
}

func TestClassifyOldKamalNeedsEveryProof(t *testing.T) {
	rec := time.Date(2026, 11, 27, 6, 32, 38, 0, time.UTC)
	base := lockfile.Details{LockedBy: "Hookshim Tester", At: rec.Add(-4 * time.Second), Version: "v1", Message: lockfile.AutomaticMessage}
	k := KamalEnv{Command: "setup", Version: "v1", RecordedAt: rec, Under: true}
	lock := func(mut func(*lockfile.Details)) lockfile.Lock {
		d := base
		mut(&d)
		return lockfile.Lock{Path: "p", State: lockfile.Held, Details: &d}
	}
	if o := Classify(lock(func(*lockfile.Details) {}), caller(k, "post-deploy")); o.State != Ours {
		t.Fatalf("matching lock: %s %s", o.State, o.Reason)
	}
	// An old lock is still ours: setup's lock predates the runtime Kamal reports.
	if o := Classify(lock(func(d *lockfile.Details) { d.At = rec.Add(-20 * time.Minute) }), caller(k, "post-deploy")); o.State != Ours {
		t.Fatalf("old lock of this run: %s %s", o.State, o.Reason)
	}
	for name, mut := range map[string]func(*lockfile.Details){
		"manual message": func(d *lockfile.Details) { d.Message = "test" },
		"other version":  func(d *lockfile.Details) { d.Version = "v2" },
		"other user":     func(d *lockfile.Details) { d.LockedBy = "Someone Else" },
		"taken after":    func(d *lockfile.Details) { d.At = rec.Add(time.Second) },
		"no time":        func(d *lockfile.Details) { d.At = time.Time{} },
	} {
		if o := Classify(lock(mut), caller(k, "post-deploy")); o.State != Theirs {
			t.Errorf("%s: got %s (%s)", name, o.State, o.Reason)
		}
	}
	// post-deploy under deploy is never run under Kamal's lock.
	kd := k
	kd.Command = "deploy"
	if o := Classify(lock(func(*lockfile.Details) {}), caller(kd, "post-deploy")); o.State != Theirs {
		t.Errorf("deploy: got %s", o.State)
	}
	// Rollback takes its lock with the version being deployed (git HEAD) and
	// then hands its hooks the version it rolls back to (recorded on 2.5.3):
	// the lock is still this run's.
	kr := k
	kr.Command, kr.Version = "rollback", "v0"
	if o := Classify(lock(func(*lockfile.Details) {}), caller(kr, "pre-deploy")); o.State != Ours {
		t.Errorf("pre-deploy under rollback: got %s (%s)", o.State, o.Reason)
	}
	// pre-deploy is, under every command.
	if o := Classify(lock(func(*lockfile.Details) {}), caller(kd, "pre-deploy")); o.State != Ours {
		t.Errorf("pre-deploy under deploy: got %s", o.State)
	}
}

func TestClassifyTokenAndUnknown(t *testing.T) {
	h := lockfile.Hold{Hook: "post-deploy", Token: "tok123", User: "u", Host: "h", PID: 1}
	l := lockfile.Lock{Path: "p", State: lockfile.Held, Details: &lockfile.Details{LockedBy: "x", Message: h.Message()}}
	if o := Classify(l, caller(KamalEnv{Token: "tok123"}, "post-deploy")); o.State != Ours || !o.ByToken {
		t.Fatalf("token match: %+v", o)
	}
	if o := Classify(l, caller(KamalEnv{Token: "other"}, "post-deploy")); o.State != Theirs {
		t.Fatalf("token mismatch: %s", o.State)
	}
	nd := lockfile.Lock{Path: "p", State: lockfile.NoDetails, Problem: "lock directory has no details file"}
	if o := Classify(nd, caller(KamalEnv{}, "post-deploy")); o.State != Unknown {
		t.Fatalf("no details: %s", o.State)
	}
	if o := Classify(nd, caller(KamalEnv{Lock: "true", Under: true}, "post-deploy")); o.State != Ours {
		t.Fatalf("KAMAL_LOCK=true proves even an unreadable lock ours: %s", o.State)
	}
}

func TestReadKamalEnvRejectsBadKamalLock(t *testing.T) {
	_, err := ReadKamalEnv(func(k string) (string, bool) {
		if k == "KAMAL_LOCK" {
			return "yes", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), `KAMAL_LOCK="yes"`) {
		t.Fatalf("got %v", err)
	}
}

// caller is a Caller for service app, no destination, with git user.name
// "Hookshim Tester", the recordings' deployer.
func caller(k KamalEnv, hook string) Caller {
	return Caller{Hook: hook, Kamal: k, Spec: lockfile.Spec{Service: "app"}, GitUser: tester}
}
