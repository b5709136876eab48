package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// lockPath is where the fault tests' lock lives: Kamal 2's lock for service app.
const lockPath = ".kamal/lock-app"

// rig is one fault test's world: a working directory (the repository), the
// lock host's home (a --root directory, or an sshd host's home), the events
// fifo and the gate, the test hook, and the flags that point hookshim at the
// lock.
type rig struct {
	t     *testing.T
	dir   string
	home  string
	env   []string
	ev    *events
	gate  *gate
	hook  string
	where []string      // --root HOME, or --host ... --ssh-config ...
	host  *sshtest.Host // nil for --root
}

func newRig(t *testing.T) *rig {
	t.Helper()
	base := t.TempDir()
	r := &rig{t: t, dir: filepath.Join(base, "repo")}
	for _, d := range []string{r.dir, filepath.Join(base, "userhome")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.ev = newEvents(t, base)
	r.gate = newGate(t, base)
	r.hook = hookScript(t, base)
	r.env = faultEnv(filepath.Join(base, "userhome"), "EVENTS="+r.ev.Path, "GATE="+r.gate.Path)
	return r
}

// localRig: the lock tree is a directory on this machine (--root).
func localRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t)
	r.home = filepath.Join(filepath.Dir(r.dir), "lockhome")
	if err := os.Mkdir(r.home, 0o755); err != nil {
		t.Fatal(err)
	}
	r.where = []string{"--root", r.home}
	return r
}

// remoteRig: the lock is on a real sshd host; fakes (name -> script) are put
// first in PATH there. In a fake, EVENTS and GATE stand for the fifos' paths.
func remoteRig(t *testing.T, fakes map[string]string) *rig {
	t.Helper()
	r := newRig(t)
	hostBin := ""
	if len(fakes) > 0 {
		hostBin = filepath.Join(filepath.Dir(r.dir), "hostbin")
		for name, script := range fakes {
			script = strings.ReplaceAll(script, "EVENTS", sshx.Quote(r.ev.Path))
			script = strings.ReplaceAll(script, "GATE", sshx.Quote(r.gate.Path))
			writeExe(t, filepath.Join(hostBin, name), script)
		}
	}
	h, where := faultHost(t, hostBin)
	r.host, r.home, r.where = h, h.Home, where
	return r
}

// run starts `hookshim run --service app WHERE ARGS...`.
func (r *rig) run(args ...string) *proc {
	r.t.Helper()
	return startHookshim(r.t, r.dir, r.env, r.runArgs(args...)...)
}

func (r *rig) runArgs(args ...string) []string {
	a := append([]string{"run", "--service", "app"}, r.where...)
	return append(a, args...)
}

// locksArgs point `hookshim locks` at the same place.
func (r *rig) locksArgs() []string { return r.where }

// theirs puts a lock taken by someone else (an automatic Kamal deploy lock)
// at lockPath and returns its details file.
func (r *rig) theirs() []byte {
	r.t.Helper()
	return r.automaticLock("Anna Schmidt")
}

// automaticLock writes, as Kamal does, an automatic deploy lock taken by
// lockedBy at lockPath, and returns its details file.
func (r *rig) automaticLock(lockedBy string) []byte {
	r.t.Helper()
	d := lockfile.Details{LockedBy: lockedBy, At: time.Now().UTC().Truncate(time.Second), Version: "d018f90b", Message: lockfile.AutomaticMessage}
	b := d.FileContent()
	if err := os.MkdirAll(filepath.Join(r.home, lockPath), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.home, lockPath, "details"), b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return b
}

// noHookshimLock checks that no lock at all is left (the tests start from an
// empty lock tree, so any lock would be hookshim's).
func (r *rig) noLocks() {
	r.t.Helper()
	assertNoLocks(r.t, r.dir, r.env, r.locksArgs()...)
}

// leftoverNamed checks that the one lock left is hookshim's hold for hook
// with token, by process pid on this machine.
func (r *rig) leftoverNamed(hook, token string, pid int) {
	r.t.Helper()
	assertLeftoverNamed(r.t, r.dir, r.env, hook, token, pid, r.locksArgs()...)
}

// onlyTheirs checks that the lock is still exactly the one theirs() put there.
func (r *rig) onlyTheirs(want []byte) {
	r.t.Helper()
	if got := readLock(r.t, r.home, lockPath); string(got) != string(want) {
		r.t.Fatalf("their lock changed: details %q, want %q", got, want)
	}
	ls := locksNow(r.t, r.dir, r.env, r.locksArgs()...)
	if len(ls) != 1 || ls[0].State != "held" || ls[0].Hold != nil {
		r.t.Fatalf("want only their lock, got %+v", ls)
	}
}

// hookStarted waits for the test hook's start event and returns its id, its
// process group and the hold token it was given.
func (r *rig) hookStarted() (id, pgid, token string) {
	r.t.Helper()
	f := r.ev.expect("start")
	id, pgid, token = fieldOr(f, 1), fieldOr(f, 2), fieldOr(f, 3)
	killGroupLater(r.t, pgid)
	return id, pgid, token
}
