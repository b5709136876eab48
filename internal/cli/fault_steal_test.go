package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// The lock stolen while a hold runs: someone removed hookshim's lock (kamal
// lock release, by hand) and someone else took it. The hook still runs to its
// end exactly once, and hookshim's release leaves the new holder's lock alone:
// release never removes a lock with another token.
func TestFaultLockStolenDuringHold(t *testing.T) {
	thief := map[string]func() lockfile.Details{
		// an ordinary Kamal deploy took it
		"by-kamal": func() lockfile.Details {
			return lockfile.Details{LockedBy: "Bo", At: time.Now().UTC().Truncate(time.Second), Version: "v2", Message: lockfile.AutomaticMessage}
		},
		// another hookshim hold took it: same message shape, another token
		"by-hookshim": func() lockfile.Details {
			h := lockfile.Hold{Hook: "post-deploy", Token: lockfile.NewToken(), User: "deployer", Host: "other-ci", PID: 4242}
			return lockfile.Details{LockedBy: "Unknown", At: time.Now().UTC().Truncate(time.Second), Message: h.Message()}
		},
		// nobody took it: it is simply gone
		"removed": nil,
	}
	for _, where := range []string{"local", "ssh"} {
		for name, d := range thief {
			t.Run(where+"/"+name, func(t *testing.T) {
				t.Parallel()
				var r *rig
				if where == "local" {
					r = localRig(t)
				} else {
					r = remoteRig(t, nil)
				}
				p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
				r.hookStarted()
				lock := filepath.Join(r.home, lockPath)
				if err := os.RemoveAll(lock); err != nil {
					t.Fatal(err)
				}
				var want []byte
				if d != nil {
					want = d().FileContent()
					if err := os.Mkdir(lock, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(lock, "details"), want, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				r.gate.open(t, 1)
				r.ev.expect("end")
				if code := p.exit(); code != 0 {
					t.Fatalf("exit status %d, want 0 (the hook's)", code)
				}
				r.ev.none()
				if d == nil {
					p.waitLog(`was removed by someone else while the hook ran`)
					r.noLocks()
					return
				}
				p.waitLog(`was taken over while the hook ran \(now held by .*\); left it alone`)
				if got := readLock(t, r.home, lockPath); string(got) != string(want) {
					t.Fatalf("the new holder's lock was changed: %q, want %q", got, want)
				}
			})
		}
	}
}
