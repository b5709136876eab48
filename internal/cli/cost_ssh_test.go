package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/sshx"
)

// TestWarmHookStartsOneSSH: the second hook of a deploy finds the shared
// master up and starts one ssh, its look at the lock through the master.
// Not also an `ssh -G` for the host key policy (the test host's config sets
// StrictHostKeyChecking, so a direct connection would need one), neither for
// the session nor for the ssh command line a hint would show: that would be
// most of a warm hook's cost. Every hook is a process of its own, as under Kamal.
func TestWarmHookStartsOneSSH(t *testing.T) {
	t.Parallel()
	h, flags := faultHost(t, "")
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	log := filepath.Join(bin, "ssh.log")
	// The real ssh, each start logged with its first argument.
	writeExe(t, filepath.Join(bin, "ssh"), "#!/bin/sh\necho \"$1\" >> "+sshx.Quote(log)+"\nexec "+sshx.Quote(ssh)+" \"$@\"\n")
	run, err := os.MkdirTemp("/tmp", "hsw") // short: the master's socket is in it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("sh", "-c", `for s in "$1"/hookshim-ssh/*; do [ -S "$s" ] && ssh -F none -S "$s" -O exit x; done`, "sh", run).Run()
		os.RemoveAll(run)
	})
	env := faultEnv(t.TempDir(), "PATH="+bin+":"+os.Getenv("PATH"), "XDG_RUNTIME_DIR="+run, "HOOKSHIM_SSH_PERSIST=5m")
	args := append(append([]string{"run", "--service", "app"}, flags...), "pre-deploy", "--", "true")
	for i, hook := range []string{"first (starts the master)", "second"} {
		os.Remove(log)
		if code, _, stderr := runHookshim(t, t.TempDir(), env, args...); code != 0 {
			t.Fatalf("%s hook: exit %d:\n%s", hook, code, stderr)
		}
		if i == 0 {
			continue
		}
		b, _ := os.ReadFile(log)
		if starts := strings.Fields(string(b)); len(starts) != 1 || starts[0] == "-G" {
			t.Fatalf("the second hook started ssh %d times (first arguments %q), want once: its look through the master", len(starts), starts)
		}
	}
	if n := h.Logins(t); n != 1 {
		t.Fatalf("2 hooks made %d SSH logins, want 1", n)
	}
}
