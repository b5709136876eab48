package cli

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

// `hookshim install --ssh` prints each host's line as soon as that host is
// done, and on a terminal keeps a progress line on stderr, rewritten in
// place, while hosts are pending; it is gone once all are done. Into a pipe
// it writes no progress at all.
func TestInstallSSHProgress(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	if err := os.Mkdir(filepath.Join(h.Home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A host that accepts the connection and says nothing until the test
	// closes it (--ssh-timeout keeps ssh waiting far longer than the test).
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	hung := sshx.Target{User: h.Target.User, Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
	args := []string{"install", "--ssh-config", h.ConfigFile, "--ssh-timeout", "10m", "--bin-dir", "bin", "--ssh", hung.String(), "--ssh", h.Target.String()}
	dir := t.TempDir()

	cmd := exec.Command(faultHookshim(t), args...)
	cmd.Dir, cmd.Env = dir, faultEnv(filepath.Join(dir, "home"))
	term := runOnTerminal(t, cmd)
	hungName, webName := regexp.QuoteMeta(hung.String()), regexp.QuoteMeta(h.Target.String())
	// The reachable host's line comes while the first one still hangs, and
	// the progress line then names the one pending.
	term.expect(t, webName+`: installed bin/hookshim .*\r\n\x1b?.*installing on 2 hosts: 1 done, 1 pending \(`+hungName+`\)`)
	select {
	case c := <-accepted:
		c.Close()
	case <-term.done:
		t.Fatalf("hookshim ended before the hung host was let go:\n%s", term.out)
	}
	term.expect(t, hungName+`: failed: `)
	if code := term.exit(t); code != 69 {
		t.Fatalf("exit %d, want 69:\n%s", code, term.out)
	}
	out := term.out.String()
	// The terminal does not say its width (80 is assumed): the list is cut.
	if !strings.Contains(out, "\rinstalling on 2 hosts: 0 done, 2 pending ("+hung.String()+", …)\x1b[K") {
		t.Errorf("no progress line before any host was done:\n%q", out)
	}
	// Cleared before each host's line, and not drawn again once all are done.
	if i := strings.LastIndex(out, "\r\x1b[K"); i < 0 || strings.Contains(out[i:], "installing on") {
		t.Errorf("the progress line is left on the terminal:\n%q", out)
	}

	// Into pipes: the hosts' lines alone, nothing rewritten.
	var stdout, stderr bytes.Buffer
	closed := sshtest.ClosedTarget(t)
	cmd = exec.Command(faultHookshim(t), "install", "--ssh-config", h.ConfigFile, "--bin-dir", "bin", "--ssh", closed.String(), "--ssh", h.Target.String())
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, faultEnv(filepath.Join(dir, "home")), &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("an install with an unreachable host succeeded")
	}
	if strings.Contains(stderr.String(), "installing on") || strings.ContainsAny(stderr.String()+stdout.String(), "\r\x1b") {
		t.Errorf("progress written into a pipe:\nstdout %q\nstderr %q", stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), h.Target.String()+": bin/hookshim is already up to date") || !strings.Contains(stdout.String(), closed.String()+": failed: ") {
		t.Errorf("a host's line is missing:\n%s", stdout.String())
	}
}

func TestProgressLine(t *testing.T) {
	hosts := []string{"web1", "web2", "db1"}
	for width, want := range map[int]string{
		200: "installing on 5 hosts: 2 done, 3 pending (web1, web2, db1)",
		56:  "installing on 5 hosts: 2 done, 3 pending (web1, web2, …)",
		50:  "installing on 5 hosts: 2 done, 3 pending (web1, …)",
		45:  "installing on 5 hosts: 2 done, 3 pending",
	} {
		got := progressLine(5, hosts, width)
		if got != want {
			t.Errorf("width %d: %q, want %q", width, got, want)
		}
		if len([]rune(got)) > width && width >= 41 {
			t.Errorf("width %d: %q is wider", width, got)
		}
	}
}
