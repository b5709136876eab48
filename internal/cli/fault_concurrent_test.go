package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// concurrentHolds is how many `hookshim run --policy hold` race for one lock.
const concurrentHolds = 8

// checkRunLog reads the hooks' own O_APPEND log ("start ID" / "end ID") and
// checks that no two hooks overlapped (every start is followed by the end of
// the same hook) and that each of want ran exactly once.
func checkRunLog(t *testing.T, path string, want []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var got []string
	lns := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		lns = nil
	}
	for i := 0; i < len(lns); i += 2 {
		start := lns[i]
		end := ""
		if i+1 < len(lns) {
			end = lns[i+1]
		}
		id, ok := strings.CutPrefix(start, "start ")
		if !ok || end != "end "+id {
			t.Fatalf("hooks overlapped or were cut short: line %d is %q, then %q; whole log:\n%s", i+1, start, end, b)
		}
		got = append(got, id)
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("hook %s ran %d times, want once; log:\n%s", id, seen[id], b)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d hooks ran, want %d; log:\n%s", len(got), len(want), b)
	}
}

// Eight holds on one lock with a long --wait: exactly one holds at a time
// (no two hooks overlap: the test lets each hook end only after it has seen
// that every other process found the lock held), and every hook runs exactly
// once, each under its own hold, which is released.
func TestFaultConcurrentHoldsWait(t *testing.T) {
	for _, where := range []string{"local", "ssh"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			poll := "10ms"
			if where == "ssh" {
				r = remoteRig(t, nil)
				poll = "50ms"
			}
			runlog := filepath.Join(filepath.Dir(r.dir), "runlog")
			r.env = append(r.env, "RUNLOG="+runlog)
			procs := map[string]*proc{}
			var ids []string
			for i := range concurrentHolds {
				id := fmt.Sprintf("h%d", i)
				ids = append(ids, id)
				procs[id] = r.run("--policy", "hold", "--wait", "1m", "--poll", poll, "post-deploy", "--", r.hook, id)
			}
			tokens := map[string]bool{}
			waiting := regexp.MustCompile(`waiting up to 1m0s for it`)
			for range concurrentHolds {
				id, _, token := r.hookStarted()
				if tokens[token] || !tokenRE.MatchString(token) {
					t.Fatalf("hook %s runs with token %q, not a hold of its own", id, token)
				}
				tokens[token] = true
				// Every other process still running has found the lock
				// held by this one before it is let go.
				for other, p := range procs {
					if other != id {
						if !p.stderr.waitFor(waiting, faultTimeout) {
							t.Fatalf("%s never waited while %s held the lock:\n%s", other, id, p.stderr)
						}
					}
				}
				r.gate.open(t, 1)
				if f := r.ev.expect("end"); f[1] != id {
					t.Fatalf("hook %s ended while %s held the lock", f[1], id)
				}
				p := procs[id]
				if code := p.exit(); code != 0 {
					t.Fatalf("%s: exit status %d, want 0", id, code)
				}
				p.waitLog(`released lock \.kamal/lock-app`)
				delete(procs, id)
			}
			r.ev.none()
			checkRunLog(t, runlog, ids)
			r.noLocks()
		})
	}
}

// Eight holds on one lock with --wait 0: one takes it; the seven others find
// it held (before or at their mkdir), refuse with 75 and never run. The one
// that took it is kept in its hook until all seven have refused.
func TestFaultConcurrentHoldsRefuse(t *testing.T) {
	for _, where := range []string{"local", "ssh"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			r := localRig(t)
			if where == "ssh" {
				r = remoteRig(t, nil)
			}
			runlog := filepath.Join(filepath.Dir(r.dir), "runlog")
			r.env = append(r.env, "RUNLOG="+runlog)
			procs := map[string]*proc{}
			for i := range concurrentHolds {
				id := fmt.Sprintf("h%d", i)
				procs[id] = r.run("--policy", "hold", "--wait", "0", "post-deploy", "--", r.hook, id)
			}
			winner, _, token := r.hookStarted()
			// A refusal names the winner's hold by its token; only a loser
			// that looked between the winner's mkdir and its details may
			// see a lock whose holder is not known yet.
			named := `refused: lock \.kamal/lock-app on [^\n]* is held by [^\n]*message "Automatic deploy lock \(hookshim post-deploy hold ` + token + ` by `
			midTake := `refused: lock \.kamal/lock-app on [^\n]* is held by an unknown holder since [^\n]*, (lock directory has no details file|[^\n]*details[^\n]*) \(`
			for id, p := range procs {
				if id == winner {
					continue
				}
				if code := p.exit(); code != 75 {
					t.Fatalf("%s: exit status %d, want 75 (refused)", id, code)
				}
				p.waitLog(`refused: lock`)
				if out := p.stderr.String(); !regexp.MustCompile(named).MatchString(out) && !regexp.MustCompile(midTake).MatchString(out) {
					t.Fatalf("%s: the refusal names neither the winner's hold (token %s) nor a lock being taken:\n%s", id, token, out)
				}
			}
			r.ev.none() // none of the seven ran
			r.gate.open(t, 1)
			r.ev.expect("end")
			if code := procs[winner].exit(); code != 0 {
				t.Fatalf("%s: exit status %d, want 0", winner, code)
			}
			r.ev.none()
			checkRunLog(t, runlog, []string{winner})
			r.noLocks()
		})
	}
}
