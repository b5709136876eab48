package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// A Kamal 1.x run_directory starting with "-" would reach every command on
// the host as an option (`mkdir -p -x/locks`), whatever the quoting. It is a
// mistake in deploy.yml: one line naming it and the fix, exit 78 (EX_CONFIG),
// from run and from locks, with nothing run on the host and no hook run.
func TestSecurityRunDirectoryStartingWithDash(t *testing.T) {
	for _, runDir := range []string{"-rf", "--help", "-x/kamal"} {
		t.Run(runDir, func(t *testing.T) {
			t.Parallel()
			r := remoteRig(t, nil)
			writeExe(t, filepath.Join(r.dir, "config", "deploy.yml"),
				"service: app\nrun_directory: "+yamlQuote(runDir)+"\nservers:\n  - "+r.host.Target.String()+"\n")
			// A Kamal 1.x repository: the lock is taken in the run directory.
			writeExe(t, filepath.Join(r.dir, "Gemfile.lock"), "GEM\n  specs:\n    kamal (1.9.2)\n")
			for _, args := range [][]string{
				{"run", "--ssh-config", r.host.ConfigFile, "--policy", "hold", "post-deploy", "--", "sh", "-c", `echo ran > "$EVENTS"`},
				{"locks", "--ssh-config", r.host.ConfigFile},
			} {
				code, _, stderr := runHookshim(t, r.dir, r.env, args...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if code != 78 || !strings.Contains(lines[0], "run_directory") || !strings.Contains(lines[0], runDir) {
					t.Fatalf("hookshim %s: exit %d, want 78 with a first line naming run_directory %q; stderr:\n%s", args[0], code, runDir, stderr)
				}
			}
			r.ev.none()
			if cmds := r.host.Commands(t); len(cmds) != 0 {
				t.Fatalf("the host ran %q", cmds)
			}
		})
	}
}
