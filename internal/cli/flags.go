package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
)

// The flags more than one command takes are defined here, once, with the
// plain values they are read into (logOptions, sshOptions, whereOptions) and
// the one way a command reads them: at its edge, into its options struct.

// commonFlags are the flags commands share: logging (every command), and
// where the lock lives (the commands that look at it). A command takes only
// those that change what it does (logFlags, rootFlag, sshFlags): a flag
// that would change nothing is refused rather than silently ignored.
func commonFlags() []cli.Flag {
	return append(append(logFlags(), rootFlag()), sshFlags()...)
}

// withCommon appends the common flags to a command's own.
func withCommon(flags ...cli.Flag) []cli.Flag { return append(flags, commonFlags()...) }

// withLog appends logFlags and the others given to a command's own flags.
func withLog(flags []cli.Flag, others ...cli.Flag) []cli.Flag {
	return append(append(flags, logFlags()...), others...)
}

// logFlags are --log-format and --log-level.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "console", Usage: "log format: console or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn, error"},
	}
}

// rootFlag is --root.
func rootFlag() cli.Flag {
	return &cli.StringFlag{Name: "root", Usage: "treat `DIR` on this machine as the SSH user's home on the lock host (no SSH)"}
}

// defaultSSHTimeout is --ssh-timeout's default: ssh's ConnectTimeout.
const defaultSSHTimeout = 10 * time.Second

// sshFlags are --ssh-config and --ssh-timeout. --ssh-timeout's help states
// every limit ssh is given (sshx.Client documents them).
func sshFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ssh-config", Usage: "pass `FILE` to ssh as -F, none for no file (default: ssh: config: in config/deploy.yml, else ssh's own ~/.ssh/config and /etc/ssh/ssh_config); env HOOKSHIM_SSH_CONFIG"},
		&cli.DurationFlag{Name: "ssh-timeout", Value: defaultSSHTimeout,
			Usage: "give up on an SSH host that does not answer the connection within `D` (ssh's ConnectTimeout: TCP connect and SSH banner); " +
				"after the banner, ssh gives up on a host silent for 15s (key exchange, login) or 20s (a running session) (ServerAliveInterval=5, ServerAliveCountMax=3); env HOOKSHIM_SSH_TIMEOUT"},
	}
}

// stateDirFlag is --state-dir, for every command that keeps or reads
// deferred jobs (run, waiter, wait, locks); stateDir resolves it.
func stateDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "state-dir", Usage: "deferred hooks' jobs are kept in `DIR` (default $XDG_STATE_HOME/hookshim, else ~/.local/state/hookshim); env HOOKSHIM_STATE_DIR"}
}

// serviceFlag is --service; usage says what it means to the command.
func serviceFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "service", Usage: usage}
}

// destinationFlag is --destination (-d).
func destinationFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "destination", Aliases: []string{"d"}, Usage: usage}
}

// sshUserFlag is --ssh-user.
func sshUserFlag(usage string) cli.Flag { return &cli.StringFlag{Name: "ssh-user", Usage: usage} }

// sshPortFlag is --ssh-port.
func sshPortFlag(usage string) cli.Flag { return &cli.StringFlag{Name: "ssh-port", Usage: usage} }

// Usages of the settings flags where they override deploy.yml (settingsFlags).
const (
	serviceUsage     = "Kamal service `NAME` (default: service: in config/deploy.yml, KAMAL_SERVICE); env HOOKSHIM_SERVICE"
	destinationUsage = "Kamal `DESTINATION` (default: KAMAL_DESTINATION); env HOOKSHIM_DESTINATION"
	sshUserUsage     = "SSH `USER` on the hosts (default: ssh: user: in config/deploy.yml, else root); env HOOKSHIM_SSH_USER"
	sshPortUsage     = "SSH `PORT` on the hosts (default: ssh: port: in config/deploy.yml); env HOOKSHIM_SSH_PORT"
	sshProxyUsage    = "reach the hosts through the jump host `[USER@]HOST[:PORT]` (ssh -J), none to connect directly (default: ssh: proxy: in config/deploy.yml); env HOOKSHIM_SSH_PROXY"
)

// settingsFlags are the flags that override what config/deploy.yml and the
// KAMAL_* environment say about where the lock is (read by readWhere); only
// those named, in this order, or all of them when none is named.
func settingsFlags(multiHost bool, only ...string) []cli.Flag {
	var host cli.Flag = &cli.StringFlag{Name: "host", Usage: "the lock's `HOST` (default: primary host of config/deploy.yml); env HOOKSHIM_HOST"}
	if multiHost {
		host = &cli.StringSliceFlag{Name: "host", Usage: "a `HOST` to look at: host, user@host or host:port; repeatable (default: the hosts of config/deploy.yml); env HOOKSHIM_HOSTS"}
	}
	all := []cli.Flag{
		serviceFlag(serviceUsage),
		destinationFlag(destinationUsage),
		host,
		sshUserFlag(sshUserUsage),
		sshPortFlag(sshPortUsage),
		&cli.StringFlag{Name: "ssh-proxy", Usage: sshProxyUsage},
		&cli.StringFlag{Name: "hooks-dir", Usage: "Kamal hooks `DIR` (default: hooks_path: in config/deploy.yml, else .kamal/hooks); env HOOKSHIM_HOOKS_DIR"},
		&cli.StringFlag{Name: "layout", Usage: "the Kamal generation whose lock this is, by its `LAYOUT`: kamal-2 (2.x), kamal-1.5 (1.5-1.9), kamal-1.0 (1.0-1.4), kamal-0.16, mrsk-0.15, mrsk (MRSK 0.10-0.14); a lock in another generation's place is then a leftover (default: from KAMAL_LOCK, KAMAL_SERVICE and Gemfile.lock; a free lock is taken in kamal-2); env HOOKSHIM_LAYOUT"},
	}
	if len(only) == 0 {
		return all
	}
	var out []cli.Flag
	for _, f := range all {
		for _, name := range only {
			if f.Names()[0] == name {
				out = append(out, f)
			}
		}
	}
	return out
}

// isSet reports whether a flag (by any of its names) was given on the command
// line: the one way hookshim asks, never c.IsSet. urfave/cli's own IsSet
// runs a regular expression over every flag's names on each call, a third of
// a local `hookshim run`'s CPU time; the set flags are worked out once per
// command instead.
func isSet(c *cli.Context, name string) bool {
	key := "hookshim.set-flags." + c.Command.FullName()
	set, ok := c.App.Metadata[key].(map[string]bool)
	if !ok {
		set = map[string]bool{}
		for _, n := range c.LocalFlagNames() {
			set[n] = true
		}
		// A flag given by an alias counts under every name it has.
		for _, f := range c.Command.Flags {
			names := f.Names()
			for _, n := range names {
				if set[n] {
					for _, m := range names {
						set[m] = true
					}
					break
				}
			}
		}
		if c.App.Metadata == nil {
			c.App.Metadata = map[string]any{}
		}
		c.App.Metadata[key] = set
	}
	return set[name]
}

// setting is one value read by flagOrEnv, as text: the flag's, else its
// environment variable's (Env names it), else the flag's default.
type setting struct {
	Value string `json:"value,omitempty"`
	Env   string `json:"env,omitempty"` // the variable Value came from; "" for the flag or its default
}

// flagOrEnv is the flag's value when it was given, else the environment
// variable's when set and not empty, else the flag's default.
//
// It exists because urfave/cli's EnvVars reads the real process's
// environment (os.LookupEnv), while hookshim takes its environment as a
// value, Process.Env, so that every command runs in-process in tests with
// an environment of its own. No flag uses EnvVars; this is the one reader.
func flagOrEnv(c *cli.Context, p Process, flag, env string) setting {
	if isSet(c, flag) {
		return setting{Value: c.String(flag)}
	}
	if v, ok := p.LookupEnv(env); ok && v != "" {
		return setting{Value: v, Env: env}
	}
	return setting{Value: c.String(flag)}
}

// from names where s came from for an error: its variable, else --flag.
func (s setting) from(flag string) string {
	if s.Env != "" {
		return s.Env
	}
	return "--" + flag
}

// given is value as the user gave it, by from (a flag, or a variable) and
// for an error's start: `--log-level "loud"`, `HOOKSHIM_LOG_LEVEL="loud"`;
// from "" is the flag named def.
func given(from, def, value string) string {
	if from == "" {
		from = def
	}
	if strings.HasPrefix(from, "--") {
		return fmt.Sprintf("%s %q", from, value)
	}
	return fmt.Sprintf("%s=%q", from, value)
}

// duration is s as a duration, 0 when empty. A flag's value is one already
// (urfave/cli parsed it); a variable's that is not, or is negative, is a
// usage error naming the variable.
func (s setting) duration() (time.Duration, error) {
	if s.Value == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s.Value)
	switch {
	case s.Env != "" && err != nil:
		return 0, exitcode.Newf(exitcode.Usage, "%s=%q is not a duration", s.Env, s.Value).WithHint("use a duration such as 30s or 5m")
	case s.Env != "" && d < 0:
		// As refuseNegativeDurations says it of the flag.
		return 0, exitcode.Newf(exitcode.Usage, "%s=%q is negative", s.Env, s.Value).WithHint("set it to a duration of 0 or more, e.g. 30s or 5m, or unset it")
	}
	return d, err
}

// bool is s as a boolean, as strconv.ParseBool reads it.
func (s setting) bool() (bool, error) {
	b, err := strconv.ParseBool(s.Value)
	if s.Env != "" && err != nil {
		return false, exitcode.Newf(exitcode.Usage, "%s=%q is not true or false", s.Env, s.Value).WithHint("set it to true or false, or unset it")
	}
	return b, err
}

// logOptions are --log-format and --log-level (or HOOKSHIM_LOG_FORMAT,
// HOOKSHIM_LOG_LEVEL), checked by newLogger.
type logOptions struct {
	Format string `json:"format"`
	Level  string `json:"level"`
	// FormatFrom and LevelFrom name where a bad value came from, for
	// newLogger's error: --log-format or HOOKSHIM_LOG_FORMAT, ... ("": the flag).
	FormatFrom string `json:"-"`
	LevelFrom  string `json:"-"`
}

func readLogOptions(c *cli.Context, p Process) logOptions {
	format := flagOrEnv(c, p, "log-format", "HOOKSHIM_LOG_FORMAT")
	level := flagOrEnv(c, p, "log-level", "HOOKSHIM_LOG_LEVEL")
	return logOptions{Format: format.Value, Level: level.Value, FormatFrom: format.from("log-format"), LevelFrom: level.from("log-level")}
}

// sshOptions are --ssh-config and --ssh-timeout (or HOOKSHIM_SSH_CONFIG,
// HOOKSHIM_SSH_TIMEOUT). Timeout is checked by sshClient, so that a bad
// HOOKSHIM_SSH_TIMEOUT stops only a command that goes over SSH.
type sshOptions struct {
	Config    string  `json:"config,omitempty"`
	ConfigEnv string  `json:"config_env,omitempty"` // HOOKSHIM_SSH_CONFIG when Config came from it; "" for --ssh-config
	Timeout   setting `json:"timeout"`
}

func readSSHOptions(c *cli.Context, p Process) sshOptions {
	config := flagOrEnv(c, p, "ssh-config", "HOOKSHIM_SSH_CONFIG")
	return sshOptions{
		Config:    config.Value,
		ConfigEnv: config.Env,
		Timeout:   flagOrEnv(c, p, "ssh-timeout", "HOOKSHIM_SSH_TIMEOUT"),
	}
}

// whereOptions are the settings flags given (settingsFlags), by name: what
// overrides deploy.yml and the environment in resolveSettings.
type whereOptions struct {
	Flags map[string]string `json:"flags,omitempty"`
	Hosts []string          `json:"hosts,omitempty"` // every --host, for the commands that take several
}

func readWhere(c *cli.Context) whereOptions {
	w := whereOptions{Flags: map[string]string{}}
	for _, name := range []string{"service", "destination", "ssh-user", "ssh-port", "ssh-proxy", "hooks-dir"} {
		if isSet(c, name) {
			w.Flags[name] = c.String(name)
		}
	}
	if isSet(c, "host") {
		if hosts := c.StringSlice("host"); len(hosts) > 0 {
			w.Hosts = hosts
			w.Flags["host"] = hosts[0]
		} else {
			w.Flags["host"] = c.String("host")
			w.Hosts = []string{c.String("host")}
		}
	}
	return w
}

// unresolvedHint is the hint for hosts whose names ssh could not resolve
// (sshx.UnreachableError.Unresolved) among errs, "" when there are none. A
// name only an ssh config file knows (a Host alias such as web1) does not
// resolve when ssh is not given that file: outside the repository whose
// deploy.yml names it, say.
func unresolvedHint(errs ...error) string {
	var hosts []string
	for _, err := range errs {
		var ue *sshx.UnreachableError
		if errors.As(err, &ue) && ue.Unresolved() && !slices.Contains(hosts, ue.Target.Host) {
			hosts = append(hosts, ue.Target.Host)
		}
	}
	switch len(hosts) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("ssh could not resolve %s: if it is a Host of an ssh config file that ssh did not read, pass that file: --ssh-config FILE (or HOOKSHIM_SSH_CONFIG=FILE)", hosts[0])
	}
	return fmt.Sprintf("ssh could not resolve %s: if they are Hosts of an ssh config file that ssh did not read, pass that file: --ssh-config FILE (or HOOKSHIM_SSH_CONFIG=FILE)", strings.Join(hosts, ", "))
}

// withUnresolvedHint adds unresolvedHint(err) to err's outermost
// *exitcode.Error, after the hints it has; err unchanged otherwise.
func withUnresolvedHint(err error) error {
	var e *exitcode.Error
	if h := unresolvedHint(err); h != "" && errors.As(err, &e) {
		e.WithHint("%s", h)
	}
	return err
}
