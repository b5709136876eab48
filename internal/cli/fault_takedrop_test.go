package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The SSH connection drops the moment the host runs hookshim's `mkdir` of the
// lock: the host finishes Kamal's mkdir-and-echo on its own (the session's
// shell outlives sshd), so hookshim's own hold is there, and hookshim never
// heard that its take succeeded. The undo cannot go over the dead connection.

// dropAtMkdir drops every connection to the host while the fake mkdir waits
// on the gate, right after it made the lock directory, and lets the host go
// on once sshd is back.
func (r *rig) dropAtMkdir() {
	r.t.Helper()
	r.ev.expect("mkdir")
	r.host.Stop()
	r.host.Restart()
	r.gate.open(r.t, 1)
}

// `run --policy hold`: the lock it finds with its own token, over a fresh
// connection, is its own: it uses it (the hook runs once) or removes it, and
// in every case no lock is left behind unannounced.
func TestFaultSSHDropAtTake(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, map[string]string{"mkdir": fakeMkdir})
	p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
	r.dropAtMkdir()
	line, ok := r.ev.nextOr(p)
	if ok {
		if f := strings.Fields(line); len(f) < 4 || f[0] != "start" || f[1] != "h1" || !tokenRE.MatchString(f[3]) {
			t.Fatalf("event %q, want the hook's start under a hold", line)
		} else {
			killGroupLater(t, f[2])
		}
		r.gate.open(t, 1)
		r.ev.expect("end")
	}
	code := p.exit()
	if ok && code != 0 || !ok && code != 69 {
		t.Fatalf("exit status %d (hook ran: %v), want 0 when the hook ran, else 69", code, ok)
	}
	r.host.WaitIdle(t, faultTimeout)
	r.ev.none()
	ls := locksNow(t, r.dir, r.env, r.locksArgs()...)
	if len(ls) != 0 {
		t.Fatalf("hookshim left its own lock after the connection dropped at its mkdir (exit %d): %+v\n"+
			"BUG shim/hold.go take: the undo of a failed take goes over the dead connection; redo it on a fresh one, and treat a lock with our own token as ours",
			code, ls)
	}
	if !regexp.MustCompile(`(took|removed) (its own|the) lock`).MatchString(p.stderr.String()) {
		t.Fatalf("hookshim did not say what became of the lock its failed take left:\n%s", p.stderr)
	}
}

// A deferred hook whose waiter's take is cut off the same way: the waiter
// must not wait for its own leftover hold until --defer-timeout; the hook
// runs once, under that hold, which is then released.
func TestFaultSSHDropAtDeferredTake(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, map[string]string{"mkdir": fakeMkdir})
	state := filepath.Join(filepath.Dir(r.dir), "state")
	r.kamalLock()
	job, waiter := r.deferHook(state, "d1")
	r.kamalReleases()
	r.dropAtMkdir()
	f := r.ev.expect("start")
	killGroupLater(t, fieldOr(f, 2))
	if fieldOr(f, 1) != "d1" || !tokenRE.MatchString(fieldOr(f, 3)) {
		t.Fatalf("deferred hook started as %v, want d1 under a hold", f)
	}
	r.gate.open(t, 1)
	r.ev.expect("end")
	code, out := r.waitJob(state)
	if code != 0 || !strings.Contains(out, job) {
		t.Fatalf("hookshim wait: exit %d, want 0 for job %s:\n%s", code, job, out)
	}
	waiterGone(t, waiter)
	r.host.WaitIdle(t, faultTimeout)
	r.ev.none()
	r.noLocks()
}
