package sshx_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

// knownHostsHas reports whether known_hosts file kh has a key for t's host and
// port (hashed or not), asking ssh-keygen.
func knownHostsHas(t *testing.T, kh string, tg sshx.Target) bool {
	t.Helper()
	name := fmt.Sprintf("[%s]:%d", tg.Host, tg.Port)
	err := exec.Command("ssh-keygen", "-F", name, "-f", kh).Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ssh-keygen: %v", err)
	}
	return err == nil
}

// A host never seen before is accepted and remembered, as Kamal's net-ssh
// does: a fresh CI runner with an empty known_hosts connects.
func TestHostKeyFirstUseAccepted(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{FreshClient: true})
	if knownHostsHas(t, h.KnownHosts, h.Target) {
		t.Fatal("known_hosts already has the key")
	}
	res, err := h.Client.Run(testContext(t), h.Target, "echo hi", nil)
	if err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("first connection to an unknown host: %q, %v", res.Stdout, err)
	}
	if !knownHostsHas(t, h.KnownHosts, h.Target) {
		t.Errorf("the host's key was not added to %s", h.KnownHosts)
	}
	// And through a multiplexed connection.
	h2 := sshtest.Start(t, sshtest.Options{FreshClient: true})
	cn, err := h2.Client.Dial(testContext(t), h2.Target)
	if err != nil {
		t.Fatalf("Dial to an unknown host: %v", err)
	}
	cn.Close()
	if !knownHostsHas(t, h2.KnownHosts, h2.Target) {
		t.Errorf("Dial did not add the host's key to %s", h2.KnownHosts)
	}
}

// A changed key is refused, with a message that names the host, the
// known_hosts file and how to remove the old key; nothing runs on the host.
func TestHostKeyChangedRefused(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{FreshClient: true})
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(other + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	kh := fmt.Sprintf("[%s]:%d %s %s\n", h.Addr, h.Port, f[0], f[1])
	if err := os.WriteFile(h.KnownHosts, []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = h.Client.Run(testContext(t), h.Target, "true", nil)
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v (%T), want an *UnreachableError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("the host key of [%s]:%d has changed", h.Addr, h.Port),
		h.KnownHosts + " (line 1)",
		"ssh-keygen -R '[" + h.Addr + "]:" + strconv.Itoa(h.Port) + "' -f " + h.KnownHosts,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is more than one line: %q", msg)
	}
	if b, _ := os.ReadFile(h.KnownHosts); string(b) != kh {
		t.Errorf("known_hosts changed: %q", b)
	}
	if n := len(h.Commands(t)); n != 0 {
		t.Errorf("host ran %d commands", n)
	}
}

// hasAcceptNew reports whether c passes StrictHostKeyChecking=accept-new for tg.
func hasAcceptNew(c *sshx.Client, tg sshx.Target) bool {
	return slices.Contains(c.Args(tg, "true"), "StrictHostKeyChecking=accept-new")
}

// The user's ssh config decides when it sets StrictHostKeyChecking for the
// host (-o would override it: ssh keeps the first value, and -o comes first);
// a setting for other hosts, or a comment, does not count.
func TestHostKeyUserConfigWins(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{FreshClient: true})
	base, err := os.ReadFile(h.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, extra string) *sshx.Client {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(extra+string(base)), 0o600); err != nil {
			t.Fatal(err)
		}
		return &sshx.Client{ConfigFile: p, ConnectTimeout: 5 * time.Second}
	}
	included := filepath.Join(dir, "included")
	if err := os.WriteFile(included, []byte("StrictHostKeyChecking=yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra string
		acceptNew   bool
	}{
		{"comment only", "# StrictHostKeyChecking yes\n", true},
		{"other host", "Host other.example\n  StrictHostKeyChecking yes\nHost *\n", true},
		{"explicit ask", "Host " + h.Addr + "\n  StrictHostKeyChecking ask\nHost *\n", false},
		{"explicit yes via Include", "Include " + included + "\n", false},
		{"explicit no", "StrictHostKeyChecking no\n", false},
	} {
		c := write(strings.ReplaceAll(tc.name, " ", "_"), tc.extra)
		if got := hasAcceptNew(c, h.Target); got != tc.acceptNew {
			t.Errorf("%s: accept-new passed %v, want %v: %q", tc.name, got, tc.acceptNew, c.Args(h.Target, "true"))
		}
	}
	// Explicit yes: the unknown host is refused, with ssh's reason.
	c := write("yes", "StrictHostKeyChecking yes\n")
	_, err = c.Run(testContext(t), h.Target, "true", nil)
	if err == nil || !strings.Contains(err.Error(), "host key is known for") {
		t.Errorf("StrictHostKeyChecking yes and an unknown host: got %v", err)
	}
	// Options set by the caller win too.
	c = &sshx.Client{ConfigFile: h.ConfigFile, Options: []string{"StrictHostKeyChecking=no"}}
	if hasAcceptNew(c, h.Target) {
		t.Errorf("accept-new passed over the caller's own option: %q", c.Args(h.Target, "true"))
	}
}

// A server that accepts the connection and never sends its banner is reported
// as a connect timeout naming the host, port and limit.
func TestTimeoutBeforeBanner(t *testing.T) {
	t.Parallel()
	silent := sshtest.SilentTarget(t)
	c := &sshx.Client{ConnectTimeout: time.Second}
	_, err := c.Run(testContext(t), silent, "true", nil)
	want := fmt.Sprintf("no answer from 127.0.0.1 port %d within 1s (ConnectTimeout)", silent.Port)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to say %q", err, want)
	}
}

// A server that sends its banner and then stalls (in the key exchange) is
// reported as a timeout naming the host, port and limit, not as "no message";
// for a Run and for a Dial.
func TestTimeoutAfterBanner(t *testing.T) {
	t.Parallel()
	stall := sshtest.BannerThenSilentTarget(t)
	c := &sshx.Client{ConnectTimeout: 5 * time.Second, ServerAliveInterval: time.Second}
	want := fmt.Sprintf("no answer from 127.0.0.1 port %d for 3s (ServerAliveInterval=1 x ServerAliveCountMax=3)", stall.Port)
	start := time.Now()
	_, err := c.Run(testContext(t), stall, "true", nil)
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run: got %v, want it to say %q", err, want)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("gave up after %v, before the limit", d)
	}
	_, err = c.Dial(testContext(t), stall)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Dial: got %v, want it to say %q", err, want)
	}
	if !strings.Contains(strings.Join(c.Args(stall, "true"), " "), "-o ServerAliveInterval=1 -o ServerAliveCountMax=3") {
		t.Errorf("argv: %q", c.Args(stall, "true"))
	}
}

// The command in an UnreachableError works when pasted into a shell: once the
// host is back, it connects with the same port, config file and identities.
func TestCheckCommandPastes(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	key := filepath.Join(t.TempDir(), "no such key")
	c := &sshx.Client{ConfigFile: h.ConfigFile, ConnectTimeout: 5 * time.Second, Options: []string{"IdentityFile=" + key}}
	h.Stop()
	_, err := c.Run(testContext(t), h.Target, "true", nil)
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an *UnreachableError", err)
	}
	check := ue.CheckCommand()
	want := fmt.Sprintf("ssh -p %d -F %s -i '%s' %s@%s true", h.Port, h.ConfigFile, key, h.Target.User, h.Addr)
	if check != want {
		t.Errorf("check command:\n got %s\nwant %s", check, want)
	}
	h.Restart()
	out, err := exec.CommandContext(testContext(t), "sh", "-c", check+" </dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("the pasted command failed: %v: %s", err, out)
	}
	// Without a Client: the port is still a flag, never host:port.
	if got := (sshx.Target{User: "deploy", Host: "::1", Port: 2222}).CheckCommand(nil); got != "ssh -p 2222 deploy@::1 true" {
		t.Errorf("bare check command: %s", got)
	}
}

// Kamal's `ssh: config:` list: the files are read in order, the first value of
// an option winning, as net-ssh does; unreadable ones are skipped.
func TestConfigFileForList(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	h := sshtest.Start(t, sshtest.Options{})
	dir := t.TempDir()
	alias := filepath.Join(dir, "alias")
	// The first file names the host and port; the second, sshtest's, has the
	// identity and a Port that comes too late to count.
	os.WriteFile(alias, []byte(fmt.Sprintf("Host web1\n  HostName %s\n  Port %d\nHost *\n  Port 1\n", h.Addr, h.Port)), 0o600)
	missing := filepath.Join(dir, "missing")

	cf, err := sshx.ConfigFileFor([]string{alias, missing, h.ConfigFile}, cache)
	if err != nil {
		t.Fatal(err)
	}
	if cf == alias || cf == h.ConfigFile {
		t.Fatalf("ConfigFileFor gave one of the files: %s", cf)
	}
	fi, err := os.Stat(filepath.Dir(cf))
	if filepath.Dir(cf) != filepath.Join(cache, "hookshim") || err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory of %s: %v, %v", cf, fi.Mode(), err)
	}
	c := &sshx.Client{ConfigFile: cf, ConnectTimeout: 5 * time.Second}
	res, err := c.Run(testContext(t), sshx.Target{Host: "web1"}, "echo ok", nil)
	if err != nil || string(res.Stdout) != "ok\n" {
		t.Fatalf("through the included files: %q, %v", res.Stdout, err)
	}
	again, err := sshx.ConfigFileFor([]string{alias, h.ConfigFile}, cache)
	if err != nil || again != cf {
		t.Errorf("the same files gave %s (%v), want %s", again, err, cf)
	}

	for _, tc := range []struct {
		files []string
		want  string
	}{
		{nil, "none"},
		{[]string{missing}, "none"},
		{[]string{missing, h.ConfigFile}, h.ConfigFile},
	} {
		if got, err := sshx.ConfigFileFor(tc.files, cache); err != nil || got != tc.want {
			t.Errorf("ConfigFileFor(%q) = %q, %v; want %q", tc.files, got, err, tc.want)
		}
	}
	if _, err := sshx.ConfigFileFor([]string{"relative/file"}, cache); err == nil {
		t.Error("a relative path was accepted")
	}
}
