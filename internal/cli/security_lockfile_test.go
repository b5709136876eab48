package cli

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostileTree fills home with lock entries whose names and contents try to
// run `touch MARK` wherever they might be pasted into a shell, and returns the
// payload text that must never appear in a command the host runs.
func hostileTree(t *testing.T, home, mark string) []string {
	t.Helper()
	touch := "touch " + mark
	enc := func(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s)) + "\n") }
	entries := map[string][]byte{
		// hostile messages, names and versions in well-formed details
		".kamal/lock-app": enc("Locked by: $(" + touch + ") at 2026-11-27T06:00:00Z\nVersion: `" + touch + "`\nMessage: '; " + touch + "; '\n" + touch + "\n\x1b]0;owned\x07\x1b[2J"),
		// a message that looks like a hookshim hold whose fields are commands
		".kamal/lock-app-staging": enc("Locked by: x at 2026-11-27T06:00:00Z\nVersion: v\nMessage: hookshim post-deploy hold $(" + touch + ") by a@$(" + touch + ") pid ;" + touch),
		// directory names that are commands
		".kamal/lock-$(" + touch + ")":    enc("Locked by: x at 2026-11-27T06:00:00Z\nVersion: v\nMessage: m"),
		".kamal/lock-a;" + touch:          enc("Locked by: x at 2026-11-27T06:00:00Z\nVersion: v\nMessage: m"),
		".kamal/locks/x'y`" + touch + "`": enc("Locked by: x at 2026-11-27T06:00:00Z\nVersion: v\nMessage: m"),
		// not base64, binary, shell text as the raw file
		".kamal/lock-raw": []byte("$(" + touch + ")\n`" + touch + "`\n"),
		".kamal/lock-bin": {0, 0xff, '\n', 0x1b, '[', '2', 'J'},
		// huge
		".kamal/lock-huge": bytes.Repeat([]byte("QUFB"), 1<<18),
	}
	for dir, content := range entries {
		d := filepath.Join(home, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "details"), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// details that are a fifo (a reader must not hang), a symlink to a
	// secret, and a directory
	for _, d := range []string{".kamal/lock-fifo", ".kamal/lock-link", ".kamal/lock-dir"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(home, ".kamal/lock-fifo/details"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(home, ".kamal/lock-link/details")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(home, ".kamal/lock-dir/details"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{touch, "owned"}
}

// Hostile lock files, read by every command that reads locks (locks as table
// and JSON, run under each policy, a wait on them): nothing from them ever
// runs, nothing from them is ever sent back to the host in a command (assert
// on what the host executed), no terminal escape from them reaches the
// output, and none of them is taken for hookshim's own lock.
func TestSecurityHostileLockFiles(t *testing.T) {
	for _, where := range []string{"local", "ssh"} {
		t.Run(where, func(t *testing.T) {
			var r *rig
			if where == "local" {
				r = localRig(t)
			} else {
				r = remoteRig(t, nil)
			}
			mark := filepath.Join(filepath.Dir(r.dir), "PWNED")
			payloads := hostileTree(t, r.home, mark)
			hookRan := filepath.Join(filepath.Dir(r.dir), "HOOKRAN")
			type call struct {
				args []string
				want int
			}
			calls := []call{
				{append([]string{"locks"}, r.where...), 0},
				{append([]string{"locks", "--json"}, r.where...), 0},
				{append([]string{"locks", "--stale-after", "1s"}, r.where...), 0},
			}
			for _, svc := range []string{"app", "app -d staging"} {
				for _, pol := range []string{"strict", "auto", "hold"} {
					a := append([]string{"run"}, r.where...)
					a = append(a, strings.Fields("--service "+svc+" --policy "+pol+" --wait 150ms --poll 50ms")...)
					calls = append(calls, call{append(a, "post-deploy", "--", "touch", hookRan), 75})
				}
			}
			for _, c := range calls {
				code, out, stderr := runHookshim(t, r.dir, r.env, c.args...)
				if code != c.want {
					t.Errorf("hookshim %q: exit %d, want %d; stderr:\n%s", c.args, code, c.want, stderr)
				}
				if strings.ContainsAny(out+stderr, "\x1b\x07") {
					t.Errorf("hookshim %q printed a terminal control character from a lock file:\n%q", c.args, out+stderr)
				}
				if _, err := os.Stat(hookRan); err == nil {
					t.Fatalf("hookshim %q ran the hook although a hostile lock holds it", c.args)
				}
			}
			if _, err := os.Stat(mark); err == nil {
				t.Fatalf("a lock file's content ran: %s exists", mark)
			}
			if r.host == nil {
				return
			}
			cmds := r.host.Commands(t)
			if len(cmds) == 0 {
				t.Fatal("the host ran nothing: the test reached no host")
			}
			for _, c := range cmds {
				for _, p := range payloads {
					if strings.Contains(c, p) {
						t.Fatalf("a command the host ran holds %q from a lock file:\n%s", p, c)
					}
				}
			}
		})
	}
}
