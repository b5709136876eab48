package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// A lock tree the SSH user cannot look into: deploys made first as root and
// later as a `deploy` user leave ~/.kamal owned by root, mode 0700 (or 0711:
// searchable, not listable). A lock that cannot be seen is of an unknown
// holder, never free.

// unprivilegedRig is a remote rig whose SSH user is not root: the lock tree's
// root-owned parts are closed to it, as on a real host.
func unprivilegedRig(t *testing.T) *rig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: a lock tree owned by another user, and an SSH login as an unprivileged user")
	}
	r := newRig(t)
	h := sshtest.Start(t, sshtest.Options{User: sshtest.UnprivilegedUser(t)})
	r.host, r.home = h, h.Home
	r.where = []string{"--host", h.Target.String(), "--ssh-config", h.ConfigFile}
	return r
}

// rootOwnedKamal makes ~/.kamal a root-owned directory with mode, holding
// someone else's automatic lock.
func (r *rig) rootOwnedKamal(mode os.FileMode) {
	r.t.Helper()
	r.theirs() // created by root: .kamal and the lock are root's
	if err := os.Chmod(filepath.Join(r.home, ".kamal"), mode); err != nil {
		r.t.Fatal(err)
	}
}

func TestSecurityUnreadableLockDirIsNeverFree(t *testing.T) {
	for _, mode := range []os.FileMode{0o700, 0o711} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			r := unprivilegedRig(t)
			r.rootOwnedKamal(mode)

			// run: the lock cannot be seen, so it is of an unknown holder; the
			// hook is refused, not run as though the lock were free.
			code, _, stderr := runHookshim(t, r.dir, r.env, r.runArgs("post-deploy", "--", "sh", "-c", `echo ran > "$EVENTS"`)...)
			r.ev.none()
			if code != 75 || strings.Contains(stderr, "is free") {
				t.Fatalf("run with %s unreadable: exit %d, want 75 (unknown holder, refused); stderr:\n%s\n"+
					"BUG lockfile/remote.go scanScript: a path that `[ -e ]` cannot see behind a directory the SSH user cannot search is reported free",
					filepath.Join(".kamal"), code, stderr)
			}

			// locks: the tree that cannot be listed is a row of its own, unreadable,
			// and --fail-if-held counts it.
			code, out, stderr := runHookshim(t, r.dir, r.env, append([]string{"locks", "--json"}, r.locksArgs()...)...)
			var doc struct {
				Locks []lockJSON `json:"locks"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("locks --json: exit %d: %v\n%s%s", code, err, out, stderr)
			}
			if code != 0 || len(doc.Locks) == 0 || doc.Locks[0].State != "unreadable" {
				t.Fatalf("locks with .kamal %s: exit %d, locks %+v; want a row saying the locks there are unreadable\n"+
					"BUG lockfile/remote.go scanScript: a glob in a directory that cannot be listed matches nothing, so the scan reports no lock", mode, code, doc.Locks)
			}
			code, out, stderr = runHookshim(t, r.dir, r.env, append([]string{"locks", "--fail-if-held"}, r.locksArgs()...)...)
			if code != 75 || !strings.Contains(out, "unreadable") {
				t.Fatalf("locks --fail-if-held: exit %d, want 75 with the unreadable row:\n%s%s", code, out, stderr)
			}
		})
	}
}
