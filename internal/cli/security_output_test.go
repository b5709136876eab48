package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hookshim/hookshim/lockfile"
)

// hostileDetails is a lock whose Locked by, Version and Message try to drive
// the terminal: retitle the window, conceal text, return to the start of the
// line and print a fake "lock is free; running now", clear the screen, move
// the cursor up, reverse the text (U+202E), a C1 CSI (0x9b); and a backslash
// that must not read as an escape once escapes are shown.
func hostileDetails() lockfile.Details {
	return lockfile.Details{
		LockedBy: "Eve \x1b]0;pwned\x07\x1b[8mconcealed\x1b[0m\rhookshim: post-deploy: lock .kamal/lock-app is free; running now (policy hold) C:\\new",
		At:       time.Now().UTC().Truncate(time.Second),
		Version:  "v2\x1b[2J\u009b31m\u202eesrever",
		Message:  "deploying\nhookshim: FAKE: all clear\x1b[1A",
	}
}

// putLock writes d as the lock at lockPath under home, replacing any details
// there in one rename.
func putLock(t *testing.T, home string, d lockfile.Details) {
	t.Helper()
	dir := filepath.Join(home, lockPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(home, "details.tmp")
	if err := os.WriteFile(tmp, d.FileContent(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "details")); err != nil {
		t.Fatal(err)
	}
}

// assertEscaped checks that out carries no byte that drives a terminal (only
// the newlines that end lines), that every line is hookshim's own or the
// hook's, that no value started a line of its own, and that the hostile
// values were shown escaped, backslash included.
func assertEscaped(t *testing.T, what, out string, hookLines ...string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0 || unicode.Is(unicode.Cf, r)) {
			t.Fatalf("%s printed %U raw:\n%q", what, r, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "hookshim: ") && !contains(hookLines, line) {
			t.Fatalf("%s printed a line that is neither hookshim's nor the hook's: %q\nall:\n%s", what, line, out)
		}
		for _, fake := range []string{"hookshim: post-deploy: lock .kamal/lock-app is free", "hookshim: FAKE"} {
			if strings.HasPrefix(line, fake) {
				t.Fatalf("%s printed a line from a lock file as its own: %q", what, line)
			}
		}
	}
	for _, want := range []string{`\x1b]0;pwned\x07`, `\rhookshim: post-deploy: lock .kamal/lock-app is free`, `C:\\new`} {
		if !strings.Contains(out, want) {
			t.Fatalf("%s does not show the holder escaped (%s):\n%s", what, want, out)
		}
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// Terminal escapes from a lock's Locked by, Version and Message never reach
// the terminal: not in `run`'s decision and refusal lines, not in the lines
// of a wait, not in a deferred hook's waiter log that
// `hookshim wait` prints.
func TestSecurityLockValuesEscapedEverywhere(t *testing.T) {
	t.Run("refusal", func(t *testing.T) {
		t.Parallel()
		r := localRig(t)
		putLock(t, r.home, hostileDetails())
		p := r.run("--policy", "strict", "post-deploy", "--", "sh", "-c", "echo hook ran")
		if code := p.exit(); code != 75 {
			t.Fatalf("exit %d, want 75", code)
		}
		p.stderr.waitEOF(faultTimeout)
		assertEscaped(t, "run's refusal", p.stderr.String())
		if !strings.Contains(p.stderr.String(), `version v2\x1b[2J\x9b31m\u202eesrever, message "deploying\nhookshim: FAKE: all clear\x1b[1A"`) {
			t.Fatalf("version and message not shown escaped:\n%s", p.stderr)
		}
	})
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		r := localRig(t)
		putLock(t, r.home, hostileDetails())
		p := r.run("--policy", "hold", "--wait", "1m", "--wait-manual", "--poll", "20ms", "post-deploy", "--", "sh", "-c", "echo hook ran >&2")
		p.waitLog(`waiting up to 1m0s for it`)
		r.kamalReleases()
		if code := p.exit(); code != 0 {
			t.Fatalf("exit %d:\n%s", code, p.stderr)
		}
		p.stderr.waitEOF(faultTimeout)
		assertEscaped(t, "run --wait", p.stderr.String(), "hook ran")
	})
	t.Run("deferred", func(t *testing.T) {
		t.Parallel()
		r := localRig(t)
		state := filepath.Join(filepath.Dir(r.dir), "state")
		putLock(t, r.home, hostileDetails())
		code, _, stderr := runHookshim(t, r.dir, r.env, r.runArgs("--policy", "defer", "--state-dir", state, "post-deploy", "--", "sh", "-c", "echo hook ran")...)
		m := deferredRE.FindStringSubmatch(stderr)
		if code != 0 || m == nil {
			t.Fatalf("deferring: exit %d:\n%s", code, stderr)
		}
		assertEscaped(t, "run's deferral", stderr)
		waiter, _ := strconv.Atoi(m[2])
		killWaiterLater(t, waiter, state)
		// The waiter's first look, in its log, before the release.
		logPath := filepath.Join(state, "jobs", m[1], "log")
		deadline := time.Now().Add(faultTimeout)
		for b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "waiting up to"); b, _ = os.ReadFile(logPath) {
			if time.Now().After(deadline) {
				t.Fatalf("the waiter never logged its wait:\n%s", b)
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.kamalReleases()
		code, out, stderr := runHookshim(t, r.dir, r.env, "wait", "--state-dir", state, "--timeout", "20s")
		if code != 0 {
			t.Fatalf("wait: exit %d:\n%s%s", code, out, stderr)
		}
		assertEscaped(t, "wait (the waiter's log)", out, "hook ran")
	})
}
