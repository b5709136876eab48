package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// A lock dated in the future (the clock of the machine that took it is
// ahead): its age cannot be told, and saying "0s ago" for ever would hide
// both the skew and a lock that may be stale. `locks` and run's decision line
// flag it as clock skew.
func TestFaultLockFromTheFuture(t *testing.T) {
	t.Parallel()
	r := localRig(t)
	d := lockfile.Details{LockedBy: "Anna Schmidt", At: time.Now().UTC().Add(3 * time.Hour).Truncate(time.Second), Version: "d018f90b", Message: lockfile.AutomaticMessage}
	if err := os.MkdirAll(filepath.Join(r.home, lockPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.home, lockPath, "details"), d.FileContent(), 0o644); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := runHookshim(t, r.dir, r.env, r.runArgs("post-deploy", "--", r.hook, "h1")...)
	if code != 75 || !regexp.MustCompile(`since \S+ \((2h59m|3h00m) in the future: clock skew`).MatchString(stderr) {
		t.Fatalf("run: exit %d, want 75 with the lock's time flagged as 2h59m in the future (clock skew):\n%s", code, stderr)
	}
	r.ev.none()

	code, out, stderr := runHookshim(t, r.dir, r.env, append([]string{"locks"}, r.locksArgs()...)...)
	if code != 0 || !regexp.MustCompile(`-(2h59m|3h00m) \(clock skew\)`).MatchString(out) {
		t.Fatalf("locks: exit %d, want AGE flagged as clock skew:\n%s%s", code, out, stderr)
	}
	code, out, stderr = runHookshim(t, r.dir, r.env, append([]string{"locks", "--json"}, r.locksArgs()...)...)
	var doc struct {
		Locks []map[string]any `json:"locks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Locks) != 1 {
		t.Fatalf("locks --json: exit %d, %v:\n%s%s", code, err, out, stderr)
	}
	if skew, _ := doc.Locks[0]["clock_skew_seconds"].(float64); skew < 3*3600-60 || skew > 3*3600 {
		t.Fatalf("clock_skew_seconds = %v, want about 10800", doc.Locks[0]["clock_skew_seconds"])
	}
}
