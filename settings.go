package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/deployconfig"
	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// settingsFlags are the flags that override what config/deploy.yml and the
// KAMAL_* environment say about where the lock is.
func settingsFlags(multiHost bool) []cli.Flag {
	var host cli.Flag = &cli.StringFlag{Name: "host", Usage: "the lock's `HOST` (default: primary host of config/deploy.yml); env HOOKSHIM_HOST"}
	if multiHost {
		host = &cli.StringSliceFlag{Name: "host", Usage: "a `HOST` to look at: host, user@host or host:port; repeatable (default: the hosts of config/deploy.yml); env HOOKSHIM_HOSTS"}
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "service", Usage: "Kamal service `NAME` (default: service: in config/deploy.yml, KAMAL_SERVICE); env HOOKSHIM_SERVICE"},
		&cli.StringFlag{Name: "destination", Aliases: []string{"d"}, Usage: "Kamal `DESTINATION` (default: KAMAL_DESTINATION); env HOOKSHIM_DESTINATION"},
		host,
		&cli.StringFlag{Name: "ssh-user", Usage: "SSH `USER` on the hosts (default: ssh: user: in config/deploy.yml, else root); env HOOKSHIM_SSH_USER"},
		&cli.StringFlag{Name: "ssh-port", Usage: "SSH `PORT` on the hosts (default: ssh: port: in config/deploy.yml); env HOOKSHIM_SSH_PORT"},
		&cli.StringFlag{Name: "hooks-dir", Usage: "Kamal hooks `DIR` (default: hooks_path: in config/deploy.yml, else .kamal/hooks); env HOOKSHIM_HOOKS_DIR"},
		&cli.StringFlag{Name: "layout", Usage: "lock layout to take a free lock in: kamal-2, kamal-1.5, kamal-1.0, mrsk (default: from KAMAL_LOCK or Gemfile.lock, else kamal-2); env HOOKSHIM_LAYOUT"},
	}
}

// resolveSettings applies deploy.yml < KAMAL_* < HOOKSHIM_* < flags.
func resolveSettings(c *cli.Context, p Process, need deployconfig.Need) (*deployconfig.Settings, error) {
	in := deployconfig.Inputs{RepoDir: workDir(p), Env: p.LookupEnv, Flags: map[string]string{}}
	for _, name := range []string{"service", "destination", "ssh-user", "ssh-port", "hooks-dir"} {
		if isSet(c, name) {
			in.Flags[name] = c.String(name)
		}
	}
	if isSet(c, "host") {
		if hosts := c.StringSlice("host"); len(hosts) > 0 {
			in.HostFlags = hosts
			in.Flags["host"] = hosts[0]
		} else {
			in.Flags["host"] = c.String("host")
			in.HostFlags = []string{c.String("host")}
		}
	}
	return deployconfig.Resolve(in, need)
}

func workDir(p Process) string {
	if p.Dir != "" {
		return p.Dir
	}
	d, err := os.Getwd()
	if err != nil {
		return "."
	}
	return d
}

// sshClient is the OpenSSH client every command uses: BatchMode, a connect
// timeout, the user's ssh config (or --ssh-config), and what deploy.yml's
// ssh: section tells Kamal (s may be nil): the jump host (proxy), the proxy
// command, and the identity files (keys, keys_only), so that hookshim
// reaches the hosts the way Kamal does.
func sshClient(c *cli.Context, p Process, s *deployconfig.Settings) *sshx.Client {
	client := &sshx.Client{
		ConfigFile:     flagOrEnv(c, p, "ssh-config", "HOOKSHIM_SSH_CONFIG"),
		ConnectTimeout: 10 * time.Second,
	}
	if s == nil {
		return client
	}
	client.ProxyJump = s.SSHProxy
	if s.SSHProxyCommand != "" {
		client.Options = append(client.Options, "ProxyCommand="+s.SSHProxyCommand)
	}
	for _, k := range s.SSHKeys {
		client.Options = append(client.Options, "IdentityFile="+k)
	}
	if s.SSHKeysOnly {
		client.Options = append(client.Options, "IdentitiesOnly=yes")
	}
	return client
}

// hostTarget turns a host named in settings into an SSH target, with the
// settings' user and port unless the host names its own.
func hostTarget(host string, s *deployconfig.Settings) (sshx.Target, error) {
	t, err := sshx.ParseTarget(host)
	if err != nil {
		return t, exitcode.New(exitcode.Usage, err, "name a host as host, user@host or host:port")
	}
	if t.User == "" {
		t.User = s.SSHUser
	}
	if t.Port == 0 {
		t.Port = s.SSHPort
	}
	return t, nil
}

// lockStore is where the lock is: root (--root) on this machine, else the primary
// host over SSH. dial, when set, opens one multiplexed connection for a
// command that looks more than once.
func lockStore(c *cli.Context, p Process, root string, s *deployconfig.Settings) (store lockfile.Store, dial func(context.Context) (lockfile.Store, io.Closer, error), err error) {
	if root != "" {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return nil, nil, exitcode.Newf(exitcode.NoInput, "--root %s is not a directory", root).
				WithHint("pass the directory that stands in for the SSH user's home on the lock host")
		}
		abs, _ := filepath.Abs(root)
		return lockfile.Local{Root: abs}, nil, nil
	}
	t, err := hostTarget(s.PrimaryHost, s)
	if err != nil {
		return nil, nil, err
	}
	client := sshClient(c, p, s)
	store = lockfile.Remote{Host: t.Host, Runner: lockfile.OnHost(client, t), Login: t}
	dial = func(ctx context.Context) (lockfile.Store, io.Closer, error) {
		conn, err := client.Dial(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		return lockfile.Remote{Host: t.Host, Runner: conn, Login: t}, conn, nil
	}
	return store, dial, nil
}

// takeLayout is the layout a free lock is taken in: the one this Kamal uses.
// KAMAL_LOCK exists only in Kamal 2.6+; otherwise Gemfile.lock says which Kamal
// the repository deploys with.
func takeLayout(c *cli.Context, p Process) (lockfile.Layout, string, error) {
	if v := flagOrEnv(c, p, "layout", "HOOKSHIM_LAYOUT"); v != "" {
		l, err := lockfile.ParseLayout(v)
		if err != nil {
			return "", "", exitcode.New(exitcode.Usage, err)
		}
		return l, "--layout", nil
	}
	if _, ok := p.LookupEnv("KAMAL_LOCK"); ok {
		return lockfile.LayoutKamal2, "KAMAL_LOCK", nil
	}
	if major, minor, ok := gemfileKamal(workDir(p)); ok {
		switch {
		case major >= 2:
			return lockfile.LayoutKamal2, "Gemfile.lock", nil
		case major == 1 && minor >= 5:
			return lockfile.LayoutKamal15, "Gemfile.lock", nil
		case major == 1:
			return lockfile.LayoutKamal10, "Gemfile.lock", nil
		}
	}
	return lockfile.LayoutKamal2, "default", nil
}

// gemfileKamal reads the kamal gem's version from the repository's Gemfile.lock.
func gemfileKamal(dir string) (major, minor int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, "Gemfile.lock"))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, found := strings.CutPrefix(strings.TrimSpace(line), "kamal (")
		if !found {
			continue
		}
		v = strings.TrimSuffix(v, ")")
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			continue
		}
		ma, err1 := strconv.Atoi(parts[0])
		mi, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil {
			return ma, mi, true
		}
	}
	return 0, 0, false
}

// gitUserName is what Kamal writes as "Locked by": `git config user.name` on
// the deployer's machine, verbatim (empty when unset), or "Unknown" when git
// cannot be run at all — exactly Kamal's rule.
func gitUserName(p Process) func() string {
	return sync.OnceValue(func() string {
		cmd := exec.Command("git", "config", "user.name")
		cmd.Dir, cmd.Env = workDir(p), p.Env
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return "Unknown"
		}
		return strings.TrimSpace(string(out))
	})
}
