package cli

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The reader of hookshim's output goes away mid-run (`... 2>&1 | head -n1`,
// or Kamal interrupted while it reads the hook's pipes): a write to stdout or
// stderr fails from then on. hookshim still takes the lock, runs the hook and
// releases the lock; the hook itself gets the default SIGPIPE disposition, so
// it ends as it would have without hookshim (killed by SIGPIPE on its first
// write to the closed pipe), and its status passes through.
func TestFaultReaderGoneWhileWaiting(t *testing.T) {
	for _, where := range []string{"local", "ssh"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			var r *rig
			if where == "local" {
				r = localRig(t)
			} else {
				r = remoteRig(t, nil)
			}
			r.theirs()
			// SigIgn is the hook's mask of ignored signals; SIGPIPE is bit 13.
			hook := `echo "start $(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)" > "$EVENTS"; echo out; echo end > "$EVENTS"`
			args := r.runArgs("--policy", "hold", "--wait", "1m", "--poll", "20ms", "post-deploy", "--", "sh", "-c", hook)
			cmd := exec.Command(faultHookshim(t), args...)
			cmd.Dir, cmd.Env = r.dir, r.env
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = pw, pw // 2>&1 |
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					_ = cmd.Process.Kill()
					<-done
				}
			})
			// head -n1: read the first line (the decision to wait), then go.
			_ = pr.SetReadDeadline(time.Now().Add(faultTimeout))
			first, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil || !strings.Contains(first, "waiting up to 1m0s for it") {
				t.Fatalf("first line %q (%v), want the decision to wait", first, err)
			}
			pr.Close()
			// Their lock is released: hookshim takes it, and every line it
			// writes from now on meets a closed pipe.
			if err := os.RemoveAll(r.home + "/" + lockPath); err != nil {
				t.Fatal(err)
			}
			var code int
			select {
			case <-done:
				ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
				code = ws.ExitStatus()
				if ws.Signaled() {
					code = 128 + int(ws.Signal())
					t.Errorf("hookshim was killed by %v", ws.Signal())
				}
			case <-time.After(faultTimeout):
				t.Fatal("hookshim did not exit")
			}
			r.noLocks()
			ev := r.ev.drain()
			if len(ev) != 1 || !strings.HasPrefix(ev[0], "start ") {
				t.Fatalf("hook events %q, want it started and stopped at its first write", ev)
			}
			mask, err := strconv.ParseUint(strings.TrimPrefix(ev[0], "start "), 16, 64)
			if err != nil {
				t.Fatalf("hook reported %q", ev[0])
			}
			if mask&(1<<(uint(syscall.SIGPIPE)-1)) != 0 {
				t.Errorf("the hook runs with SIGPIPE ignored (SigIgn %x): it would never stop on a closed pipe", mask)
			}
			// The hook was killed by SIGPIPE at `echo out`: its status passes through.
			if code != 128+int(syscall.SIGPIPE) {
				t.Errorf("exit status %d, want the hook's own %d", code, 128+int(syscall.SIGPIPE))
			}
		})
	}
}
