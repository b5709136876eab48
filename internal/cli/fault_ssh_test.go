package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The SSH connection to the lock host dropped (sshd stopped, every open
// connection cut, then started again) while hookshim waits for the lock and
// while it holds it.

// Mid-wait: the dropped connection makes the lock unknown, never free; the
// wait goes on over a new connection, and once the lock is released the hook
// runs exactly once under a hold that is released afterwards.
func TestFaultSSHDropWhileWaiting(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, nil)
	r.theirs()
	p := r.run("--policy", "hold", "--wait", "1m", "--poll", "50ms", "post-deploy", "--", r.hook, "h1")
	p.waitLog(`waiting up to 1m0s for it`)
	r.host.Stop()
	p.waitLog(`retrying`)
	r.ev.none() // an unreachable lock is not a free one
	r.host.Restart()
	if err := os.RemoveAll(filepath.Join(r.home, lockPath)); err != nil {
		t.Fatal(err)
	}
	id, _, token := r.hookStarted()
	if id != "h1" || !tokenRE.MatchString(token) {
		t.Fatalf("hook started as %q with token %q, want h1 under a hold", id, token)
	}
	r.gate.open(t, 1)
	r.ev.expect("end")
	if code := p.exit(); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	p.waitLog(`released lock \.kamal/lock-app`)
	r.ev.none()
	r.noLocks()
}

// Mid-hold: the connection hookshim holds the lock through drops while the
// hook runs; the release goes over a new connection once the host is back.
func TestFaultSSHDropWhileHolding(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, nil)
	p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
	r.hookStarted()
	r.host.Stop()
	r.host.Restart()
	r.gate.open(t, 1)
	r.ev.expect("end")
	if code := p.exit(); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	p.waitLog(`released lock \.kamal/lock-app`)
	r.ev.none()
	r.noLocks()
	r.host.WaitIdle(t, faultTimeout)
}

// The host stays down through every release attempt: hookshim says it could
// not release (exit 69, naming the hold's token), and the lock it had to
// leave is named as its hold once the host is back.
func TestFaultSSHDownAtRelease(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, nil)
	p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
	_, _, token := r.hookStarted()
	r.host.Stop()
	r.gate.open(t, 1)
	r.ev.expect("end")
	if code := p.exit(); code != 69 {
		t.Fatalf("exit status %d, want 69", code)
	}
	p.waitLog(`could not release lock \.kamal/lock-app`)
	if !strings.Contains(p.stderr.String(), token) {
		t.Fatalf("the error does not name the hold's token %s:\n%s", token, p.stderr)
	}
	r.host.Restart()
	r.ev.none()
	r.leftoverNamed("post-deploy", token, p.cmd.Process.Pid)
}

// The hook fails and the host is down through every release attempt: the
// hook's status passes through, and the lock left behind is still told as an
// error with the hint that removes it, like any error hookshim reports.
func TestFaultSSHDownAtReleaseAfterHookFailed(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, nil)
	p := r.run("--policy", "hold", "post-deploy", "--", "sh", "-c", `"$0" h1; exit 3`, r.hook)
	_, _, token := r.hookStarted()
	r.host.Stop()
	r.gate.open(t, 1)
	r.ev.expect("end")
	if code := p.exit(); code != 3 {
		t.Fatalf("exit status %d, want the hook's 3", code)
	}
	p.waitLog(`(?m)^hookshim: error: post-deploy: could not release lock \.kamal/lock-app`)
	p.waitLog(`(?m)^hookshim: hint: it is hookshim's hold ` + token + `; remove it with: `)
	r.host.Restart()
	r.ev.none()
	r.leftoverNamed("post-deploy", token, p.cmd.Process.Pid)
}
