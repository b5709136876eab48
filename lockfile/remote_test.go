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
	"github.com/hookshim/hookshim/internal/sshx"
)

func remoteStore(h *sshtest.Host) Remote {
	return Remote{Host: h.Addr, Runner: OnHost(h.Client, h.Target)}
}

// copyTree copies a lock tree built locally into a host's home.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return os.Symlink(target, dst)
		case fi.IsDir():
			return os.MkdirAll(dst, 0o755)
		case fi.Mode()&os.ModeNamedPipe != 0:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The remote scan sees exactly what the local scan sees, in one SSH session.
func TestRemoteScanMatchesLocal(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	for _, version := range []string{"v1.9.0", "v2.12.0"} {
		home := recordedTree(t, version)
		copyTree(t, home, h.Home)
	}
	must(t, os.MkdirAll(filepath.Join(h.Home, ".kamal/lock-crashed"), 0o755))
	must(t, os.MkdirAll(filepath.Join(h.Home, ".kamal/lock-garbage"), 0o755))
	must(t, os.WriteFile(filepath.Join(h.Home, ".kamal/lock-garbage/details"), []byte("\x00\xffnot base64"), 0o644))
	must(t, os.Symlink("/etc", filepath.Join(h.Home, ".kamal/lock-link")))
	must(t, os.MkdirAll(filepath.Join(h.Home, ".kamal/lock-$(touch pwned)"), 0o755))
	must(t, os.MkdirAll(filepath.Join(h.Home, "mrsk_lock-blog"), 0o755))  // MRSK 0.15
	must(t, os.MkdirAll(filepath.Join(h.Home, "kamal_lock-shop"), 0o755)) // Kamal 0.16

	before := len(h.Commands(t))
	remote, err := remoteStore(h).Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Commands(t)) - before; n != 1 {
		t.Errorf("scan took %d SSH commands, want 1", n)
	}
	local, err := Local{Root: h.Home}.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(remote) != len(local) || len(remote) != 8 {
		t.Fatalf("remote found %d, local %d, want 8:\n%+v\n%+v", len(remote), len(local), remote, local)
	}
	for i := range local {
		r, l := remote[i], local[i]
		if r.Path != l.Path || r.State != l.State || r.Layout != l.Layout || (l.Details == nil) != (r.Details == nil) {
			t.Errorf("remote %+v != local %+v", r, l)
		}
		if l.Details != nil && *l.Details != *r.Details {
			t.Errorf("details differ: %+v vs %+v", r.Details, l.Details)
		}
		if r.ModTime.IsZero() {
			t.Errorf("%s: no mtime", r.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(h.Home, "pwned")); err == nil {
		t.Fatal("a lock name was executed on the host")
	}
}

// Taking a lock remotely leaves exactly what Kamal leaves, and Kamal's own
// status command on the host reads it back.
func TestRemoteAcquireIsKamalCompatible(t *testing.T) {
	ctx := context.Background()
	h := sshtest.Start(t, sshtest.Options{})
	s := remoteStore(h)
	raw, _ := os.ReadFile("testdata/kamal/v2.12.0/details-manual-test.raw")
	d, err := Parse(raw)
	must(t, err)
	before := len(h.Commands(t))
	must(t, s.Acquire(ctx, ".kamal/lock-app", d))
	if n := len(h.Commands(t)) - before; n != 1 {
		t.Errorf("acquire took %d SSH commands, want 1", n)
	}
	got, err := os.ReadFile(filepath.Join(h.Home, ".kamal/lock-app/details"))
	must(t, err)
	if string(got) != string(raw) {
		t.Fatalf("details differ from Kamal's:\n got %q\nwant %q", got, raw)
	}
	// Kamal's status command, verbatim from the recording.
	res, err := h.Client.Run(ctx, h.Target, "/usr/bin/env stat .kamal/lock-app > /dev/null && cat .kamal/lock-app/details | base64 -d", nil)
	must(t, err)
	if string(res.Stdout) != d.Text() {
		t.Fatalf("kamal lock status would print %q", res.Stdout)
	}
	// A second taker learns who holds it, in the same round trip.
	err = s.Acquire(ctx, ".kamal/lock-app", Details{LockedBy: "x", Message: AutomaticMessage})
	var held *HeldError
	if !errors.As(err, &held) || held.Lock.Details == nil || held.Lock.Details.LockedBy != "Hookshim Tester" {
		t.Fatalf("got %v", err)
	}
}

func TestRemoteReleaseChecksToken(t *testing.T) {
	ctx := context.Background()
	h := sshtest.Start(t, sshtest.Options{})
	s := remoteStore(h)
	tok := NewToken()
	d := Details{LockedBy: "T", At: time.Now().UTC(), Version: "v", Message: Hold{Hook: "post-deploy", Token: tok, User: "u", Host: "h", PID: 1}.Message()}
	must(t, s.Acquire(ctx, ".kamal/lock-app", d))
	// Another token of the same shape: the first digit changed (to 1 when it
	// is 0, or a 0 would leave it the same).
	other := "0" + tok[1:]
	if tok[0] == '0' {
		other = "1" + tok[1:]
	}
	if err := s.Release(ctx, ".kamal/lock-app", other); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("other token: %v", err)
	}
	if err := s.Release(ctx, ".kamal/lock-app", tok[:8]); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("token prefix: %v", err)
	}
	must(t, s.Release(ctx, ".kamal/lock-app", tok))
	if _, err := os.Lstat(filepath.Join(h.Home, ".kamal/lock-app")); !os.IsNotExist(err) {
		t.Fatal("not released")
	}
	if err := s.Release(ctx, ".kamal/lock-app", tok); !errors.Is(err, ErrGone) {
		t.Fatalf("gone: %v", err)
	}
	// A manual Kamal lock is never released by hookshim.
	copyTree(t, recordedTree(t, "v2.12.0"), h.Home)
	if err := s.Release(ctx, ".kamal/lock-app", ""); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("manual lock: %v", err)
	}
}

// A hold left by a hookshim from before the message carried "Automatic deploy
// lock" is still released by its token, over SSH and locally.
func TestReleaseEarlierHoldFormat(t *testing.T) {
	ctx := context.Background()
	h := sshtest.Start(t, sshtest.Options{})
	tok := NewToken()
	d := Details{LockedBy: "T", At: time.Now().UTC(), Version: "v", Message: "hookshim post-deploy hold " + tok + " by u@h pid 1"}
	for _, s := range []Store{remoteStore(h), Local{Root: h.Home}} {
		must(t, s.Acquire(ctx, ".kamal/lock-app", d))
		must(t, s.Release(ctx, ".kamal/lock-app", tok))
		if _, err := os.Lstat(filepath.Join(h.Home, ".kamal/lock-app")); !os.IsNotExist(err) {
			t.Fatalf("%s: not released", s.Where())
		}
	}
}

func TestRemoteReadIsOneRoundTrip(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	copyTree(t, recordedTree(t, "v2.12.0"), h.Home)
	spec := Spec{Service: "app"}
	before := len(h.Commands(t))
	ls, err := remoteStore(h).Read(context.Background(), spec.Candidates()...)
	must(t, err)
	if n := len(h.Commands(t)) - before; n != 1 {
		t.Errorf("read took %d commands", n)
	}
	if len(ls) != 5 || ls[0].State != Held || ls[1].State != Free || ls[2].State != Free || ls[4].State != Free {
		t.Fatalf("got %+v", ls)
	}
}

func TestRemoteUnreachable(t *testing.T) {
	ct := sshtest.ClosedTarget(t)
	c := &sshx.Client{ConnectTimeout: 5 * time.Second}
	_, err := Remote{Host: ct.Host, Runner: OnHost(c, ct)}.Scan(context.Background())
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("multi-line error %q", err)
	}
}

func FuzzParseScan(f *testing.F) {
	f.Add([]byte(scanHeaderLine + "\nD\t1\t.kamal/lock-app\nTG9j\n.\nEND\n"))
	f.Add([]byte("banner\n" + scanHeaderLine + "\nN\t0\tx\nEND\n"))
	f.Add([]byte(scanHeaderLine + "\nB\t0\t.kamal/lock-*\n.kamal\nEND\n"))
	f.Add([]byte("motd without a newline" + scanHeaderLine + "\nEND\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		locks, err := ParseScan(out)
		if err == nil {
			for _, l := range locks {
				if l.Path == "" || !l.State.IsHeld() {
					t.Fatalf("bad lock %+v", l)
				}
			}
		}
	})
}
