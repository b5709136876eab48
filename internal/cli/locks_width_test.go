package cli

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/creack/pty"
)

// `hookshim locks` on a terminal narrower than 120 columns fits the terminal;
// into a pipe or a file it fits 120 columns whatever the terminal; --wide
// shows every value whole. Paths and hosts are never cut, only text.
func TestLocksTableFitsTheTerminal(t *testing.T) {
	root := t.TempDir()
	lock := filepath.Join(root, ".kamal", "lock-app-staging")
	if err := os.MkdirAll(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	message := "DB migration freeze until 08:00 while the replica catches up, ask Bruno on #ops before you deploy"
	details := "Locked by: Bruno Costa at 2026-11-27T06:50:00Z\nVersion: 7c41e0a9b2d3f6e5a4b3c2d1e0f9a8b7c6d5e4f3\nMessage: " + message
	if err := os.WriteFile(filepath.Join(lock, "details"), []byte(base64.StdEncoding.EncodeToString([]byte(details))), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"hookshim", "locks", "--root", root, "--now", "2026-11-27T07:00:00Z"}
	env := []string{"HOME=" + t.TempDir()}

	onTerminal := func(cols uint16, extra ...string) string {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatalf("opening a pseudo-terminal: %v", err)
		}
		defer ptmx.Close()
		if err := pty.Setsize(ptmx, &pty.Winsize{Cols: cols, Rows: 40}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := io.Copy(&out, ptmx); err != nil && !errors.Is(err, syscall.EIO) {
				t.Errorf("reading the terminal: %v", err)
			}
		}()
		code := Main(Process{Args: append(args, extra...), Stdin: strings.NewReader(""), Stdout: tty, Stderr: io.Discard, Env: env, Dir: root})
		tty.Close()
		<-done
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		return strings.ReplaceAll(out.String(), "\r\n", "\n")
	}
	maxLine := func(s string) int {
		n := 0
		for _, line := range strings.Split(s, "\n") {
			n = max(n, utf8.RuneCountInString(line))
		}
		return n
	}

	out := onTerminal(100)
	if n := maxLine(out); n > 100 {
		t.Errorf("on a terminal of 100 columns, a line of %d:\n%s", n, out)
	}
	for _, want := range []string{"local  .kamal/lock-app-staging  ", "2026-11-27T06:50:00Z  10m00s", "  Bruno C…  ", "  DB migrat…  manual", "(values cut with … to fit 100 columns; --wide shows them whole)"} {
		if !strings.Contains(out, want) {
			t.Errorf("on a terminal of 100 columns, no %q:\n%s", want, out)
		}
	}
	// Narrower than the columns never cut: the line says how wide the table
	// still is, not that it fits.
	if out := onTerminal(60); strings.Contains(out, "to fit") || !strings.Contains(out, "(values cut with …; still 98 columns wide: hosts, paths and times are never cut; --wide shows every value whole)") {
		t.Errorf("on a terminal of 60 columns:\n%s", out)
	}
	if out := onTerminal(200); !strings.Contains(out, "to fit 120 columns") || maxLine(out) > 120 {
		t.Errorf("on a terminal of 200 columns, the table does not fit 120:\n%s", out)
	}
	if out := onTerminal(100, "--wide"); !strings.Contains(out, message+"  manual") || !strings.Contains(out, "Bruno Costa") {
		t.Errorf("--wide on a terminal cut a value:\n%s", out)
	}

	stdout, _, code := runMain(t, env, args[1:]...)
	if code != 0 || !strings.Contains(stdout, "to fit 120 columns") || maxLine(stdout) > 120 || maxLine(stdout) <= 100 {
		t.Errorf("into a pipe, the table does not fill 120 columns (exit %d):\n%s", code, stdout)
	}
}
