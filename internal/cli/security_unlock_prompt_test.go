package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// unlock's question on a terminal ("lock ... is a manual lock ..., held by
// ... Remove it? [y/N]") names the lock's holder, version and message: they
// are shown escaped as in every other line, never raw to the terminal; so
// is the rest of the question (here a --root whose name holds an escape).
func TestSecurityUnlockQuestionIsEscaped(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "lock\x1b[2Jhost")
	putLock(t, root, hostileDetails())
	cmd := exec.Command(faultHookshim(t), "unlock", "--root", root, "--service", "app", "--force")
	cmd.Dir, cmd.Env = dir, faultEnv(filepath.Join(dir, "home"))
	term := runOnTerminal(t, cmd)
	term.expect(t, `Remove it\? \[y/N\] `)
	term.send(t, "n\n")
	if code := term.exit(t); code != 75 {
		t.Fatalf("exit %d, want 75 (not confirmed):\n%s", code, term.out)
	}
	// The terminal itself ends each line with \r\n (onlcr) and echoes the
	// answer; any other control or format character came from the lock.
	out := strings.ReplaceAll(term.out.String(), "\r\n", "\n")
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0 || unicode.Is(unicode.Cf, r)) {
			t.Fatalf("the question printed %U raw:\n%q", r, out)
		}
	}
	for _, want := range []string{`held by Eve \x1b]0;pwned\x07\x1b[8mconcealed`, `\rhookshim: post-deploy: lock .kamal/lock-app is free`, `C:\\new`, `message "deploying\nhookshim: FAKE: all clear\x1b[1A"`, `lock\x1b[2Jhost is a manual lock`, "Remove it? [y/N] "} {
		if !strings.Contains(out, want) {
			t.Fatalf("the question does not show %s:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(root, lockPath)); err != nil {
		t.Fatalf("the lock was removed without a yes: %v", err)
	}
}
