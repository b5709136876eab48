package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/lockfile"
)

// Hostile service, destination, hook, host, user and port names, from flags,
// the environment and config/deploy.yml, never reach a shell: hookshim
// refuses them before anything runs, and the host (a real sshd that logs
// every command it is asked to run) executed nothing at all. Each payload
// tries to create a marker file; none may exist afterwards.
func TestSecurityHostileNamesNeverReachAShell(t *testing.T) {
	r := remoteRig(t, nil)
	mark := filepath.Join(filepath.Dir(r.dir), "PWNED")
	payloads := []string{
		"app;touch " + mark,
		"$(touch " + mark + ")",
		"`touch " + mark + "`",
		"app' ; touch " + mark + " ; '",
		"app\ntouch " + mark,
		"app|touch " + mark,
		"app&&touch " + mark,
		"-oProxyCommand=touch " + mark,
		"../../../../tmp/x",
		"app\x00x",
	}
	host := r.host.Target.String()
	hookRan := filepath.Join(filepath.Dir(r.dir), "HOOKRAN")
	hook := []string{"--", "touch", hookRan}
	ssh := []string{"--ssh-config", r.host.ConfigFile}
	type tc struct {
		name string
		args []string
		env  []string
	}
	var cases []tc
	for i, p := range payloads {
		if strings.ContainsRune(p, 0) {
			// A NUL cannot be passed in argv; it can come from a file.
			continue
		}
		n := func(what string) string { return what + "/" + string(rune('a'+i)) }
		cases = append(cases,
			tc{n("run --service"), append(append([]string{"run", "--host", host, "--service", p, "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), nil},
			tc{n("run -d"), append(append([]string{"run", "--host", host, "--service", "app", "-d", p, "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), nil},
			tc{n("run HOOK"), append(append([]string{"run", "--host", host, "--service", "app", "--policy", "hold"}, ssh...), append([]string{p}, hook...)...), nil},
			tc{n("run --host"), append(append([]string{"run", "--host", p, "--service", "app", "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), nil},
			tc{n("run --ssh-user"), append(append([]string{"run", "--host", r.host.Addr, "--ssh-port", strconv.Itoa(r.host.Port), "--ssh-user", p, "--service", "app", "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), nil},
			tc{n("run --ssh-port"), append(append([]string{"run", "--host", r.host.Addr, "--ssh-port", p, "--service", "app", "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), nil},
			tc{n("run KAMAL_SERVICE"), append(append([]string{"run", "--host", host, "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), []string{"KAMAL_SERVICE=" + p}},
			tc{n("run KAMAL_DESTINATION"), append(append([]string{"run", "--host", host, "--service", "app", "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), []string{"KAMAL_DESTINATION=" + p}},
			tc{n("run HOOKSHIM_HOST"), append(append([]string{"run", "--service", "app", "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...), []string{"HOOKSHIM_HOST=" + p}},
			tc{n("locks --host"), append([]string{"locks", "--host", p}, ssh...), nil},
			tc{n("locks -d"), append([]string{"locks", "--host", host, "-d", p}, ssh...), nil},
		)
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			code, _, stderr := runHookshim(t, r.dir, append(append([]string{}, r.env...), c.env...), c.args...)
			if code == 0 {
				t.Fatalf("hookshim %q succeeded with a hostile name; stderr:\n%s", c.args, stderr)
			}
			if code != 64 && code != 78 {
				t.Errorf("exit status %d, want 64 (bad flag) or 78 (bad config); stderr:\n%s", code, stderr)
			}
		})
	}
	// The same through config/deploy.yml.
	for i, p := range payloads {
		for _, key := range []string{"service", "servers"} {
			t.Run("deploy.yml_"+key+"/"+string(rune('a'+i)), func(t *testing.T) {
				dir := t.TempDir()
				var yml string
				if key == "service" {
					yml = "service: " + yamlQuote(p) + "\nservers:\n  - " + host + "\n"
				} else {
					yml = "service: app\nservers:\n  - " + yamlQuote(p) + "\n"
				}
				writeExe(t, filepath.Join(dir, "config", "deploy.yml"), yml)
				for _, args := range [][]string{
					append(append([]string{"run", "--policy", "hold"}, ssh...), append([]string{"post-deploy"}, hook...)...),
					append([]string{"locks"}, ssh...),
				} {
					code, _, stderr := runHookshim(t, dir, r.env, args...)
					if code == 0 || code == 75 {
						t.Fatalf("hookshim %q: exit %d with a hostile %s in deploy.yml; stderr:\n%s", args, code, key, stderr)
					}
				}
			})
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatalf("a payload ran: %s exists", mark)
	}
	if _, err := os.Stat(hookRan); err == nil {
		t.Fatalf("the hook ran although its lock's names were refused")
	}
	if cmds := r.host.Commands(t); len(cmds) != 0 {
		t.Fatalf("the host ran %d commands for hostile names; first: %q", len(cmds), cmds[0])
	}
}

// yamlQuote writes s as a double-quoted YAML scalar.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == 0:
			b.WriteString(`\0`)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// A run_directory (Kamal 1.x) may hold any printable character, so it is
// accepted and shell-quoted: one whose name is a command substitution reaches
// the host as a literal path. The Kamal 1.5 lock inside it is found (the hook
// is refused because of it), and nothing in the name ever ran.
func TestSecurityRunDirectoryIsQuoted(t *testing.T) {
	r := remoteRig(t, nil)
	mark := filepath.Join(filepath.Dir(r.dir), "PWNED")
	runDir := "$(touch " + mark + ") `touch " + mark + "`;touch " + mark
	lockDir := filepath.Join(r.home, runDir, "locks", "app")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := lockfile.Details{LockedBy: "Anna", AtText: "2026-11-27T06:00:00Z", Version: "v1", Message: "db maintenance"}
	if err := os.WriteFile(filepath.Join(lockDir, "details"), d.FileContent(), 0o644); err != nil {
		t.Fatal(err)
	}
	writeExe(t, filepath.Join(r.dir, "config", "deploy.yml"),
		"service: app\nrun_directory: "+yamlQuote(runDir)+"\nservers:\n  - "+r.host.Target.String()+"\n")
	code, _, stderr := runHookshim(t, r.dir, r.env, "run", "--ssh-config", r.host.ConfigFile, "--policy", "strict", "post-deploy", "--", "true")
	if code != 75 || !strings.Contains(stderr, "db maintenance") {
		t.Fatalf("exit %d, want 75 refusing because of the lock in the run directory; stderr:\n%s", code, stderr)
	}
	code, out, stderr := runHookshim(t, r.dir, r.env, "locks", "--json", "--ssh-config", r.host.ConfigFile)
	if code != 0 || !strings.Contains(out, `"db maintenance"`) {
		t.Fatalf("locks: exit %d, the lock in the run directory not listed:\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatalf("the run directory's name ran as a command: %s exists", mark)
	}
	// It reached the host as literal text inside quotes: the host's log of
	// what it executed holds it verbatim (and the marker proves it never ran).
	seen := false
	for _, c := range r.host.Commands(t) {
		if strings.Contains(c, runDir) {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("no command on the host named the run directory; commands:\n%q", r.host.Commands(t))
	}
}
