package cli

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fakeStatHangs makes every look at the lock hang on the host after the
// handshake, as a stuck file system (or a details file swapped for a fifo
// under a reader that opens it blocking) would: stat of the lock directory
// reports the event and blocks until the gate opens (until ~/.nohang exists).
const fakeStatHangs = `#!/bin/sh
for a do last=$a; done
[ -e "$HOME/.nohang" ] || case "$last" in *lock-app) echo "stat $last" > EVENTS; read x < GATE;; esac
exec /usr/bin/stat "$@"
`

// SIGTERM or SIGINT while a look at the lock hangs on the host: hookshim ends
// at once with 128+N, saying nothing was run, and the hook never runs.
func TestFaultSignalWhileReadHangs(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			r := remoteRig(t, map[string]string{"stat": fakeStatHangs})
			theirs := r.theirs()
			p := r.run("--policy", "hold", "--wait", "1m", "post-deploy", "--", r.hook, "h1")
			r.ev.expect("stat")
			p.signal(sig)
			select {
			case <-p.done:
			case <-time.After(faultTimeout):
				t.Fatalf("hookshim ignored %v while a look at the lock hung on the host\n"+
					"BUG shim/run.go Run: the first look runs with no deadline and no signal handling", sig)
			}
			if code := p.exit(); code != 128+int(sig) {
				t.Fatalf("exit status %d, want %d", code, 128+int(sig))
			}
			p.waitLog(`interrupted by .* while reading the lock; nothing was run`)
			if err := os.WriteFile(filepath.Join(r.home, ".nohang"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			r.gate.open(t, 1) // the host's stat goes on
			r.host.WaitIdle(t, faultTimeout)
			r.ev.none()
			r.onlyTheirs(theirs)
		})
	}
}
