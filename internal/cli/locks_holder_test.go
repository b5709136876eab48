package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/lockfile"
)

// A hookshim hold taken on this machine whose hookshim has ended (SIGKILLed,
// say) while nothing carries its token shows as dead in `hookshim locks`,
// as hookshim unlock would judge it; one whose process runs (this test's
// own) and one taken on another machine look as before. The JSON says it in
// holder_process.
func TestLocksDeadHold(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		t.Fatalf("hostname: %q, %v", hostname, err)
	}
	boot := liveness.BootID()
	self, err := liveness.Self()
	if boot == "" || err != nil {
		t.Fatalf("boot id %q, self: %v", boot, err)
	}
	// A real process that has ended and been waited for: its pid is gone.
	cat := exec.Command("cat")
	in, err := cat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	gone, err := liveness.Read(cat.Process.Pid)
	in.Close()
	if werr := cat.Wait(); err != nil || werr != nil {
		t.Fatalf("cat: %v, %v", err, werr)
	}

	root := t.TempDir()
	at := time.Now().UTC().Truncate(time.Second)
	write := func(name string, h lockfile.Hold) {
		h.Hook, h.Token, h.User = "post-deploy", lockfile.NewToken(), "deploy"
		d := lockfile.Details{LockedBy: "CI Bot", At: at, AtText: at.Format(lockfile.TimeLayout), Version: "v1", Message: h.Message()}
		dir := filepath.Join(root, ".kamal", "lock-"+name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "details"), d.FileContent(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dead", lockfile.Hold{Host: hostname, PID: gone.PID, Stamp: lockfile.Stamp{Start: gone.Start, SID: gone.SID, Boot: boot}})
	write("live", lockfile.Hold{Host: hostname, PID: self.PID, Stamp: lockfile.Stamp{Start: self.Start, SID: self.SID, Boot: boot}})
	write("other", lockfile.Hold{Host: "other-" + hostname, PID: gone.PID, Stamp: lockfile.Stamp{Start: gone.Start, SID: gone.SID, Boot: boot}})

	env := []string{"HOME=" + t.TempDir()}
	stdout, stderr, code := runMain(t, env, "locks", "--root", root, "--wide")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		`(?m)^local +\.kamal/lock-dead +CI Bot .* hookshim-hold \(dead\)$`,
		`(?m)^local +\.kamal/lock-live +CI Bot .* hookshim-hold$`,
		`(?m)^local +\.kamal/lock-other +CI Bot .* hookshim-hold$`,
		`(?m)^1 host, 3 locks \(1 dead hold\), 0 unreachable$`,
	} {
		if !regexpMatch(want, stdout) {
			t.Errorf("no line matching %s in:\n%s", want, stdout)
		}
	}

	stdout, stderr, code = runMain(t, env, "locks", "--root", root, "--json")
	var doc struct {
		Locks []struct {
			Path          string  `json:"path"`
			State         string  `json:"state"`
			HolderProcess *string `json:"holder_process"`
		} `json:"locks"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, %v:\n%s", code, stderr, err, stdout)
	}
	got := map[string]string{}
	for _, l := range doc.Locks {
		if l.State != "hookshim-hold" || l.HolderProcess == nil {
			t.Errorf("%s: state %q, holder_process %v", l.Path, l.State, l.HolderProcess)
			continue
		}
		got[l.Path] = *l.HolderProcess
	}
	want := map[string]string{".kamal/lock-dead": "gone", ".kamal/lock-live": "running", ".kamal/lock-other": "unknown"}
	if len(got) != len(want) || got[".kamal/lock-dead"] != "gone" || got[".kamal/lock-live"] != "running" || got[".kamal/lock-other"] != "unknown" {
		t.Errorf("holder_process = %v, want %v", got, want)
	}
	if doc.Summary["dead_holds"] != 1 {
		t.Errorf("summary = %v", doc.Summary)
	}
}

// holdState is the STATE of the one hookshim hold `hookshim locks --wide`
// shows on r's host, and its holder_process in `hookshim locks --json`.
func holdState(t *testing.T, r *rig) (state, holderProcess string) {
	t.Helper()
	code, stdout, stderr := runHookshim(t, r.dir, r.env, append([]string{"locks", "--wide"}, r.locksArgs()...)...)
	m := regexp.MustCompile(`(?m)^\S+ +\.kamal/lock-app +.* (hookshim-hold.*)$`).FindStringSubmatch(stdout)
	if code != 0 || m == nil {
		t.Fatalf("locks: exit %d, no hold row:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runHookshim(t, r.dir, r.env, append([]string{"locks", "--json"}, r.locksArgs()...)...)
	j := regexp.MustCompile(`"state": "hookshim-hold",(?:.|\n)*?"holder_process": "(\w+)"`).FindStringSubmatch(stdout)
	if code != 0 || j == nil {
		t.Fatalf("locks --json: exit %d, no hold:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	return m[1], j[1]
}
