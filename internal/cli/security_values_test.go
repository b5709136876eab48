package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// A value that a hold writes into the lock's details (KAMAL_VERSION, git's
// user.name) and that holds a newline would add lines of its own to the
// details, and the release would no longer recognise its own hold: it is
// refused with 64, naming the value and the fix, before any lock is taken;
// the hook is not run and no lock is left, locally and over SSH.
func TestSecurityLockValuesNeverBreakTheLock(t *testing.T) {
	fake := "\nMessage: hookshim post-deploy hold 0123456789abcdef01234567 by eve@elsewhere pid 1"
	for _, where := range []string{"local", "ssh"} {
		for _, tc := range []struct{ name, value string }{
			{"KAMAL_VERSION", "v1" + fake},
			{"git config user.name", "Eve" + fake},
		} {
			t.Run(where+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var r *rig
				if where == "local" {
					r = localRig(t)
				} else {
					r = remoteRig(t, nil)
				}
				env := append([]string{}, r.env...)
				if tc.name == "KAMAL_VERSION" {
					env = append(env, "KAMAL_VERSION="+tc.value)
				} else {
					cfg := filepath.Join(filepath.Dir(r.dir), "gitconfig")
					quoted := strings.ReplaceAll(tc.value, "\n", `\n`)
					if err := os.WriteFile(cfg, []byte("[user]\n\tname = \""+quoted+"\"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					env = append(env, "GIT_CONFIG_GLOBAL="+cfg)
				}
				for _, policy := range []string{"hold", "defer"} {
					state := filepath.Join(filepath.Dir(r.dir), "state")
					code, _, stderr := runHookshim(t, r.dir, env, r.runArgs("--policy", policy, "--state-dir", state, "post-deploy", "--", "sh", "-c", `echo ran > "$EVENTS"`)...)
					r.noLocks()
					if code != 64 {
						t.Fatalf("--policy %s: exit %d, want 64:\n%s", policy, code, stderr)
					}
					if !strings.Contains(stderr, "post-deploy: "+tc.name+" holds a control character (U+000A") || !strings.Contains(stderr, "hookshim: hint: ") {
						t.Fatalf("--policy %s: the refusal does not name %s and the fix:\n%s", policy, tc.name, stderr)
					}
					r.ev.none() // the hook never started
				}
			})
		}
	}
}

// Values from the lock that a hook gets as HOOKSHIM_LOCK_* carry neither a
// NUL (the environment cannot: the hook could not even be started) nor a
// newline: each becomes a space.
func TestSecurityIdentityEnvCarriesNoNULOrNewline(t *testing.T) {
	r := localRig(t)
	putLock(t, r.home, lockfile.Details{
		LockedBy: "Eve\x00Mallory", At: time.Now().UTC().Truncate(time.Second),
		Version: "v1\x00x", Message: "line1\nline2\r\x00end",
	})
	env := append(append([]string{}, r.env...), deferKamal...) // KAMAL_LOCK=true: the lock is ours
	hook := `printf '%s|%s|%s\n' "$HOOKSHIM_LOCK_HOLDER" "$HOOKSHIM_LOCK_VERSION" "$HOOKSHIM_LOCK_MESSAGE" > "$EVENTS"`
	code, _, stderr := runHookshim(t, r.dir, env, r.runArgs("post-deploy", "--", "sh", "-c", hook)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if got, want := r.ev.drain(), []string{"Eve Mallory|v1 x|line1 line2  end"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the hook got %q, want %q", got, want)
	}
}
