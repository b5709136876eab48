package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// argvHook prints its arguments, each followed by "|", as one event.
var argvHook = []string{"sh", "-c", `printf '%s|' "$@" > "$EVENTS"; echo >> "$EVENTS"`, "hook"}

// hardWords need quoting: a space, a single quote, shell syntax, a glob, a
// backslash (shown as it is typed, in single quotes).
var hardWords = []string{"a b", "it's", "$HOME", "*", "x;touch pwned", `C:\new`}

// hintLine returns the command a hint suggests after prefix, or fails.
func hintLine(t *testing.T, stderr, prefix string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^hookshim: hint: ` + regexp.QuoteMeta(prefix) + `(.*)$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no hint %q:\n%s", prefix, stderr)
	}
	return m[1]
}

// runSuggested runs a suggested command line in a shell, as a person
// pasting it would, and checks the hook ran with exactly the words given.
func runSuggested(t *testing.T, r *rig, env []string, line string) {
	t.Helper()
	if !strings.Contains(line, "hookshim run ") {
		t.Fatalf("the hint suggests no command line: %q", line)
	}
	p := startProgram(t, r.dir, env, "/bin/sh", "-c", line)
	if code := p.exit(); code != 0 {
		p.stderr.waitEOF(faultTimeout)
		t.Fatalf("the suggested %q: exit %d:\n%s", line, code, p.stderr)
	}
	if got, want := r.ev.next(), strings.Join(hardWords, "|")+"|"; got != want {
		t.Fatalf("the suggested %q ran the hook with %q, want %q", line, got, want)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "pwned")); err == nil {
		t.Fatal("a word of the command ran as shell syntax")
	}
}

// A refusal's suggested re-run ("to run it once the lock is released: ...")
// is the whole command: the flags the user passed, the hook, the `--`
// command with every word quoted; pasted once the lock is free, it runs the
// hook with exactly those words. A word that would not show as it must be
// typed (a control character, shown escaped) gets no command line, only the
// flag to add.
func TestSecurityRerunHintKeepsTheCommand(t *testing.T) {
	t.Run("refusal", func(t *testing.T) {
		r := localRig(t)
		r.theirs()
		args := r.runArgs(append([]string{"--policy", "strict", "--conflict-exit-code", "9", "post-deploy", "--"}, append(argvHook, hardWords...)...)...)
		code, _, stderr := runHookshim(t, r.dir, r.env, args...)
		if code != 9 {
			t.Fatalf("exit %d, want 9:\n%s", code, stderr)
		}
		line := hintLine(t, stderr, "to run it once the lock is released: ")
		if !strings.Contains(line, "--conflict-exit-code=9") || !strings.Contains(line, "--policy=defer") || strings.Contains(line, "strict") {
			t.Fatalf("the suggested %q does not keep the flags given with --policy defer", line)
		}
		if wait := hintLine(t, stderr, "to wait for it: "); !strings.Contains(wait, "--wait=5m") || !strings.Contains(wait, "--policy=strict") {
			t.Fatalf("the wait hint %q does not keep the flags given with --wait 5m", wait)
		}
		r.kamalReleases()
		runSuggested(t, r, r.env, line)
	})
	t.Run("unquotable", func(t *testing.T) {
		r := localRig(t)
		r.theirs()
		args := r.runArgs(append([]string{"--policy", "strict", "post-deploy", "--"}, append(argvHook, "new\nline")...)...)
		code, _, stderr := runHookshim(t, r.dir, r.env, args...)
		if code != 75 {
			t.Fatalf("exit %d, want 75:\n%s", code, stderr)
		}
		if line := hintLine(t, stderr, "to run it once the lock is released: "); line != "--policy defer" {
			t.Fatalf("with a word that cannot be shown as typed, the hint is %q, want only the flag", line)
		}
	})
	t.Run("not deferred", func(t *testing.T) {
		r := localRig(t)
		r.kamalLock()
		afile := filepath.Join(filepath.Dir(r.dir), "afile")
		if err := os.WriteFile(afile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		env := append(append([]string{}, r.env...), deferKamal...)
		args := r.runArgs(append([]string{"--policy", "defer", "--state-dir", filepath.Join(afile, "state"), "post-deploy", "--"}, append(argvHook, hardWords...)...)...)
		code, _, stderr := runHookshim(t, r.dir, env, args...)
		if code != 73 {
			t.Fatalf("exit %d, want 73:\n%s", code, stderr)
		}
		line := hintLine(t, stderr, "run it by hand once the deploy has released the lock: ")
		r.kamalReleases()
		runSuggested(t, r, env, line)
	})
}
