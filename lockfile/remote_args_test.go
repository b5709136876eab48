package lockfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// scriptOf is the script part of a command the host ran: everything before the
// script's closing quote and its $0 ("\n' sh "), which comes before any
// argument.
func scriptOf(t *testing.T, cmd string) string {
	t.Helper()
	i := strings.Index(cmd, "\n' sh ")
	if i < 0 {
		t.Fatalf("the host ran %q, not a script with positional parameters", cmd)
	}
	return cmd[:i]
}

// Taking, reading, scanning and releasing locks whose paths are shell syntax
// sends the same script text as for a plain path: each path reaches the host
// as a positional parameter, the operation works on it literally, and nothing
// in it runs.
func TestRemoteValuesArePositionalParameters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := sshtest.Start(t, sshtest.Options{})
	s := remoteStore(h)
	hostile := []string{
		".kamal/lock-app",
		".kamal/lock-$(touch pwned)",
		".kamal/lock-`touch pwned`",
		".kamal/lock-'; touch pwned; '",
		`.kamal/lock-"; touch pwned; "`,
		`.kamal/lock-\'$HOME*`,
	}
	ops := map[string][]string{} // operation: the script text of each command
	cmds := func(op string, f func()) {
		before := len(h.Commands(t))
		f()
		after := h.Commands(t)
		if len(after)-before != 1 {
			t.Fatalf("%s took %d SSH commands, want 1", op, len(after)-before)
		}
		ops[op] = append(ops[op], scriptOf(t, after[len(after)-1]))
	}
	for _, p := range hostile {
		tok := NewToken()
		d := Details{LockedBy: "T", At: time.Now().UTC(), Version: "v", Message: Hold{Hook: "post-deploy", Token: tok, User: "u", Host: "h", PID: 1}.Message()}
		cmds("acquire", func() { must(t, s.Acquire(ctx, p, d)) })
		if fi, err := os.Lstat(filepath.Join(h.Home, p, "details")); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("Acquire(%q) left no details file: %v", p, err)
		}
		cmds("acquire", func() {
			var held *HeldError
			if err := s.Acquire(ctx, p, d); !errors.As(err, &held) || held.Lock.Path != p || held.Lock.State != Held {
				t.Fatalf("Acquire(%q) again: %v", p, err)
			}
		})
		cmds("read", func() {
			ls, err := s.Read(ctx, p)
			if err != nil || len(ls) != 1 || ls[0].Path != p || ls[0].State != Held {
				t.Fatalf("Read(%q) = %+v, %v", p, ls, err)
			}
		})
		cmds("scan", func() {
			ls, err := s.Scan(ctx, "run'$(touch pwned)")
			if err != nil || len(ls) != 1 || ls[0].Path != p {
				t.Fatalf("Scan with %q held = %+v, %v", p, ls, err)
			}
		})
		cmds("release", func() { must(t, s.Release(ctx, p, tok)) })
		if _, err := os.Lstat(filepath.Join(h.Home, p)); !os.IsNotExist(err) {
			t.Fatalf("Release(%q) left the lock: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(h.Home, "pwned")); err == nil {
		t.Fatal("a lock path ran as a command: pwned exists")
	}
	for op, scripts := range ops {
		for _, sc := range scripts {
			if sc != scripts[0] {
				t.Errorf("%s sent a script that depends on the lock path:\n%s\n---\n%s", op, scripts[0], sc)
				break
			}
			if strings.Contains(sc, "pwned") || strings.Contains(sc, "lock-app") {
				t.Errorf("%s sent a value inside its script:\n%s", op, sc)
				break
			}
		}
	}
}
