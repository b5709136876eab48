package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/settings"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

// resolveSettings applies deploy.yml < KAMAL_* < HOOKSHIM_* < flags.
func resolveSettings(p Process, w whereOptions, need settings.Need) (*settings.Settings, error) {
	in := settings.Inputs{RepoDir: workDir(p), Env: p.LookupEnv, Flags: w.Flags, HostFlags: w.Hosts}
	if in.Flags == nil {
		in.Flags = map[string]string{}
	}
	return settings.Resolve(in, need)
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
// timeout (--ssh-timeout), Kamal's host key policy (sshx.Client), the ssh
// config files (--ssh-config > HOOKSHIM_SSH_CONFIG > deploy.yml's ssh: config:),
// and what else deploy.yml's ssh: section tells Kamal (s may be nil): the jump
// host (proxy), the proxy command, and the identity files (keys, keys_only), so
// that hookshim reaches the hosts the way Kamal does.
func sshClient(p Process, log zerolog.Logger, o sshOptions, s *settings.Settings) (*sshx.Client, error) {
	timeout, err := o.Timeout.duration()
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = defaultSSHTimeout
	}
	if err := checkSSHConfig(o); err != nil {
		return nil, err
	}
	client := &sshx.Client{
		ConfigFile:     o.Config,
		ConnectTimeout: timeout,
	}
	if s == nil {
		return client, nil
	}
	if client.ConfigFile == "" {
		switch {
		case s.SSHConfigNone:
			client.ConfigFile = "none"
		case len(s.SSHConfigFiles) > 0:
			cf, err := sshx.ConfigFileFor(s.SSHConfigFiles, cacheDir(p))
			if err != nil {
				return nil, exitcode.New(exitcode.CantCreate, fmt.Errorf("config/deploy.yml ssh.config: %w", err),
					"or pass one file with --ssh-config FILE")
			}
			client.ConfigFile = cf
		}
	}
	if s.DeployFileErr != nil && s.DeployFileSSH { // settings.Resolve let it through: the jump host was given
		log.Warn().Msgf("%s cannot be used (%v); its ssh: settings are not applied (jump host: %s, from %s)",
			"config/deploy.yml", s.DeployFileErr, cmp.Or(s.SSHProxy, "none"), s.Sources["ssh_proxy"])
	}
	if s.SSHKeyData {
		log.Warn().Msg("config/deploy.yml sets ssh: key_data: (keys as text), which hookshim does not use: list the key's file under ssh: keys:, or load it into an agent (ssh-add)")
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
	return client, nil
}

// checkSSHConfig refuses an --ssh-config (or HOOKSHIM_SSH_CONFIG) file that
// cannot be opened, before any ssh starts: ssh would exit 255 with "Can't open
// user config file", which reads as an unreachable host (69, and a host
// unreadable in `locks` and its metrics) when it is a local mistake. It is
// checked as ssh reads -F: relative to the working directory; "none" is no
// file. deploy.yml's ssh: config: files are not checked here: Kamal skips
// those it cannot read (sshx.ConfigFileFor).
func checkSSHConfig(o sshOptions) error {
	if o.Config == "" || o.Config == "none" {
		return nil
	}
	from, hint := "--ssh-config", "pass --ssh-config an ssh config file that exists, or none to read no ssh config file"
	if o.ConfigEnv != "" {
		from, hint = o.ConfigEnv, "set "+o.ConfigEnv+" to an ssh config file that exists, or to none to read no ssh config file, or unset it"
	}
	problem, code := "", exitcode.NoInput
	f, err := os.Open(o.Config)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		problem = "does not exist"
	case errors.Is(err, fs.ErrPermission):
		problem, code = "cannot be read: permission denied", exitcode.NoPerm
	case err != nil:
		problem = "cannot be read: " + errors.Unwrap(err).Error() // a *fs.PathError: the path is said once
	default:
		fi, err := f.Stat()
		f.Close()
		if err == nil && fi.IsDir() {
			problem = "is a directory"
		}
	}
	if problem == "" {
		return nil
	}
	return exitcode.Newf(code, "ssh config file %s (from %s) %s", o.Config, from, problem).WithHint("%s", hint)
}

// cacheDir is where hookshim keeps files it can make again: $XDG_CACHE_HOME,
// else ~/.cache, from p's environment ("" when neither is set).
func cacheDir(p Process) string {
	if d := p.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return d
	}
	if h := p.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache")
	}
	return ""
}

// hostTarget turns a host named in settings into an SSH target, with the
// settings' user and port unless the host names its own.
func hostTarget(host string, s *settings.Settings) (sshx.Target, error) {
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

// lockStore is where the lock is: root (--root, or what rootFrom names) on this
// machine, else the primary host over SSH. dial, when set, opens one multiplexed connection for a
// command that looks more than once.
func lockStore(p Process, log zerolog.Logger, root, rootFrom string, o sshOptions, s *settings.Settings) (store lockfile.Store, dial func(context.Context) (lockfile.Store, io.Closer, error), err error) {
	if root != "" {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return nil, nil, exitcode.Newf(exitcode.NoInput, "%s %s is not a directory", cmp.Or(rootFrom, "--root"), root).
				WithHint("pass the directory that stands in for the SSH user's home on the lock host")
		}
		abs, _ := filepath.Abs(root)
		return lockfile.Local{Root: abs}, nil, nil
	}
	t, err := hostTarget(s.PrimaryHost, s)
	if err != nil {
		return nil, nil, err
	}
	client, err := sshClient(p, log, o, s)
	if err != nil {
		return nil, nil, err
	}
	// The hooks of one deploy share one connection (sshx.Client.ShareDir);
	// HOOKSHIM_SSH_PERSIST=0 turns that off.
	persist := sshx.DefaultPersist
	if v := p.Getenv("HOOKSHIM_SSH_PERSIST"); v != "" {
		if persist, err = time.ParseDuration(v); err != nil {
			return nil, nil, exitcode.Newf(exitcode.Usage, "HOOKSHIM_SSH_PERSIST=%q is not a duration", v).WithHint("give a duration such as 5m, or 0 for one SSH connection per hook")
		} else if persist < 0 {
			return nil, nil, exitcode.Newf(exitcode.Usage, "HOOKSHIM_SSH_PERSIST=%q is negative", v).WithHint("give a duration such as 5m, or 0 for one SSH connection per hook")
		}
	}
	if persist > 0 {
		client.ShareDir, client.SharePersist = sshx.ShareDir(p.Getenv), persist
	}
	// The hint's ssh command line only when a hint is printed (lockfile.Remote.SSH).
	hint := &lazyString{f: func() string { return t.Command(client) }}
	store = lockfile.Remote{Host: t.Host, SSH: hint, Runner: lockfile.OnHost(client, t)}
	dial = func(ctx context.Context) (lockfile.Store, io.Closer, error) {
		conn, err := client.Dial(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		return lockfile.Remote{Host: t.Host, SSH: hint, Runner: conn}, conn, nil
	}
	return store, dial, nil
}

// lazyString is a string worked out on its first use.
type lazyString struct {
	once sync.Once
	f    func() string
	s    string
}

func (l *lazyString) String() string {
	l.once.Do(func() { l.s = l.f() })
	return l.s
}

// callerRange is what is known of the calling Kamal's release: layout
// (--layout or HOOKSHIM_LAYOUT) when not "", the KAMAL_* environment, the hook, and the kamal
// gem in Gemfile.lock (shim.CallerRange says which wins).
func callerRange(p Process, layout string, k shim.KamalEnv, hook string) (shim.VersionRange, error) {
	var l *lockfile.Layout
	if layout != "" {
		parsed, err := lockfile.ParseLayout(layout)
		if err != nil {
			return shim.VersionRange{}, exitcode.New(exitcode.Usage, err, "pass --layout with one of those names, or leave it out to go by KAMAL_LOCK and Gemfile.lock")
		}
		l = &parsed
	}
	return shim.CallerRange(k, hook, l, gemfileKamal(workDir(p))), nil
}

// gemfileKamal reads the kamal (or mrsk) gem's version from the repository's
// Gemfile.lock: the line "    kamal (2.5.3)" under specs. nil when there is none.
func gemfileKamal(dir string) *lockfile.Version {
	b, err := os.ReadFile(filepath.Join(dir, "Gemfile.lock"))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		v, found := strings.CutPrefix(line, "kamal (")
		if !found {
			v, found = strings.CutPrefix(line, "mrsk (")
		}
		if !found {
			continue
		}
		parts := strings.SplitN(strings.TrimSuffix(v, ")"), ".", 3)
		if len(parts) < 2 {
			continue
		}
		ma, err1 := strconv.Atoi(parts[0])
		mi, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && ma >= 0 && mi >= 0 {
			return &lockfile.Version{Major: ma, Minor: mi}
		}
	}
	return nil
}

// gitRevision is what Kamal deploys when no version is given: `git rev-parse
// HEAD` in the repository (Kamal 2.12 lib/kamal/configuration.rb git_version,
// without the _uncommitted_ suffix it adds for a dirty tree); "" outside git.
func gitRevision(p Process) func() string {
	return sync.OnceValue(func() string {
		cmd := exec.Command("git", "rev-parse", "HEAD")
		cmd.Dir, cmd.Env = workDir(p), p.Env
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	})
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
