package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/liveness"
	"github.com/hookshim/hookshim/lockfile"
)

// unlockArgs are `hookshim unlock --service app` pointed at the rig's lock.
func (r *rig) unlockArgs(args ...string) []string {
	return append(append([]string{"unlock", "--service", "app"}, r.where...), args...)
}

// auditLog is Kamal's audit log for service app on the rig's lock host.
func (r *rig) auditLog() string {
	b, _ := os.ReadFile(filepath.Join(r.home, ".kamal", "app-audit.log"))
	return string(b)
}

// startOnTerminalArgs starts hookshim with args on a new pseudo-terminal that
// is its controlling terminal, in the terminal's foreground, as from an
// interactive shell.
func startOnTerminalArgs(t *testing.T, dir string, env []string, args ...string) *terminalRun {
	t.Helper()
	cmd := exec.Command(faultHookshim(t), args...)
	cmd.Dir, cmd.Env = dir, env
	return runOnTerminal(t, cmd)
}

// oldLock writes an automatic Kamal lock taken by lockedBy two hours ago.
func (r *rig) oldLock(lockedBy string) []byte {
	r.t.Helper()
	return r.lockTakenAgo(lockedBy, 2*time.Hour)
}

// lockTakenAgo writes, as Kamal does, an automatic deploy lock taken by
// lockedBy ago before now, and returns its details file.
func (r *rig) lockTakenAgo(lockedBy string, ago time.Duration) []byte {
	r.t.Helper()
	d := lockfile.Details{LockedBy: lockedBy, At: time.Now().UTC().Add(-ago).Truncate(time.Second), Version: "d018f90b", Message: lockfile.AutomaticMessage}
	b := d.FileContent()
	if err := os.MkdirAll(filepath.Join(r.home, lockPath), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.home, lockPath, "details"), b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return b
}

// An automatic lock older than --older-than is removed only once a person
// says yes on the terminal; any other answer leaves it.
func TestUnlockConfirmOnTerminal(t *testing.T) {
	r := localRig(t)
	want := r.oldLock("Anna Schmidt")
	term := startOnTerminalArgs(t, r.dir, r.env, r.unlockArgs()...)
	term.expect(t, `lock \.kamal/lock-app on local .* is an automatic deploy lock, 2h00m old, older than --older-than 1h00m, held by Anna Schmidt since .*\. Remove it\? \[y/N\] `)
	term.send(t, "n\n")
	if code := term.exit(t); code != 75 {
		t.Fatalf("exit %d after no, want 75:\n%s", code, term.out)
	}
	term.expect(t, `not removed: not confirmed`)
	if got := readLock(t, r.home, lockPath); !bytes.Equal(got, want) {
		t.Fatalf("the lock changed after no: %q", got)
	}

	term = startOnTerminalArgs(t, r.dir, r.env, r.unlockArgs()...)
	term.expect(t, `Remove it\? \[y/N\] `)
	term.send(t, "y\n")
	if code := term.exit(t); code != 0 {
		t.Fatalf("exit %d after yes, want 0:\n%s", code, term.out)
	}
	if readLock(t, r.home, lockPath) != nil {
		t.Fatal("the lock is still there after yes")
	}
	if !regexp.MustCompile(`\] \[deployer\] hookshim unlock removed the deploy lock \.kamal/lock-app held by Anna Schmidt .*; confirmed on a terminal\n$`).MatchString(r.auditLog()) {
		t.Fatalf("audit log: %q", r.auditLog())
	}
}

// The lock is released and taken by someone else while the person reads the
// question: their yes is for the lock they saw, so the new lock stays, byte
// for byte, and nothing is written to the audit log. Locally and over SSH.
func TestFaultUnlockLockReplacedBeforeRemoval(t *testing.T) {
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "ssh"}[remote]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			if remote {
				r = remoteRig(t, nil)
			}
			r.oldLock("Anna Schmidt")
			term := startOnTerminalArgs(t, r.dir, r.env, r.unlockArgs()...)
			term.expect(t, `held by Anna Schmidt .*\. Remove it\? \[y/N\] `)
			// Anna's deploy ends and Bruno's begins, both within the same second.
			if err := os.RemoveAll(filepath.Join(r.home, lockPath)); err != nil {
				t.Fatal(err)
			}
			theirs := r.lockTakenAgo("Bruno Costa", 2*time.Hour)
			term.send(t, "y\n")
			if code := term.exit(t); code != 75 {
				t.Fatalf("exit %d, want 75:\n%s", code, term.out)
			}
			term.expect(t, `lock \.kamal/lock-app on \S+( \S+)? changed since it was looked at \(now held by Bruno Costa since .*\); not removed`)
			if got := readLock(t, r.home, lockPath); !bytes.Equal(got, theirs) {
				t.Fatalf("the new lock was touched: %q, want %q", got, theirs)
			}
			if log := r.auditLog(); log != "" {
				t.Fatalf("audit log written for a removal that did not happen: %q", log)
			}
		})
	}
}

// hookshim is killed with SIGKILL while its hook runs: the hook runs on, so
// the hold is live: locks shows it so, and unlock refuses, naming the hook's
// process. Once the hook has ended too, the hold is provably dead: locks shows
// `hookshim-hold (dead)` (JSON holder_process "gone"; before, it looked live
// and only unlock said otherwise), and unlock releases it with no question,
// writing why to Kamal's audit log. Locally and over SSH.
func TestFaultUnlockHookOutlivesHookshim(t *testing.T) {
	for _, remote := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "ssh"}[remote]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			if remote {
				r = remoteRig(t, nil)
			}
			p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
			_, pgid, token := r.hookStarted()
			p.signal(syscall.SIGKILL)
			if code := p.exit(); code != 137 {
				t.Fatalf("hookshim exit %d, want 137", code)
			}
			if state, proc := holdState(t, r); state != "hookshim-hold" || proc != "running" {
				t.Errorf("locks while the hook runs: STATE %q, holder_process %q; want hookshim-hold, running", state, proc)
			}
			code, _, stderr := runHookshim(t, r.dir, r.env, r.unlockArgs("--yes", "--force")...)
			wantLive := `is a live hookshim hold for post-deploy \(token ` + token + `\): hookshim pid ` + strconv.Itoa(p.cmd.Process.Pid) + ` has ended, but its hook still runs: pid ` + pgid + ` \([^)]+\), process group ` + pgid + `; not removed`
			if code != 75 || !regexp.MustCompile(wantLive).MatchString(stderr) {
				t.Fatalf("unlock while the hook runs: exit %d, want 75 matching %q; stderr:\n%s", code, wantLive, stderr)
			}
			r.leftoverNamed("post-deploy", token, p.cmd.Process.Pid)

			r.gate.open(t, 1)
			r.ev.expect("end")
			hookEnded(t, pgid)
			if state, proc := holdState(t, r); state != "hookshim-hold (dead)" || proc != "gone" {
				t.Errorf("locks once the hook ended: STATE %q, holder_process %q; want hookshim-hold (dead), gone", state, proc)
			}
			code, _, stderr = runHookshim(t, r.dir, r.env, r.unlockArgs()...)
			if code != 0 || !regexp.MustCompile(`released lock \.kamal/lock-app on .*: hookshim's hold for post-deploy \(token `+token+`\) is dead: .*its hook has ended too; no confirmation needed`).MatchString(stderr) {
				t.Fatalf("unlock once the hook ended: exit %d; stderr:\n%s", code, stderr)
			}
			r.noLocks()
			if !regexp.MustCompile(`\] \[deployer\] hookshim unlock removed the deploy lock \.kamal/lock-app held by .*hold ` + token + ` .*: hookshim's hold for post-deploy .* is dead: `).MatchString(r.auditLog()) {
				t.Fatalf("audit log: %q", r.auditLog())
			}
		})
	}
}

// hookEnded waits until process pid has ended (gone, or a zombie nobody has
// collected yet).
func hookEnded(t *testing.T, pid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(faultTimeout); ; {
		st, err := liveness.Read(n)
		if errors.Is(err, liveness.ErrNoProcess) || err == nil && st.Ended() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s did not end within %s", pid, faultTimeout)
		}
		time.Sleep(10 * time.Millisecond) // polling for the process's end, a condition
	}
}
