package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

// sshRepo makes a Kamal repository whose config/deploy.yml has servers and
// the lines of ssh: given, and returns its directory.
func sshRepo(t *testing.T, server string, sshLines ...string) string {
	t.Helper()
	dir := t.TempDir()
	yml := "service: app\nimage: me/app\nservers: [" + server + "]\nssh:\n"
	for _, l := range sshLines {
		yml += "  " + l + "\n"
	}
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "deploy.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runIn runs hookshim in-process in dir, with env (plus a private HOME and
// XDG_CACHE_HOME) and returns what it printed and its exit status.
func runIn(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	home := t.TempDir()
	env = append([]string{"HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "PATH=" + os.Getenv("PATH")}, env...)
	code = Main(Process{
		Args:   append([]string{"hookshim"}, args...),
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errOut,
		Env:    env,
		Dir:    dir,
	})
	return out.String(), errOut.String(), code
}

// hintCommand is the command inside the backquotes of the hint line in stderr.
func hintCommand(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile("(?m)^hookshim: hint: check that `([^`]+)` works").FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no hint with a command in:\n%s", stderr)
	}
	return m[1]
}

// On a fresh CI runner (empty known_hosts, no StrictHostKeyChecking in the
// ssh config) the hook runs, as it does under Kamal; the host's key is then
// in known_hosts. A changed key is refused with 69, naming the host and the
// known_hosts file, and the hook does not run.
func TestSSHParityHostKeys(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{FreshClient: true})
	dir := sshRepo(t, h.Addr, "user: "+h.Target.User, fmt.Sprintf("port: %d", h.Port))
	// A rebuilt host drops the connection hookshim shares between hooks;
	// here the same sshd stays up, so share none.
	env := []string{"HOOKSHIM_SSH_CONFIG=" + h.ConfigFile, "HOOKSHIM_SSH_PERSIST=0"}
	_, stderr, code := runIn(t, dir, env, "run", "post-deploy", "--", "true")
	if code != 0 {
		t.Fatalf("fresh known_hosts: exit %d, want 0:\n%s", code, stderr)
	}
	name := fmt.Sprintf("[%s]:%d", h.Addr, h.Port)
	if err := exec.Command("ssh-keygen", "-F", name, "-f", h.KnownHosts).Run(); err != nil {
		t.Errorf("%s is not in %s after the first connection: %v", name, h.KnownHosts, err)
	}

	// Now the host "was rebuilt": known_hosts holds another key for it.
	other := filepath.Join(t.TempDir(), "k")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, _ := os.ReadFile(other + ".pub")
	f := strings.Fields(string(pub))
	os.WriteFile(h.KnownHosts, []byte(name+" "+f[0]+" "+f[1]+"\n"), 0o600)
	ran := filepath.Join(t.TempDir(), "ran")
	_, stderr, code = runIn(t, dir, env, "run", "post-deploy", "--", "touch", ran)
	if code != exitcode.Unavailable {
		t.Fatalf("changed host key: exit %d, want 69:\n%s", code, stderr)
	}
	for _, want := range []string{"the host key of " + name + " has changed", h.KnownHosts} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the hook ran")
	}
}

// deploy.yml's ssh: config: is honoured: a file, a list (read in order), false;
// --ssh-config beats HOOKSHIM_SSH_CONFIG, which beats deploy.yml.
func TestSSHParityDeployConfig(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	closed := sshtest.ClosedTarget(t)
	cfgDir := t.TempDir()
	alias := func(name string, tg sshx.Target) string {
		p := filepath.Join(cfgDir, name)
		body := fmt.Sprintf("Host web1\n  HostName %s\n  Port %d\n", tg.Host, tg.Port)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := alias("good", h.Target), alias("bad", closed)
	// One file that leads to the host on its own: the alias, then sshtest's settings.
	whole := filepath.Join(cfgDir, "whole")
	os.WriteFile(whole, []byte(fmt.Sprintf("Include %s\nInclude %s\n", good, h.ConfigFile)), 0o600)
	user := "user: " + h.Target.User
	run := func(dir string, env []string, args ...string) (string, int) {
		_, stderr, code := runIn(t, dir, env, append(append([]string{"run"}, args...), "post-deploy", "--", "true")...)
		return stderr, code
	}
	for _, tc := range []struct {
		name   string
		config string
		env    []string
		args   []string
		want   int
	}{
		{"a file", "config: " + whole, nil, nil, 0},
		{"a list, first value wins", fmt.Sprintf("config: [%s, %s, %s]", good, bad, h.ConfigFile), nil, nil, 0},
		{"a list, wrong order", fmt.Sprintf("config: [%s, %s, %s]", bad, good, h.ConfigFile), nil, nil, exitcode.Unavailable},
		{"HOOKSHIM_SSH_CONFIG beats deploy.yml", "config: " + bad, []string{"HOOKSHIM_SSH_CONFIG=" + whole}, nil, 0},
		{"--ssh-config beats HOOKSHIM_SSH_CONFIG", "config: " + whole, []string{"HOOKSHIM_SSH_CONFIG=" + bad}, []string{"--ssh-config", whole}, 0},
	} {
		stderr, code := run(sshRepo(t, "web1", user, tc.config), tc.env, tc.args...)
		if code != tc.want {
			t.Errorf("%s: exit %d, want %d:\n%s", tc.name, code, tc.want, stderr)
		}
	}

	// false: no file at all, so web1 is not even a known name; the hint says -F none.
	stderr, code := run(sshRepo(t, "web1", user, "config: false"), nil)
	if code != exitcode.Unavailable || !strings.Contains(hintCommand(t, stderr), " -F none ") {
		t.Errorf("config: false: exit %d, want 69 and -F none in the hint:\n%s", code, stderr)
	}

	// key_data: said once, in one line, with the way out.
	stderr, code = run(sshRepo(t, "web1", user, "config: "+whole, "key_data: [SSH_PRIVATE_KEY]"), nil)
	if code != 0 || strings.Count(stderr, "key_data") != 1 || !strings.Contains(stderr, "ssh: keys:") {
		t.Errorf("key_data: exit %d, want 0 and one line about key_data:\n%s", code, stderr)
	}
}

// The ssh command in a hint works when pasted into a shell: -p PORT, never
// user@host:port, with the config file it used.
func TestSSHParityHintPastes(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	dir := sshRepo(t, h.Addr, "user: "+h.Target.User, fmt.Sprintf("port: %d", h.Port))
	h.Stop()
	_, stderr, code := runIn(t, dir, []string{"HOOKSHIM_SSH_CONFIG=" + h.ConfigFile}, "run", "post-deploy", "--", "true")
	if code != exitcode.Unavailable {
		t.Fatalf("host down: exit %d, want 69:\n%s", code, stderr)
	}
	cmd := hintCommand(t, stderr)
	if want := fmt.Sprintf("ssh -p %d -F %s %s@%s true", h.Port, h.ConfigFile, h.Target.User, h.Addr); cmd != want {
		t.Errorf("hint command:\n got %s\nwant %s", cmd, want)
	}
	h.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "sh", "-c", cmd+" </dev/null").CombinedOutput(); err != nil {
		t.Fatalf("the hint's command, pasted: %v: %s", err, out)
	}
}

// A host that stalls is reported as a timeout with its limit; the limits are
// in --help.
func TestSSHParityTimeouts(t *testing.T) {
	t.Parallel()
	_, help, _ := runIn(t, t.TempDir(), nil, "run", "--help")
	stdout, _, _ := runIn(t, t.TempDir(), nil, "run", "--help")
	help += stdout
	for _, want := range []string{"--ssh-timeout D", "ConnectTimeout", "15s", "ServerAliveInterval=5, ServerAliveCountMax=3", "HOOKSHIM_SSH_TIMEOUT"} {
		if !strings.Contains(help, want) {
			t.Errorf("run --help lacks %q:\n%s", want, help)
		}
	}

	silent := sshtest.SilentTarget(t)
	stall := sshtest.BannerThenSilentTarget(t)
	for _, tc := range []struct {
		tg   sshx.Target
		want string
	}{
		{silent, fmt.Sprintf("no answer from 127.0.0.1 port %d within 1s (ConnectTimeout)", silent.Port)},
		{stall, fmt.Sprintf("no answer from 127.0.0.1 port %d for 15s (ServerAliveInterval=5 x ServerAliveCountMax=3)", stall.Port)},
	} {
		dir := sshRepo(t, tc.tg.Host, "user: "+tc.tg.User, fmt.Sprintf("port: %d", tc.tg.Port))
		_, stderr, code := runIn(t, dir, []string{"HOOKSHIM_SSH_CONFIG=none"}, "run", "--ssh-timeout", "1s", "post-deploy", "--", "true")
		if code != exitcode.Unavailable || !strings.Contains(stderr, tc.want) {
			t.Errorf("exit %d, want 69 and %q:\n%s", code, tc.want, stderr)
		}
	}
}
