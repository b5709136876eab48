package lockfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recordedTree lays out, under a fresh home, what the real Kamal of that version
// left on the host while its lock was held (host-tree.locked.txt, with the
// recorded details file), plus the non-lock entries Kamal keeps in .kamal.
func recordedTree(t *testing.T, version string) string {
	t.Helper()
	home := t.TempDir()
	f, err := os.Open(filepath.Join("testdata/kamal", version, "host-tree.locked.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := os.ReadFile(filepath.Join("testdata/kamal", version, "details-manual-test.raw"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text()) // mode size path
		p := filepath.Join(home, fields[2])
		if strings.HasPrefix(fields[0], "d") {
			must(t, os.MkdirAll(p, 0o755))
		} else {
			must(t, os.WriteFile(p, raw, 0o644))
		}
	}
	must(t, os.WriteFile(filepath.Join(home, ".kamal/app-audit.log"), []byte("[2026-11-27T06:31:38Z] audit\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(home, ".kamal/apps/app/env"), 0o755))
	must(t, os.MkdirAll(filepath.Join(home, ".kamal/proxy/apps-config"), 0o755))
	return home
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLocalScanRecordedTrees(t *testing.T) {
	tests := []struct {
		version, path string
		layout        Layout
	}{
		{"v1.9.0", ".kamal/locks/app", LayoutKamal15},
		{"v2.5.3", ".kamal/lock-app", LayoutKamal2},
		{"v2.6.0", ".kamal/lock-app", LayoutKamal2},
		{"v2.12.0", ".kamal/lock-app", LayoutKamal2},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			locks, err := Local{Root: recordedTree(t, tt.version)}.Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(locks) != 1 {
				t.Fatalf("want exactly the one lock (app-audit.log, apps/, proxy/ are not locks), got %+v", locks)
			}
			l := locks[0]
			if l.Path != tt.path || l.Layout != tt.layout || l.Name != "app" || l.State != Held {
				t.Fatalf("got %+v", l)
			}
			if l.Details.LockedBy != "Hookshim Tester" || l.Details.Message != "test" {
				t.Errorf("details %+v", l.Details)
			}
		})
	}
}

func TestLocalScanEveryLayoutAndState(t *testing.T) {
	home := t.TempDir()
	d := Details{LockedBy: "Ann", At: time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC), Version: "v1", Message: "m"}
	write := func(p string, content []byte) {
		must(t, os.MkdirAll(filepath.Join(home, p), 0o755))
		if content != nil {
			must(t, os.WriteFile(filepath.Join(home, p, "details"), content, 0o644))
		}
	}
	write("mrsk_lock", d.FileContent())
	write("mrsk_lock-blog", d.FileContent())  // MRSK 0.15
	write("kamal_lock-shop", d.FileContent()) // Kamal 0.16
	write("mrsk_locks", d.FileContent())      // not a lock name of any layout
	write(".kamal/lock-web-staging", d.FileContent())
	write(".kamal/locks/api", d.FileContent())
	write("deploy/run/lock-old", d.FileContent()) // Kamal 1.0-1.4 with run_directory: deploy/run
	write(".kamal/lock-crashed", nil)             // mkdir done, details never written
	write(".kamal/lock-garbage", []byte("\x00\x01garbage"))
	must(t, os.MkdirAll(filepath.Join(home, ".kamal/lock-dirdetails/details"), 0o755))
	must(t, os.Symlink("/etc", filepath.Join(home, ".kamal/lock-link")))
	// details a symlink to a real lock's details: not followed, so a lock
	// cannot borrow another's holder (or point at any file of the user's).
	must(t, os.MkdirAll(filepath.Join(home, ".kamal/lock-symdetails"), 0o755))
	must(t, os.Symlink(filepath.Join(home, "mrsk_lock", "details"), filepath.Join(home, ".kamal/lock-symdetails/details")))
	must(t, os.WriteFile(filepath.Join(home, ".kamal/lock-file"), nil, 0o644))
	must(t, syscall.Mkfifo(filepath.Join(home, ".kamal/lock-app"), 0o644)) // a FIFO must not hang the scan
	must(t, os.MkdirAll(filepath.Join(home, ".kamal/lock-fifo"), 0o755))
	must(t, syscall.Mkfifo(filepath.Join(home, ".kamal/lock-fifo/details"), 0o644))

	locks, err := Local{Root: home}.Scan(context.Background(), "deploy/run")
	if err != nil {
		t.Fatal(err)
	}
	got, problems := map[string]string{}, map[string]string{}
	for _, l := range locks {
		got[l.Path] = fmt.Sprintf("%s %s %s", l.Layout, l.Name, l.State)
		problems[l.Path] = l.Problem
		if l.State != Held && l.Problem == "" {
			t.Errorf("%s: state %s without a problem description", l.Path, l.State)
		}
	}
	want := map[string]string{
		"mrsk_lock":               "mrsk mrsk_lock held",
		"mrsk_lock-blog":          "mrsk-0.15 blog held",
		"kamal_lock-shop":         "kamal-0.16 shop held",
		".kamal/lock-web-staging": "kamal-2 web-staging held",
		".kamal/locks/api":        "kamal-1.5 api held",
		"deploy/run/lock-old":     "kamal-1.0 old held",
		".kamal/lock-crashed":     "kamal-2 crashed no-details",
		".kamal/lock-garbage":     "kamal-2 garbage unreadable",
		".kamal/lock-dirdetails":  "kamal-2 dirdetails unreadable",
		".kamal/lock-link":        "kamal-2 link unreadable",
		".kamal/lock-symdetails":  "kamal-2 symdetails unreadable",
		".kamal/lock-file":        "kamal-2 file unreadable",
		".kamal/lock-app":         "kamal-2 app unreadable",
		".kamal/lock-fifo":        "kamal-2 fifo unreadable",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %q, want %q", p, got[p], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("scan found %d entries, want %d: %v", len(got), len(want), got)
	}
	// What `hookshim locks` says about a details that cannot be read.
	for p, w := range map[string]string{
		".kamal/lock-dirdetails": "details is not a regular file",
		".kamal/lock-fifo":       "details is not a regular file",
		".kamal/lock-symdetails": "cannot read details: too many levels of symbolic links",
		".kamal/lock-crashed":    "lock directory has no details file",
	} {
		if problems[p] != w {
			t.Errorf("%s: problem %q, want %q", p, problems[p], w)
		}
	}
}

func TestLocalScanEmptyHome(t *testing.T) {
	locks, err := Local{Root: t.TempDir()}.Scan(context.Background())
	if err != nil || len(locks) != 0 {
		t.Fatalf("got %v, %v", locks, err)
	}
}

func TestSpecPaths(t *testing.T) {
	s := Spec{Service: "app", Destination: "production"}
	want := map[Layout]string{
		LayoutKamal2:   ".kamal/lock-app-production",
		LayoutKamal15:  ".kamal/locks/app-production",
		LayoutKamal10:  ".kamal/lock-app",
		LayoutKamal016: "kamal_lock-app",
		LayoutMRSK015:  "mrsk_lock-app",
		LayoutMRSK:     "mrsk_lock",
	}
	for l, p := range want {
		if got := s.Path(l); got != p {
			t.Errorf("%s: got %q, want %q", l, got, p)
		}
	}
	if got := (Spec{Service: "app", RunDir: "/var/kamal"}).Path(LayoutKamal15); got != "/var/kamal/locks/app" {
		t.Errorf("absolute run dir: got %q", got)
	}
	if c := (Spec{Service: "app"}).Candidates(); strings.Join(c, " ") != ".kamal/lock-app .kamal/locks/app kamal_lock-app mrsk_lock-app mrsk_lock" {
		t.Errorf("candidates %q", c)
	}
}

// Each layout belongs to the releases kamal-locks.md section 1 gives it, and
// every name --layout takes (and an unknown one's error) says so.
func TestLayoutVersions(t *testing.T) {
	for _, tt := range []struct {
		v    Version
		want Layout
	}{
		{Version{0, 14}, LayoutMRSK}, {Version{0, 15}, LayoutMRSK015}, {Version{0, 16}, LayoutKamal016},
		{Version{1, 0}, LayoutKamal10}, {Version{1, 4}, LayoutKamal10}, {Version{1, 5}, LayoutKamal15},
		{Version{1, 9}, LayoutKamal15}, {Version{2, 0}, LayoutKamal2}, {Version{2, 12}, LayoutKamal2},
	} {
		if got := LayoutOf(tt.v); got != tt.want {
			t.Errorf("LayoutOf(%s) = %s, want %s", tt.v, got, tt.want)
		}
	}
	if got := LayoutsBetween(Version{1, 8}, Version{2, 6}); fmt.Sprint(got) != "[kamal-2 kamal-1.5]" {
		t.Errorf("1.8 to 2.6: %v", got)
	}
	if got := LayoutsBetween(Version{2, 6}, NoVersion); fmt.Sprint(got) != "[kamal-2]" {
		t.Errorf("2.6 on: %v", got)
	}
	if got := LayoutsBetween(Version{}, Version{1, 5}); fmt.Sprint(got) != "[kamal-1.0 kamal-0.16 mrsk-0.15 mrsk]" {
		t.Errorf("before 1.5: %v", got)
	}
	for _, l := range Layouts {
		if got, err := ParseLayout(string(l)); err != nil || got != l {
			t.Errorf("ParseLayout(%q) = %v, %v", l, got, err)
		}
	}
	_, err := ParseLayout("kamal-3")
	if err == nil || !strings.Contains(err.Error(), "kamal-0.16 (Kamal 0.16)") || !strings.Contains(err.Error(), "mrsk (MRSK 0.10-0.14)") {
		t.Errorf("unknown layout: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"app", "my-app_2", "App.v2"} {
		if err := ValidateName("service", ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "..", "a..b", ".hidden", "-x", "a b", "$(id)", "a;b", "a`b`", "a'b", "a\nb", strings.Repeat("a", 200)} {
		err := ValidateName("service", bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "service") {
			t.Errorf("%q: error %q should be one line naming the service", bad, err)
		}
	}
}

// A run_directory may hold shell syntax (it is always quoted) but never a
// control character (DEL included, which a terminal would act on) or "..".
func TestValidateRunDir(t *testing.T) {
	for _, ok := range []string{"", ".kamal", "/var/run/kamal", "deploy/run", "dir with spaces/$(id)"} {
		if err := ValidateRunDir(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"a\nb", "a\x00b", "a\x1b[31m", "a\x7fb", "../up", "a/../../b"} {
		err := ValidateRunDir(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "run directory") {
			t.Errorf("%q: error %q should be one line naming the run directory", bad, err)
		}
	}
}

func TestLocalAcquireRelease(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	s := Local{Root: home}
	tok := NewToken()
	d := Details{LockedBy: "Hookshim Tester", At: time.Date(2026, 11, 27, 6, 31, 22, 0, time.UTC), Version: fixtureVersion,
		Message: Hold{Hook: "post-deploy", Token: tok, User: "ci", Host: "runner", PID: 7}.Message()}
	p := ".kamal/lock-app"

	must(t, s.Acquire(ctx, p, d))
	raw, err := os.ReadFile(filepath.Join(home, p, "details"))
	must(t, err)
	if string(raw) != string(d.FileContent()) {
		t.Fatalf("details on disk %q", raw)
	}

	// A second taker is told who holds it.
	err = s.Acquire(ctx, p, Details{LockedBy: "Other", Message: AutomaticMessage})
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.Lock.Details.LockedBy != "Hookshim Tester" {
		t.Fatalf("second acquire: %v", err)
	}

	// The wrong token never removes it.
	if err := s.Release(ctx, p, "not-the-token"); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("release with another token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, p, "details")); err != nil {
		t.Fatal("lock removed by a release with the wrong token")
	}
	must(t, s.Release(ctx, p, tok))
	if _, err := os.Lstat(filepath.Join(home, p)); !os.IsNotExist(err) {
		t.Fatalf("lock still there after release: %v", err)
	}
	if err := s.Release(ctx, p, tok); !errors.Is(err, ErrGone) {
		t.Fatalf("second release: %v", err)
	}
}

// A manual `kamal lock acquire` and an automatic Kamal lock are never released by hookshim.
func TestLocalReleaseLeavesKamalLocks(t *testing.T) {
	ctx := context.Background()
	home := recordedTree(t, "v2.12.0")
	err := Local{Root: home}.Release(ctx, ".kamal/lock-app", "")
	if !errors.Is(err, ErrNotOurs) {
		t.Fatalf("got %v", err)
	}
	must(t, os.MkdirAll(filepath.Join(home, ".kamal/lock-bare"), 0o755))
	if err := (Local{Root: home}).Release(ctx, ".kamal/lock-bare", "x"); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("no-details lock: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".kamal/lock-app/details")); err != nil {
		t.Fatal(err)
	}
}

func makeLocks(b testing.TB, n int) string {
	home := b.TempDir()
	content := Details{LockedBy: "a", At: time.Now().UTC(), Version: "v", Message: AutomaticMessage}.FileContent()
	for i := range n {
		dir := filepath.Join(home, ".kamal", fmt.Sprintf("lock-svc%04d", i))
		must(b, os.MkdirAll(dir, 0o755))
		must(b, os.WriteFile(filepath.Join(dir, "details"), content, 0o644))
	}
	return home
}

func BenchmarkLocalScan1000(b *testing.B) {
	home := makeLocks(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		locks, err := Local{Root: home}.Scan(context.Background())
		if err != nil || len(locks) != 1000 {
			b.Fatal(len(locks), err)
		}
	}
}
