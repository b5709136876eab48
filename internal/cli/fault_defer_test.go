package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Faults of deferred hooks (`hookshim run --policy defer`): the waiter killed
// while it waits and while its hook runs, and a state directory that cannot
// take the job (read-only, full, a file-size limit). A deferred hook is never
// run twice, and never dropped silently: it runs, or `hookshim wait` (and the
// foreground `hookshim run`, when it cannot even be deferred) says it did not.

// deferEnv is what Kamal 2.6+'s `kamal setup` gives a post-deploy hook: the
// lock is held by the calling Kamal, and ours.
var deferKamal = []string{"KAMAL_LOCK=true", "KAMAL_COMMAND=setup", "KAMAL_VERSION=d018f90b"}

// kamalLock puts the calling Kamal's own automatic lock at lockPath.
func (r *rig) kamalLock() []byte {
	r.t.Helper()
	return r.automaticLock("Unknown")
}

// kamalReleases removes the lock as Kamal does at the end of setup.
func (r *rig) kamalReleases() {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.home, lockPath, "details")); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.home, lockPath)); err != nil {
		r.t.Fatal(err)
	}
}

var deferredRE = regexp.MustCompile(`deferred as job (\S+) \(waiter pid (\d+)\)`)

// deferHook runs `hookshim run --policy defer` and returns the job id and the
// waiter's pid; the foreground must exit 0 at once.
func (r *rig) deferHook(state string, id string) (job string, waiter int) {
	r.t.Helper()
	env := append(append([]string{}, r.env...), deferKamal...)
	code, _, stderr := runHookshim(r.t, r.dir, env, r.runArgs("--policy", "defer", "--state-dir", state, "post-deploy", "--", r.hook, id)...)
	m := deferredRE.FindStringSubmatch(stderr)
	if code != 0 || m == nil {
		r.t.Fatalf("deferring: exit %d, want 0 and a job; stderr:\n%s", code, stderr)
	}
	waiter, _ = strconv.Atoi(m[2])
	killWaiterLater(r.t, waiter, state)
	return m[1], waiter
}

// killWaiterLater kills the waiter when the test ends, if it still runs (and
// is still ours: its command line names the test's state dir).
func killWaiterLater(t *testing.T, pid int, state string) {
	t.Cleanup(func() {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && bytes.Contains(b, []byte(state)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// waiterGone waits until the detached waiter has exited (it is not this
// test's child: its parent, the foreground hookshim, exited long ago).
func waiterGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(faultTimeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("waiter %d still runs after %s", pid, faultTimeout)
}

// jobState reads the state `hookshim locks --json` reports for job id.
func (r *rig) jobState(state, id string) string {
	r.t.Helper()
	code, out, stderr := runHookshim(r.t, r.dir, r.env, append([]string{"locks", "--json", "--state-dir", state}, r.where...)...)
	if code != 0 {
		r.t.Fatalf("locks: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`"id": "` + regexp.QuoteMeta(id) + `",\s*"hook": "[^"]*",\s*"state": "([^"]+)"`).FindStringSubmatch(out)
	if m == nil {
		r.t.Fatalf("job %s not in hookshim locks --json:\n%s", id, out)
	}
	return m[1]
}

// waitJob runs `hookshim wait` in the repository and returns its status and
// output.
func (r *rig) waitJob(state string) (int, string) {
	r.t.Helper()
	code, out, stderr := runHookshim(r.t, r.dir, r.env, "wait", "--state-dir", state, "--timeout", "20s")
	return code, out + stderr
}

func (r *rig) hookLocksArgs(state string) []string {
	return append([]string{"--state-dir", state}, r.where...)
}

// The waiter killed while it waits for the lock. SIGKILL: the job is
// reported orphaned ("the hook was not run"), by `hookshim wait` (non-zero)
// and `hookshim locks`, and is never run, not after the release and not by
// a later `hookshim wait`. SIGTERM: the waiter records that the hook was not
// run, and `hookshim wait` exits 143. No lock is left either way.
func TestFaultDeferredWaiterKilledWhileWaiting(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			state := filepath.Join(filepath.Dir(r.dir), "state")
			r.kamalLock()
			job, waiter := r.deferHook(state, "d1")
			if s := r.jobState(state, job); s != "waiting" {
				t.Fatalf("job %s is %s, want waiting", job, s)
			}
			if err := syscall.Kill(waiter, sig); err != nil {
				t.Fatal(err)
			}
			waiterGone(t, waiter)
			r.kamalReleases()
			code, out := r.waitJob(state)
			want, what := 70, `is orphaned: its waiter \(pid `+strconv.Itoa(waiter)+`\) died while it waited for the lock: the hook was not run; it is not run again automatically`
			if sig == syscall.SIGTERM {
				want, what = 143, `job `+job+` \(post-deploy\) failed: the hook was not run: .*interrupted by SIGTERM`
			}
			if code != want || !regexp.MustCompile(what).MatchString(out) {
				t.Fatalf("hookshim wait: exit %d, want %d saying %q:\n%s", code, want, what, out)
			}
			// Asked again, it is still not run, and still reported so.
			code, out, stderr := runHookshim(t, r.dir, r.env, "wait", "--state-dir", state, job)
			if out += stderr; code != want || !regexp.MustCompile(what).MatchString(out) {
				t.Fatalf("hookshim wait, asked again: exit %d, want %d saying %q:\n%s", code, want, what, out)
			}
			r.ev.none()
			if sig == syscall.SIGKILL {
				if s := r.jobState(state, job); s != "orphaned" {
					t.Fatalf("job %s is %s, want orphaned", job, s)
				}
			}
			r.noLocks()
		})
	}
}

// The waiter killed while its deferred hook runs, under the hold it takes on
// Kamal 2.6+. SIGTERM: forwarded to the hook, the hold released, the job
// failed with 143. SIGKILL: the hook runs on to its end, once; the job is
// reported orphaned ("its outcome is unknown"), and the hold it had to leave
// is named with the waiter's pid and the token the hook was given.
func TestFaultDeferredWaiterKilledWhileHookRuns(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			state := filepath.Join(filepath.Dir(r.dir), "state")
			r.kamalLock()
			job, waiter := r.deferHook(state, "d1")
			r.kamalReleases()
			_, hookPID, token := r.hookStarted()
			if !tokenRE.MatchString(token) {
				t.Fatalf("the deferred hook runs without a hold of its own (token %q)", token)
			}
			if err := syscall.Kill(waiter, sig); err != nil {
				t.Fatal(err)
			}
			waiterGone(t, waiter)
			if sig == syscall.SIGTERM {
				code, out := r.waitJob(state)
				if code != 143 || !strings.Contains(out, "job "+job+" (post-deploy) failed with exit status 143") {
					t.Fatalf("hookshim wait: exit %d, want 143 for the terminated hook:\n%s", code, out)
				}
				r.ev.none() // terminated, not run again
				r.noLocks()
				return
			}
			r.leftoverNamed("post-deploy", token, waiter)
			// The hook still runs (blocked on the gate): hookshim wait says so
			// and does not hint to run it by hand, a second run.
			code, out := r.waitJob(state)
			if code != 70 || !strings.Contains(out, "is orphaned: the hook may still be running (pid "+hookPID+", ") ||
				strings.Contains(out, "if it still needs to run") || !strings.Contains(out, "do not run it again while it runs") {
				t.Fatalf("hookshim wait while the orphaned job's hook (pid %s) runs: exit %d, want 70 saying it may still be running, with no hint to run it again:\n%s", hookPID, code, out)
			}
			r.gate.open(t, 1)
			r.ev.expect("end")
			pid, _ := strconv.Atoi(hookPID)
			waiterGone(t, pid) // the hook's process, ended
			code, out = r.waitJob(state)
			if code != 70 || !strings.Contains(out, "died while the hook ran: its outcome is unknown; it is not run again automatically") || !strings.Contains(out, "if it still needs to run: ") {
				t.Fatalf("hookshim wait once the hook has ended: exit %d, want 70 reporting the orphaned job as having run (outcome unknown):\n%s\n"+
					"BUG defer_run.go runWaiter/startProbe: the job is recorded as running only when the exec.Cmd stdin-copy goroutine first reads the probe, "+
					"after the hook's process has started (and after job.json is rewritten and synced); a waiter killed in that window leaves a job recorded as waiting, "+
					"so hookshim wait says \"the hook was not run\" and hints to run it by hand: a second run. Record running before the step starts "+
					"(e.g. a shim.Exec BeforeStart callback, called in runStep just before cmd.Start, that does the cl.Update and aborts the start if it fails).", code, out)
			}
			r.ev.none()
		})
	}
}

// noWaiterFor checks that no process names state on its command line: no
// waiter was left behind for a job that could not be recorded.
func noWaiterFor(t *testing.T, state string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(state)) && bytes.Contains(b, []byte("waiter")) {
			t.Fatalf("a waiter runs for a job that was not recorded: %s: %q", p, b)
		}
	}
}

// A state directory that cannot take the job: read-only, full, or a
// file-size limit on hookshim. The hook is neither deferred nor dropped in
// silence: `hookshim run` fails (not 0, not 75), says the hook was NOT run
// and how to run it by hand, starts no waiter, and Kamal's lock is left as it
// was. It never runs later either.
func TestFaultDeferStateDirUnusable(t *testing.T) {
	cases := map[string]func(t *testing.T, base string) (state string, wrap []string){
		"read-only": func(t *testing.T, base string) (string, []string) {
			dir := filepath.Join(base, "ro")
			mountTmpfs(t, dir, "size=64k")
			if err := os.MkdirAll(filepath.Join(dir, "state", "jobs"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := remountReadOnly(dir); err != nil {
				t.Fatalf("remounting read-only: %v", err)
			}
			return filepath.Join(dir, "state"), nil
		},
		"read-only-parent": func(t *testing.T, base string) (string, []string) {
			dir := filepath.Join(base, "ro")
			mountTmpfs(t, dir, "size=64k")
			if err := remountReadOnly(dir); err != nil {
				t.Fatalf("remounting read-only: %v", err)
			}
			return filepath.Join(dir, "state"), nil
		},
		"disk-full": func(t *testing.T, base string) (string, []string) {
			dir := filepath.Join(base, "full")
			fullTmpfs(t, dir)
			return filepath.Join(dir, "state"), nil
		},
		"file-size-limit": func(t *testing.T, base string) (string, []string) {
			return filepath.Join(base, "state"), []string{"/bin/sh", "-c", `ulimit -f 0 && exec "$0" "$@"`}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			r := localRig(t)
			state, wrap := setup(t, filepath.Dir(r.dir))
			lock := r.kamalLock()
			env := append(append([]string{}, r.env...), deferKamal...)
			args := r.runArgs("--policy", "defer", "--state-dir", state, "post-deploy", "--", r.hook, "d1")
			var p *proc
			if wrap != nil {
				p = startProgram(t, r.dir, env, wrap[0], append(append(wrap[1:], faultHookshim(t)), args...)...)
			} else {
				p = startHookshim(t, r.dir, env, args...)
			}
			code := p.exit()
			if code == 0 || code == 75 || code >= 128 {
				t.Fatalf("exit status %d, want a failure status; stderr:\n%s", code, p.stderr)
			}
			p.waitLog(`post-deploy was NOT run and could not be deferred`)
			p.waitLog(`hint: run it by hand once the deploy has released the lock`)
			noWaiterFor(t, state)
			if got := readLock(t, r.home, lockPath); !bytes.Equal(got, lock) {
				t.Fatalf("Kamal's lock changed: %q", got)
			}
			r.kamalReleases()
			r.ev.none()
			r.noLocks()
		})
	}
}

// mountTmpfs mounts a tmpfs on dir for the test (skipping it where that is
// not allowed).
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mountTmpfsAt(dir, opts); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unmountDetach(dir); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
}
