package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// A login shell's rc file (or a motd) that prints on stdout without a
// trailing newline: the noise runs into the first line of every answer. Every
// look at the host must still work: `locks` lists the lock, and a hold (over
// one multiplexed connection) takes, runs and releases.
func TestFaultLoginNoiseWithoutNewline(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := sshtest.Start(t, sshtest.Options{Noise: "Welcome to web1! Last deploy: yesterday"})
	r.host, r.home = h, h.Home
	r.where = []string{"--host", h.Target.String(), "--ssh-config", h.ConfigFile}
	theirs := r.theirs()
	r.onlyTheirs(theirs) // locks reads the host
	if err := removeLock(r); err != nil {
		t.Fatal(err)
	}
	p := r.run("--policy", "hold", "post-deploy", "--", r.hook, "h1")
	_, _, token := r.hookStarted()
	if !tokenRE.MatchString(token) {
		t.Fatalf("hook ran without a hold (token %q)", token)
	}
	r.gate.open(t, 1)
	r.ev.expect("end")
	if code := p.exit(); code != 0 {
		t.Fatalf("exit status %d, want 0\n"+
			"BUG lockfile/remote.go ParseScan: the scan header is looked for only at a line start, so noise without a newline hides it", code)
	}
	p.waitLog(`released lock \.kamal/lock-app`)
	r.noLocks()
}

func removeLock(r *rig) error {
	return os.RemoveAll(filepath.Join(r.home, lockPath))
}
