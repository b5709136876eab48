package cli

import (
	"strings"
	"testing"
)

// fakeMkdirRace makes the first `mkdir <lock>` on the host lose a race that
// real concurrent deploys produce: another deployer's mkdir wins just before
// ours (ours fails with "File exists"), and that deployer releases the lock
// at once, before hookshim's acquire script looks at the path again.
const fakeMkdirRace = `#!/bin/sh
for a do last=$a; done
case " $* " in *" -p "*) exec /bin/mkdir "$@";; esac
case "$last" in *lock-app)
  if [ ! -e "$HOME/.raced" ]; then
    : > "$HOME/.raced"
    /bin/mkdir "$last"           # the other deployer's mkdir wins
    /bin/mkdir "$@"; st=$?       # ours: File exists
    /bin/rmdir "$last"           # and they release at once
    echo "raced $last" > EVENTS
    exit $st
  fi;;
esac
exec /bin/mkdir "$@"
`

// A hold whose mkdir loses to a lock that is released before hookshim looks
// again must treat it as the held lock it was (wait, then take it), never as a
// broken host: with --wait the hook runs exactly once and the lock is
// released. (Seen for real in TestFaultConcurrentHoldsWait/ssh: one of eight
// holds exited 69, "taking lock ... failed: mkdir: cannot create directory
// '.kamal/lock-app': File exists", and its hook never ran.)
func TestFaultTakeRacesARelease(t *testing.T) {
	t.Parallel()
	r := remoteRig(t, map[string]string{"mkdir": fakeMkdirRace})
	p := r.run("--policy", "hold", "--wait", "1m", "--poll", "50ms", "post-deploy", "--", r.hook, "h1")
	r.ev.expect("raced")
	line, ok := r.ev.nextOr(p)
	if !ok {
		t.Fatalf("hookshim gave up after losing the race (exit %d), its hook never ran:\n%s\n"+
			"BUG lockfile/remote.go Remote.Acquire: the script's final `exit 1` is reached when mkdir failed because the lock existed and it was gone by the `[ -e ]` check; that must be the held (statusHeld) case, not a failure",
			p.exit(), p.stderr)
	}
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "start" || f[1] != "h1" {
		t.Fatalf("event %q, want the hook's start", line)
	}
	killGroupLater(t, f[2])
	r.gate.open(t, 1)
	r.ev.expect("end")
	if code := p.exit(); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	r.ev.none()
	r.noLocks()
}
