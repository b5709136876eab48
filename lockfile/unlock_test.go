package lockfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// writeLock writes, as Kamal does, a lock at path under home with details d.
func writeLock(t *testing.T, home, path string, d Details) []byte {
	t.Helper()
	b := d.FileContent()
	must(t, os.MkdirAll(filepath.Join(home, path), 0o755))
	must(t, os.WriteFile(filepath.Join(home, path, "details"), b, 0o644))
	return b
}

// unlockStores are the same tests' two places: a directory here, and a real
// sshd on loopback.
func unlockStores(t *testing.T) map[string]struct {
	store Unlocker
	home  string
} {
	t.Helper()
	local := t.TempDir()
	h := sshtest.Start(t, sshtest.Options{})
	return map[string]struct {
		store Unlocker
		home  string
	}{
		"local": {Local{Root: local}, local},
		"ssh":   {remoteStore(h), h.Home},
	}
}

var annsLock = Details{LockedBy: "Ann", At: time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC), Version: "v1", Message: AutomaticMessage}

// Compare and delete: a lock released and taken again between the look and
// the removal, even with byte-identical details, is left alone; the lock that
// was looked at is removed, and the audit line appended, in the same step.
func TestRemoveSeen(t *testing.T) {
	ctx := context.Background()
	for name, s := range unlockStores(t) {
		t.Run(name, func(t *testing.T) {
			const p = ".kamal/lock-app"
			writeLock(t, s.home, p, annsLock)
			seen, err := s.store.Look(ctx, p)
			if err != nil || seen.State != Held || seen.Details.LockedBy != "Ann" || seen.Fingerprint == "" {
				t.Fatalf("Look = %+v, %v", seen, err)
			}
			// Released and taken again, by the same person with the same
			// details (the same second): another lock all the same.
			must(t, os.RemoveAll(filepath.Join(s.home, p)))
			must(t, os.WriteFile(filepath.Join(s.home, "spacer"), nil, 0o644)) // the new directory gets another inode
			again := writeLock(t, s.home, p, annsLock)
			audit := Audit{File: ".kamal/app-audit.log", Line: "[t] [me] removed"}
			if err := s.store.RemoveSeen(ctx, seen, audit); !errors.Is(err, ErrChanged) {
				t.Fatalf("RemoveSeen after a retake = %v, want ErrChanged", err)
			}
			if b, _ := os.ReadFile(filepath.Join(s.home, p, "details")); string(b) != string(again) {
				t.Fatalf("the new lock was touched: %q", b)
			}
			if _, err := os.Stat(filepath.Join(s.home, audit.File)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("an audit line was written for a removal that did not happen")
			}
			// The lock looked at now is removed, and the line appended.
			if seen, err = s.store.Look(ctx, p); err != nil {
				t.Fatal(err)
			}
			must(t, os.WriteFile(filepath.Join(s.home, audit.File), []byte("[earlier] line\n"), 0o644))
			if err := s.store.RemoveSeen(ctx, seen, audit); err != nil {
				t.Fatalf("RemoveSeen = %v", err)
			}
			if _, err := os.Lstat(filepath.Join(s.home, p)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("lock still there: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(s.home, audit.File)); string(b) != "[earlier] line\n[t] [me] removed\n" {
				t.Fatalf("audit log = %q", b)
			}
			if err := s.store.RemoveSeen(ctx, seen, audit); !errors.Is(err, ErrGone) {
				t.Fatalf("RemoveSeen of a removed lock = %v, want ErrGone", err)
			}
		})
	}
}

// The details written into a directory that had none (a Kamal between its
// mkdir and its write) change the lock; so does a rewrite of the details.
func TestRemoveSeenDetailsWritten(t *testing.T) {
	ctx := context.Background()
	for name, s := range unlockStores(t) {
		t.Run(name, func(t *testing.T) {
			const p = ".kamal/lock-app"
			must(t, os.MkdirAll(filepath.Join(s.home, p), 0o755))
			seen, err := s.store.Look(ctx, p)
			if err != nil || seen.State != NoDetails {
				t.Fatalf("Look = %+v, %v", seen, err)
			}
			writeLock(t, s.home, p, annsLock)
			if err := s.store.RemoveSeen(ctx, seen, Audit{}); !errors.Is(err, ErrChanged) {
				t.Fatalf("RemoveSeen = %v, want ErrChanged", err)
			}
			if seen, err = s.store.Look(ctx, p); err != nil {
				t.Fatal(err)
			}
			other := annsLock
			other.LockedBy = "Bo"
			must(t, os.WriteFile(filepath.Join(s.home, p, "details"), other.FileContent(), 0o644))
			if err := s.store.RemoveSeen(ctx, seen, Audit{}); !errors.Is(err, ErrChanged) {
				t.Fatalf("RemoveSeen after a rewrite = %v, want ErrChanged", err)
			}
		})
	}
}

// Over SSH the path, the fingerprint and the audit line reach the host as
// positional parameters: shell syntax in any of them is only data.
func TestRemoteRemoveSeenValuesAreData(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	s := remoteStore(h)
	ctx := context.Background()
	p := ".kamal/locks/app-$(touch pwned1)"
	writeLock(t, h.Home, p, annsLock)
	seen, err := s.Look(ctx, p)
	if err != nil || seen.State != Held {
		t.Fatalf("Look = %+v, %v", seen, err)
	}
	bad := seen
	bad.Fingerprint = `x" ] || touch pwned2; [ "`
	if err := s.RemoveSeen(ctx, bad, Audit{}); !errors.Is(err, ErrChanged) {
		t.Fatalf("RemoveSeen with a hostile fingerprint = %v, want ErrChanged", err)
	}
	line := "[t] [$(touch pwned3)] `touch pwned4` '; touch pwned5"
	if err := s.RemoveSeen(ctx, seen, Audit{File: ".kamal/app-audit.log", Line: line}); err != nil {
		t.Fatalf("RemoveSeen = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(h.Home, ".kamal/app-audit.log")); string(b) != line+"\n" {
		t.Fatalf("audit log = %q", b)
	}
	for i := 1; i <= 5; i++ {
		if _, err := os.Stat(filepath.Join(h.Home, "pwned"+string(rune('0'+i)))); err == nil {
			t.Fatalf("pwned%d was created: a value was run as a command", i)
		}
	}
	for _, c := range h.Commands(t) {
		if strings.Contains(c, "touch pwned") && !strings.Contains(c, "sh -c ") {
			t.Fatalf("a value reached the host outside the positional parameters: %q", c)
		}
	}
}

// A symlink at a lock path is removed itself, never followed.
func TestRemoveSeenSymlink(t *testing.T) {
	ctx := context.Background()
	for name, s := range unlockStores(t) {
		t.Run(name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			writeLock(t, target, "x", annsLock)
			must(t, os.MkdirAll(filepath.Join(s.home, ".kamal"), 0o755))
			must(t, os.Symlink(filepath.Join(target, "x"), filepath.Join(s.home, ".kamal/lock-app")))
			seen, err := s.store.Look(ctx, ".kamal/lock-app")
			if err != nil || seen.State != Unreadable {
				t.Fatalf("Look = %+v, %v", seen, err)
			}
			if err := s.store.RemoveSeen(ctx, seen, Audit{}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(target, "x", "details")); err != nil {
				t.Fatalf("the symlink's target was touched: %v", err)
			}
		})
	}
}

func TestCheckLockPath(t *testing.T) {
	for _, p := range []string{"mrsk_lock", "mrsk_lock-app", "kamal_lock-app", ".kamal/lock-app", ".kamal/lock-app-staging", ".kamal/locks/app", "/srv/run/locks/app-staging", "deploy/lock-app"} {
		if err := CheckLockPath(p); err != nil {
			t.Errorf("CheckLockPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", ".kamal", ".kamal/", "app", ".kamal/app-audit.log", "../x/lock-app", ".kamal/locks/..", ".kamal/locks/a b", ".kamal/lock-$(x)", "x/lock-\n", "locks/-rf"} {
		if err := CheckLockPath(p); err == nil {
			t.Errorf("CheckLockPath(%q) accepted it", p)
		}
	}
}

func TestNewAudit(t *testing.T) {
	at := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	// As Kamal 2.12's test/commands/auditor_test.rb records them.
	if a := NewAudit(AuditFile("app", ""), at, "ann@example.com", "", "removed"); a.File != ".kamal/app-audit.log" || a.Line != "[2026-11-27T07:00:00Z] [ann@example.com] removed" {
		t.Errorf("%+v", a)
	}
	a := NewAudit(AuditFile("app", "staging"), at, "ann", "staging", "message \"x\ny\"\x1b[2J")
	if a.File != ".kamal/app-staging-audit.log" || a.Line != `[2026-11-27T07:00:00Z] [ann] [staging] message "x\ny"\x1b[2J` {
		t.Errorf("%+v", a)
	}
}

// A take and a release carrying an audit line append it, on success only;
// shell syntax in the line is only data.
func TestAcquireReleaseAudit(t *testing.T) {
	for name, s := range unlockStores(t) {
		t.Run(name, func(t *testing.T) {
			const p = ".kamal/lock-app"
			token := NewToken()
			d := Details{LockedBy: "Ann", At: time.Now().UTC().Truncate(time.Second), Message: Hold{Hook: "post-deploy", Token: token, PID: 1}.Message()}
			took := Audit{File: ".kamal/app-audit.log", Line: "[t] [$(touch pwned)] took"}
			if err := s.store.Acquire(WithAudit(context.Background(), took), p, d); err != nil {
				t.Fatal(err)
			}
			if err := s.store.Acquire(WithAudit(context.Background(), took), p, d); err == nil {
				t.Fatal("second Acquire succeeded")
			}
			released := Audit{File: took.File, Line: "[t] [me] released"}
			if err := s.store.Release(WithAudit(context.Background(), released), p, "ffffffffffff"); !errors.Is(err, ErrNotOurs) {
				t.Fatalf("Release with another token = %v", err)
			}
			if err := s.store.Release(WithAudit(context.Background(), released), p, token); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(s.home, took.File)); string(b) != took.Line+"\n"+released.Line+"\n" {
				t.Fatalf("audit log = %q", b)
			}
			if _, err := os.Stat(filepath.Join(s.home, "pwned")); err == nil {
				t.Fatal("the audit line was run as a command")
			}
		})
	}
}
