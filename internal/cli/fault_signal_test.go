package cli

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// SIGTERM or SIGKILL of `hookshim run --policy hold` at each step of a hold:
// waiting to take the lock, taking it, running the hook, releasing it. After
// each, no hook is lost or run twice, and no lock of hookshim's is left behind
// or, where that cannot be helped (SIGKILL while holding), `hookshim locks`
// names the leftover as hookshim's with its token, host and pid.

var tokenRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// Before taking: hookshim waits for someone else's lock. Killed or
// terminated there, it never runs the hook and leaves their lock alone.
func TestFaultSignalWhileWaiting(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			theirs := r.theirs()
			p := r.run("--policy", "hold", "--wait", "1m", "--poll", "20ms", "post-deploy", "--", r.hook)
			p.waitLog(`waiting up to 1m0s for it`)
			p.signal(sig)
			code := p.exit()
			if code != 128+int(sig) {
				t.Fatalf("exit status %d, want %d", code, 128+int(sig))
			}
			if sig == syscall.SIGTERM {
				p.waitLog(`interrupted by SIGTERM while waiting for the lock; nothing was run`)
			}
			r.ev.none() // the hook never started
			r.onlyTheirs(theirs)
		})
	}
}

// fakeMkdir pauses on the host right after it made the lock directory, before
// Kamal's `echo ... > details`: the window in which a lock has no holder yet.
const fakeMkdir = `#!/bin/sh
/bin/mkdir "$@" || exit
case " $* " in *" -p "*) exit 0;; esac
for a do last=$a; done
case "$last" in *lock-app) echo "mkdir $last" > EVENTS; read x < GATE;; esac
exit 0
`

// While taking: the lock directory exists on the host, its details are not
// written yet. SIGTERM: hookshim finishes taking it, does not run the hook
// (or, when the signal lands just as the hook starts, forwards it at once),
// and releases it. SIGKILL: the host finishes Kamal's mkdir-and-echo on its own,
// so the leftover names hookshim's hold and the killed pid.
func TestFaultSignalWhileTaking(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := remoteRig(t, map[string]string{"mkdir": fakeMkdir})
			p := r.run("--policy", "hold", "post-deploy", "--", r.hook)
			r.ev.expect("mkdir")
			p.signal(sig)
			if sig == syscall.SIGKILL {
				p.exit() // dead before the host goes on
			}
			r.gate.open(t, 1)
			code := p.exit()
			if code != 128+int(sig) {
				t.Fatalf("exit status %d, want %d", code, 128+int(sig))
			}
			if sig == syscall.SIGTERM {
				p.waitLog(`released lock \.kamal/lock-app`)
				// The signal reaches hookshim's handler asynchronously: either
				// the hook is never started, or it is started as the signal
				// lands and at once gets it forwarded. Either way it does not
				// run to its end, and runs at most once.
				if ev := r.ev.drain(); len(ev) > 1 || len(ev) == 1 && !strings.HasPrefix(ev[0], "start ") {
					t.Fatalf("hook events %q, want none, or one start that was terminated", ev)
				}
				r.noLocks()
				return
			}
			// The session hookshim started goes on without it: wait until the
			// host has finished with every connection.
			r.host.WaitIdle(t, faultTimeout)
			r.ev.none()
			ls := locksNow(t, r.dir, r.env, r.locksArgs()...)
			if len(ls) != 1 || ls[0].Hold == nil || !tokenRE.MatchString(ls[0].Hold.Token) {
				t.Fatalf("want the leftover named as hookshim's hold, got %+v", ls)
			}
			r.leftoverNamed("post-deploy", ls[0].Hold.Token, p.cmd.Process.Pid)
		})
	}
}

// During the hook. SIGTERM goes to the hook's process group; the hook ends,
// the lock is released, and the status says the hook was terminated. SIGKILL
// cannot be caught: the hook runs on to its end, once, and the lock it leaves
// is named with the token the hook was given and the pid that was killed, and
// blocks the next hold until released.
func TestFaultSignalDuringHook(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
			id, _, token := r.hookStarted()
			if id != "h1" || !tokenRE.MatchString(token) {
				t.Fatalf("hook started as %q with token %q", id, token)
			}
			p.signal(sig)
			code := p.exit()
			if code != 128+int(sig) {
				t.Fatalf("exit status %d, want %d", code, 128+int(sig))
			}
			if sig == syscall.SIGTERM {
				p.waitLog(`released lock \.kamal/lock-app`)
				r.ev.none() // no "end": the hook was terminated, and not started again
				r.noLocks()
				return
			}
			r.leftoverNamed("post-deploy", token, p.cmd.Process.Pid)
			// The next hold is refused, naming the leftover hold.
			code, _, stderr := runHookshim(t, r.dir, r.env, r.runArgs("--policy", "hold", "post-deploy", "--", r.hook, "h2")...)
			if code != 75 || !regexp.MustCompile(`hookshim post-deploy hold `+token+` by deployer@\S+ pid `+strconv.Itoa(p.cmd.Process.Pid)).MatchString(stderr) {
				t.Fatalf("second hold: exit %d, want 75 naming the leftover hold; stderr:\n%s", code, stderr)
			}
			// The orphaned hook finishes, once.
			r.gate.open(t, 1)
			if f := r.ev.expect("end"); f[1] != "h1" {
				t.Fatalf("end event %v", f)
			}
			r.ev.none()
		})
	}
}

// fakeRm pauses on the host before Kamal's `rm <lock>/details`.
const fakeRm = `#!/bin/sh
for a do last=$a; done
case "$last" in *lock-app/details) echo "rm $last" > EVENTS; read x < GATE;; esac
exec /bin/rm "$@"
`

// During the release. SIGTERM: the release goes on to the end (exit 0: the
// hook succeeded and its lock is gone). SIGKILL: the release script already
// runs on the host and finishes on its own; no lock is left.
func TestFaultSignalDuringRelease(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := remoteRig(t, map[string]string{"rm": fakeRm})
			p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
			r.hookStarted()
			r.gate.open(t, 1) // the hook ends
			r.ev.expect("end")
			r.ev.expect("rm")
			p.signal(sig)
			if sig == syscall.SIGKILL {
				p.exit()
			}
			r.gate.open(t, 1) // the host goes on with the release
			code := p.exit()
			switch {
			case sig == syscall.SIGTERM && code != 0:
				t.Fatalf("exit status %d, want 0 (the hook succeeded, the release finished)", code)
			case sig == syscall.SIGKILL && code != 137:
				t.Fatalf("exit status %d, want 137", code)
			}
			if sig == syscall.SIGTERM {
				p.waitLog(`released lock \.kamal/lock-app`)
			}
			r.host.WaitIdle(t, faultTimeout)
			r.ev.none()
			r.noLocks()
		})
	}
}
