package shim

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// remoteFixture points a runner at a real sshd on loopback, with Dial giving
// one multiplexed connection as in `hookshim run`.
func remoteFixture(t *testing.T, policy Policy, script string) (*fixture, *sshtest.Host) {
	t.Helper()
	h := sshtest.Start(t, sshtest.Options{})
	f := newFixture(t, policy, script)
	f.home = h.Home
	f.store = lockfile.Remote{Host: h.Addr, Runner: lockfile.OnHost(h.Client, h.Target)}
	f.r.Store = f.store
	f.r.Dial = func(ctx context.Context) (lockfile.Store, io.Closer, error) {
		conn, err := h.Client.Dial(ctx, h.Target)
		if err != nil {
			return nil, nil, err
		}
		return lockfile.Remote{Host: h.Addr, Runner: conn}, conn, nil
	}
	f.r.Env = append(f.r.Env, "LOCKDIR="+filepath.Join(h.Home, lockPath))
	return f, h
}

// Waiting polls over one multiplexed connection: many looks, no new handshake
// per look, and the hook runs under hookshim's hold once the lock is released.
func TestWaitOverSSHUsesOneConnection(t *testing.T) {
	f, h := remoteFixture(t, Hold, `base64 -d < "$LOCKDIR/details" | grep -q "hookshim post-deploy hold" && echo held-by-hookshim`)
	f.takeAs(t, "Other Deployer", lockfile.AutomaticMessage)
	f.r.Wait = time.Minute
	f.r.Poll = 20 * time.Millisecond
	before := h.Logins(t)
	done := make(chan error, 1)
	go func() { done <- f.r.Run(context.Background()) }()
	// Let it look several times (each look logs a line), then release.
	looks := 0
	for line := range f.log.lines {
		if strings.Contains(line, "still held") {
			if looks++; looks == 8 {
				break
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(h.Home, lockPath)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, f.log)
	}
	if !strings.Contains(f.stdout.String(), "held-by-hookshim") {
		t.Fatalf("hook did not run under the hold:\n%s\n%s", f.stdout, f.log)
	}
	// One login: the multiplexed connection that the first look, every later
	// look, the take and the release all go through.
	if n := h.Logins(t) - before; n != 1 {
		t.Errorf("%d SSH logins for %d looks: polling must reuse one connection", n, looks)
	}
	if f.lockState(t).State != lockfile.Free {
		t.Fatal("lock left behind")
	}
}

// An unreachable host is exit 69 with the SSH error, never "lock held".
func TestUnreachableIsNotHeld(t *testing.T) {
	f := newFixture(t, Strict, "echo ran\n")
	ct := sshtest.ClosedTarget(t)
	h := sshtest.Start(t, sshtest.Options{})
	f.r.Store = lockfile.Remote{Host: ct.Host, Runner: lockfile.OnHost(h.Client, ct)}
	err := f.r.Run(context.Background())
	if exitcode.Code(err) != exitcode.Unavailable || strings.Contains(err.Error(), "held") {
		t.Fatalf("got %d: %v", exitcode.Code(err), err)
	}
	if !strings.Contains(err.Error(), "cannot read the deploy lock") || !strings.Contains(strings.ToLower(err.Error()), "refused") {
		t.Fatalf("error lacks the SSH reason: %v", err)
	}
}

// answerLost runs every script on the real host, but loses the answer to the
// first one that takes a lock (mkdir of the lock and its details), as a
// connection that drops right after the host did the work would.
type answerLost struct {
	lockfile.Runner
	target sshx.Target
	lost   atomic.Bool
}

func (a *answerLost) Run(ctx context.Context, script string, stdin io.Reader, args ...string) (sshx.Result, error) {
	res, err := a.Runner.Run(ctx, script, stdin, args...)
	// The acquire script (lockfile/acquire.sh) is the one that mkdirs its first argument.
	if err == nil && strings.Contains(script, `if mkdir "$1"; then`) && a.lost.CompareAndSwap(false, true) {
		return sshx.Result{}, &sshx.UnreachableError{Target: a.target, Stderr: "Connection reset by peer"}
	}
	return res, err
}

// A take whose answer is lost (the lock was made on the host, then the
// connection failed) is settled over a fresh look: the lock with the take's
// own token is used, never waited for, the hook runs once under it, and
// nothing is left locked.
func TestTakeWithLostAnswerLeavesNoLock(t *testing.T) {
	f, h := remoteFixture(t, Hold, "echo ran\n")
	lost := &answerLost{Runner: lockfile.OnHost(h.Client, h.Target), target: h.Target}
	f.store = lockfile.Remote{Host: h.Addr, Runner: lost}
	f.r.Store, f.r.Dial = f.store, nil
	if err := f.r.Run(context.Background()); err != nil {
		t.Fatalf("run: %v\n%s", err, f.log)
	}
	if !lost.lost.Load() {
		t.Fatal("the take never reached the host")
	}
	if got := strings.Count(f.stdout.String(), "ran"); got != 1 {
		t.Fatalf("the hook ran %d times:\n%s", got, f.stdout)
	}
	if l := f.lockState(t); l.State != lockfile.Free {
		t.Fatalf("the lock taken just before the failure was left on the host: %+v\n%s", l, f.log)
	}
	if !strings.Contains(f.log.String(), "took its own lock") {
		t.Errorf("the log does not say the lock was found to be its own:\n%s", f.log)
	}
}
