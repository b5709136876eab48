package sshx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestArgs(t *testing.T) {
	c := &sshx.Client{ConfigFile: "/cfg", ConnectTimeout: 1500 * time.Millisecond, Options: []string{"Foo=bar"}, ProxyJump: "jump@bastion"}
	got := strings.Join(c.Args(sshx.Target{User: "deploy", Host: "web1", Port: 2222}, "echo 'hi'"), " ")
	want := "-o BatchMode=yes -o ConnectTimeout=2 -o ControlMaster=no -o Foo=bar -o StrictHostKeyChecking=accept-new" +
		" -o ClearAllForwardings=yes -o RemoteCommand=none -o LogLevel=ERROR -o ServerAliveInterval=5 -o ServerAliveCountMax=3" +
		" -F /cfg -J jump@bastion -l deploy -p 2222 -T -- web1 exec sh -c 'echo '\\''hi'\\'"
	if got != want {
		t.Errorf("Args:\n got %s\nwant %s", got, want)
	}
	// (No config file, so that the test's user's own cannot set StrictHostKeyChecking.)
	got = strings.Join((&sshx.Client{ConfigFile: "none"}).Args(sshx.Target{Host: "h"}, ""), " ")
	want = "-o BatchMode=yes -o ConnectTimeout=10 -o ControlMaster=no -o StrictHostKeyChecking=accept-new" +
		" -o ClearAllForwardings=yes -o RemoteCommand=none -o LogLevel=ERROR -o ServerAliveInterval=5 -o ServerAliveCountMax=3" +
		" -F none -T -- h exec sh -c ''"
	if got != want {
		t.Errorf("Args with -F none:\n got %s\nwant %s", got, want)
	}
}

func TestRunOutputAndStatus(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	ctx := testContext(t)
	res, err := h.Client.Run(ctx, h.Target, `echo out; echo err >&2; pwd; echo "$HOME"; exit 7`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "out\n" + h.Home + "\n" + h.Home + "\n"; string(res.Stdout) != want {
		t.Errorf("stdout %q, want %q", res.Stdout, want)
	}
	if string(res.Stderr) != "err\n" {
		t.Errorf("stderr %q, want %q", res.Stderr, "err\n")
	}
	if res.ExitStatus != 7 {
		t.Errorf("exit status %d, want 7", res.ExitStatus)
	}

	// No stdin given: the script sees end-of-file at once.
	res, err = h.Client.Run(ctx, h.Target, `cat; echo done`, nil)
	if err != nil || string(res.Stdout) != "done\n" || res.ExitStatus != 0 {
		t.Errorf("cat without stdin: %q, %d, %v", res.Stdout, res.ExitStatus, err)
	}
}

func TestRunStreamsStdin(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	data := make([]byte, 1<<20)
	rand.Read(data)
	res, err := h.Client.Run(testContext(t), h.Target, "cat", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitStatus != 0 || !bytes.Equal(res.Stdout, data) {
		t.Fatalf("1 MB through cat: status %d, got %d bytes back, equal %v", res.ExitStatus, len(res.Stdout), bytes.Equal(res.Stdout, data))
	}
}

func TestRunScriptExactly(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	script := "x='it'\\''s \"quoted\" \\\\ $HOME'\nprintf '%s\\n' \"$x\"\nprintf '%s\\n' 'line two' \\\n  'continued'\n"
	res, err := h.Client.Run(testContext(t), h.Target, script, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "it's \"quoted\" \\\\ $HOME\nline two\ncontinued\n"; string(res.Stdout) != want {
		t.Errorf("stdout %q, want %q (stderr %q)", res.Stdout, want, res.Stderr)
	}
	cmds := h.Commands(t)
	if len(cmds) != 1 || cmds[0] != "exec sh -c "+sshx.QuoteAnyShell(script) {
		t.Errorf("host ran %q", cmds)
	}
}

func TestRunHostileArgumentNeverRuns(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	canary := filepath.Join(h.Home, "canary")
	hostile := []string{
		"$(touch canary)", "`touch canary`", "'; touch canary; '", "\"; touch canary; \"",
		"x\ntouch canary", "\\'; touch canary #", "$(touch canary)'\\''", "a'\\\\''; touch canary",
		"; touch canary", "| touch canary", "& touch canary", "-c touch canary",
	}
	// Four at a time; the host logs them in whatever order they come.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, s := range hostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := h.Client.Run(testContext(t), h.Target, "printf '%s' "+sshx.Quote(s), nil)
			if err != nil {
				t.Error(err)
			} else if string(res.Stdout) != s {
				t.Errorf("printf of %q printed %q (stderr %q)", s, res.Stdout, res.Stderr)
			}
		}()
	}
	wg.Wait()
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("a hostile argument ran: the canary exists")
	}
	var want []string
	for _, s := range hostile {
		want = append(want, "exec sh -c "+sshx.QuoteAnyShell("printf '%s' "+sshx.Quote(s)))
	}
	got := h.Commands(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("host ran\n%q\nwant\n%q", got, want)
	}
}

func TestRunUnreachable(t *testing.T) {
	t.Parallel()
	t.Run("closed port", func(t *testing.T) {
		closed := sshtest.ClosedTarget(t)
		start := time.Now()
		_, err := (&sshx.Client{}).Run(testContext(t), closed, "true", nil)
		var ue *sshx.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("got %v (%T), want an *UnreachableError", err, err)
		}
		if ue.Target != closed || !strings.Contains(err.Error(), "Connection refused") ||
			!strings.HasPrefix(err.Error(), "cannot reach "+closed.String()+" over SSH: ") {
			t.Errorf("error: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v to find a closed port", d)
		}
	})
	t.Run("auth failure", func(t *testing.T) {
		h := sshtest.Start(t, sshtest.Options{RejectKey: true})
		_, err := h.Client.Run(testContext(t), h.Target, "true", nil)
		var ue *sshx.UnreachableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Permission denied") {
			t.Fatalf("got %v (%T), want an *UnreachableError saying Permission denied", err, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is more than one line: %q", err)
		}
		if n := len(h.Commands(t)); n != 0 {
			t.Errorf("host ran %d commands", n)
		}
	})
	t.Run("connect timeout", func(t *testing.T) {
		silent := sshtest.SilentTarget(t)
		c := &sshx.Client{ConnectTimeout: 300 * time.Millisecond} // rounded up to 1 s
		start := time.Now()
		_, err := c.Run(testContext(t), silent, "true", nil)
		d := time.Since(start)
		var ue *sshx.UnreachableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "within 1s (ConnectTimeout)") {
			t.Fatalf("got %v (%T), want an *UnreachableError saying it timed out", err, err)
		}
		if d < 900*time.Millisecond || d > 4*time.Second {
			t.Errorf("gave up after %v, want about 1 s", d)
		}
	})
	t.Run("context", func(t *testing.T) {
		silent := sshtest.SilentTarget(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := (&sshx.Client{}).Run(ctx, silent, "true", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v to give up", d)
		}
	})
	t.Run("no ssh binary", func(t *testing.T) {
		c := &sshx.Client{Binary: filepath.Join(t.TempDir(), "no-such-ssh")}
		_, err := c.Run(testContext(t), sshx.Target{Host: "h"}, "true", nil)
		var ue *sshx.UnreachableError
		if err == nil || errors.As(err, &ue) {
			t.Fatalf("got %v (%T), want a plain error", err, err)
		}
	})
}

// Values passed as arguments reach the script as its positional parameters,
// byte for byte, and never run: the command line the host gets is the constant
// script and then each value as one quoted word.
func TestRunArgsArePositionalParameters(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	canary := filepath.Join(h.Home, "canary")
	args := []string{
		"$(touch canary)", "`touch canary`", "'; touch canary; '", "\"; touch canary; \"",
		"x\ntouch canary", "\\'; touch canary #", "", "-c", "a b\tc", "*", "~", "\\",
	}
	const script = `printf '%s|' "$0" "$#"; for a; do printf '[%s]' "$a"; done`
	res, err := h.Client.Run(testContext(t), h.Target, script, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	want := "sh|" + strconv.Itoa(len(args)) + "|"
	for _, a := range args {
		want += "[" + a + "]"
	}
	if string(res.Stdout) != want {
		t.Errorf("stdout %q\nwant   %q (stderr %q)", res.Stdout, want, res.Stderr)
	}
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("an argument ran: the canary exists")
	}
	line := "exec sh -c " + sshx.QuoteAnyShell(script) + " sh"
	for _, a := range args {
		line += " " + sshx.QuoteAnyShell(a)
	}
	if cmds := h.Commands(t); len(cmds) != 1 || cmds[0] != line {
		t.Errorf("host ran %q\nwant %q", cmds, line)
	}
	if _, err := h.Client.Run(testContext(t), h.Target, "true", nil, "a\x00b"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("an argument with a NUL byte: got %v", err)
	}
}

func TestRunRejectsNUL(t *testing.T) {
	_, err := (&sshx.Client{}).Run(testContext(t), sshx.Target{Host: "h"}, "echo \x00", nil)
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("got %v", err)
	}
}

func TestCommandStreams(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	cmd := h.Client.Command(testContext(t), h.Target, `while read -r l; do echo "got $l"; done`)
	cmd.Stdin = strings.NewReader("a\nb\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "got a\ngot b\n" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestUnreachableErrorMessage(t *testing.T) {
	tg := sshx.Target{User: "u", Host: "h", Port: 2}
	for _, tc := range []struct{ stderr, want string }{
		{"Warning: something\r\nroot@h: Permission denied (publickey).\r\n", "cannot reach u@h:2 over SSH: root@h: Permission denied (publickey)."},
		{"", "cannot reach u@h:2 over SSH: ssh exited with status 255 and no message"},
		{"bad \x1b[31mred\x1b[0m\n\n", "cannot reach u@h:2 over SSH: bad [31mred[0m"},
	} {
		if got := (&sshx.UnreachableError{Target: tg, Stderr: tc.stderr}).Error(); got != tc.want {
			t.Errorf("stderr %q: got %q, want %q", tc.stderr, got, tc.want)
		}
	}
}

// An ssh config file ssh refuses is named as the problem: ssh never tried the
// network, so the host is not said to be down.
func TestUnreachableBadConfigFile(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	bad := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(bad, []byte("Bogusopt yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := h.Client
	c.ConfigFile = bad
	_, err := c.Run(testContext(t), h.Target, "true", nil)
	want := "ssh refused its configuration before connecting (" + bad + ": line 1: Bad configuration option: bogusopt): fix that file"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}
