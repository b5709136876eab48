package kamalemu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookshim/hookshim/internal/deployconfig"
)

// Environment knobs (see the package documentation).
const (
	EnvVersion       = "KAMAL_EMU_VERSION"
	EnvSSHConfig     = "KAMAL_EMU_SSH_CONFIG"
	EnvRoot          = "KAMAL_EMU_ROOT"
	EnvLog           = "KAMAL_EMU_LOG"
	EnvDeployVersion = "KAMAL_EMU_DEPLOY_VERSION"
	EnvHoldFIFO      = "KAMAL_EMU_HOLD_FIFO"
)

// DefaultVersion is the Kamal emulated when KAMAL_EMU_VERSION is not set.
const DefaultVersion = "2.12.0"

// FallbackDeployVersion is the version deployed when neither a knob nor git
// says: the version of the recordings in lockfile/testdata/kamal.
const FallbackDeployVersion = "d018f90b8de4599db01a44090e61eeb581595c52"

// Main behaves as the `kamal` executable: it reads os.Args, the environment and
// the working directory, and exits with Kamal's exit status.
func Main() {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kamal:", err)
		os.Exit(1)
	}
	os.Exit(Run(os.Args[1:], os.Environ(), dir, os.Stdout, os.Stderr))
}

// Run is Main with its inputs as values: args without the program name, the
// environment (KEY=VALUE), the working directory (the repository), and the
// output streams. It returns the exit status.
func Run(args, env []string, dir string, stdout, stderr io.Writer) int {
	var mu sync.Mutex
	e := &emu{
		env:    append([]string(nil), env...),
		dir:    dir,
		stdout: &lockedWriter{mu: &mu, w: stdout},
		stderr: &lockedWriter{mu: &mu, w: stderr},
	}
	return e.main(args)
}

// lockedWriter serialises writes to the emulator's outputs, which the copies of
// a hook's stdout and stderr write to at the same time.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// emu is one run of the emulated Kamal.
type emu struct {
	env    []string
	dir    string
	stdout io.Writer
	stderr io.Writer

	ver    kamalVersion
	opts   options
	cfg    *deployconfig.File
	dest   string
	svc    string
	hosts  []host // the hosts of this command (KAMAL.hosts)
	prim   host   // where the lock lives (KAMAL.primary_host)
	roles  []string
	runDir string

	command, subcommand string

	deployVersion string // KAMAL.config.version when the lock is taken
	hookVersion   string // KAMAL.config.version for hooks (rollback changes it)
	lockedBy      string
	performer     string

	connected   bool // pre-connect has run (KAMAL.connected)
	holdingLock bool // KAMAL.holding_lock
	held        bool // the hold point was passed
	secrets     [][2]string
	secretsRead bool
}

// kamalError is an error as bin/kamal reports it: "  ERROR (CLASS): MESSAGE".
type kamalError struct {
	class string
	msg   string
}

func (k *kamalError) Error() string { return k.msg }

// usageError is an error Thor reports on standard error before any command runs.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func (e *emu) getenv(key string) string {
	v, _ := e.lookup(key)
	return v
}

func (e *emu) lookup(key string) (string, bool) {
	for i := len(e.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e.env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// setenv returns env with key set to value (replacing every earlier setting).
func setenv(env []string, key, value string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

func (e *emu) say(format string, args ...any) {
	fmt.Fprintf(e.stdout, format+"\n", args...)
}

func (e *emu) main(args []string) int {
	verText := e.getenv(EnvVersion)
	if verText == "" {
		verText = DefaultVersion
	}
	v, err := parseVersion(verText)
	if err != nil {
		fmt.Fprintf(e.stderr, "kamal emulator: %s=%q: %v\n", EnvVersion, verText, err)
		return 1
	}
	e.ver = v

	opts, err := parseArgs(args, v)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return 1
	}
	e.opts = opts
	err = e.dispatch()
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(e.stderr, ue.msg)
		return 1
	}
	var ke *kamalError
	var xe *execError
	if errors.As(err, &xe) {
		ke = xe.asKamal()
	} else if !errors.As(err, &ke) {
		ke = &kamalError{class: "RuntimeError", msg: err.Error()}
	}
	// bin/kamal puts "  ERROR (CLASS): MESSAGE\e[0m": a message that ends in a
	// newline (SSHKit's, a HookError's) is followed by an empty line once the
	// colour code is gone (recorded: testdata/real/*/fail-*.txt).
	fmt.Fprintf(e.stdout, "  ERROR (%s): %s\n", ke.class, ke.msg)
	return 1
}

func (e *emu) dispatch() error {
	pos := e.opts.pos
	if e.opts.help || len(pos) == 0 || pos[0] == "help" {
		e.usage()
		return nil
	}
	if pos[0] == "version" {
		e.say("%s", e.ver)
		return nil
	}
	e.command = pos[0]
	switch pos[0] {
	case "lock":
		if len(pos) < 2 {
			e.usage()
			return nil
		}
		e.subcommand = pos[1]
		if err := e.load(); err != nil {
			return err
		}
		switch pos[1] {
		case "status":
			return e.lockStatus()
		case "acquire":
			if !e.opts.has("message") {
				return &usageError{"No value provided for required options '--message'"}
			}
			return e.lockAcquire(e.opts.message)
		case "release":
			return e.lockRelease()
		}
		return &usageError{fmt.Sprintf("Could not find command %q in \"lock\" namespace.", pos[1])}
	case "setup", "deploy", "redeploy":
		if err := e.load(); err != nil {
			return err
		}
		switch pos[0] {
		case "setup":
			return e.setup()
		case "deploy":
			return e.deploy(false)
		}
		return e.redeploy()
	case "rollback":
		if len(pos) < 2 {
			return &usageError{"ERROR: \"kamal rollback\" was called with no arguments\nUsage: \"kamal rollback [VERSION]\""}
		}
		if err := e.load(); err != nil {
			return err
		}
		return e.rollback(pos[1])
	case "accessory":
		if len(pos) < 2 {
			e.usage()
			return nil
		}
		e.subcommand = pos[1]
		switch pos[1] {
		case "boot", "reboot", "start", "stop", "restart", "remove", "upload", "directories", "exec", "details", "logs":
		default:
			return &usageError{fmt.Sprintf("Could not find command %q in \"accessory\" namespace.", pos[1])}
		}
		if len(pos) < 3 {
			return &usageError{fmt.Sprintf("ERROR: \"kamal accessory %s\" was called with no arguments\nUsage: \"kamal accessory %s [NAME]\"", pos[1], pos[1])}
		}
		if err := e.load(); err != nil {
			return err
		}
		return e.accessory(pos[1], pos[2], pos[3:])
	}
	return &usageError{fmt.Sprintf("Could not find command %q.", pos[0])}
}

func (e *emu) usage() {
	e.say(`Commands (Kamal %s emulator, for hookshim's tests):
  kamal accessory [boot|reboot|exec|...] NAME  # Manage accessories (emulated: the lock only)
  kamal deploy                                 # Deploy app to servers
  kamal lock [acquire -m MSG|release|status]   # Manage the deploy lock
  kamal redeploy                               # Deploy app to servers without bootstrapping servers
  kamal rollback [VERSION]                     # Rollback app to VERSION
  kamal setup                                  # Setup all accessories, push the env, and deploy app to servers
  kamal version                                # Show Kamal version`, e.ver)
}

// load reads the configuration and works out hosts, versions and identities.
func (e *emu) load() error {
	if cf := e.opts.configFile; cf != "" && path.Clean(cf) != deployconfig.DeployFile {
		return &kamalError{class: "RuntimeError", msg: "the Kamal emulator reads only config/deploy.yml (-c " + cf + ")"}
	}
	e.dest = e.opts.destination
	cfg, err := deployconfig.Load(e.dir, e.dest)
	if err != nil {
		if errors.Is(err, deployconfig.ErrNoDeployFile) {
			return &kamalError{class: "RuntimeError", msg: "Configuration file not found in " + filepath.Join(e.dir, deployconfig.DeployFile)}
		}
		return &kamalError{class: "RuntimeError", msg: err.Error()}
	}
	e.cfg = cfg
	if raw, ok := cfg.Unresolved["service"]; ok {
		return &kamalError{class: "RuntimeError", msg: "the Kamal emulator cannot evaluate ERB: service is " + raw}
	}
	if cfg.Service == "" {
		return &kamalError{class: "Kamal::ConfigurationError", msg: "service: required"}
	}
	e.svc = cfg.Service

	if err := e.selectHosts(); err != nil {
		return err
	}

	e.runDir = ".kamal"
	if !e.ver.atLeast(2, 0) && cfg.RunDirectory != "" {
		e.runDir = cfg.RunDirectory
	}

	e.deployVersion = e.opts.version
	if e.deployVersion == "" {
		e.deployVersion = e.getenv(EnvDeployVersion)
	}
	if e.deployVersion == "" {
		e.deployVersion = e.getenv("VERSION")
	}
	if e.deployVersion == "" {
		if out, err := e.git("rev-parse", "HEAD"); err == nil && out != "" {
			e.deployVersion = out + e.uncommittedSuffix()
		}
	}
	if e.deployVersion == "" {
		e.deployVersion = FallbackDeployVersion
	}
	e.hookVersion = e.deployVersion

	// Kamal::Git.user_name is `git config user.name`.strip: empty when git runs
	// but has no name; "Unknown" only when git cannot be run (Errno::ENOENT).
	name, err := e.git("config", "user.name")
	var xe *exitErr
	switch {
	case err == nil, errors.As(err, &xe):
		e.lockedBy = name
	default:
		e.lockedBy = "Unknown"
	}
	if e.ver.atLeast(1, 8) {
		if email, _ := e.git("config", "user.email"); email != "" {
			e.performer = email
		}
	}
	if e.performer == "" {
		e.performer = e.whoami()
	}

	// Since 2.6 a Kamal started with KAMAL_LOCK=true holds the lock already.
	if e.ver.atLeast(2, 6) && e.getenv("KAMAL_LOCK") == "true" {
		e.holdingLock = true
	}
	return nil
}

// selectHosts applies --roles, --hosts and --primary the way Kamal's commander
// does: they narrow the hosts, and the primary host becomes the first host (of
// the first role) named.
func (e *emu) selectHosts() error {
	cfg := e.cfg
	for key, raw := range cfg.Unresolved {
		if strings.HasPrefix(key, "servers") || key == "primary_role" || strings.HasPrefix(key, "ssh") {
			return &kamalError{class: "RuntimeError", msg: "the Kamal emulator cannot evaluate ERB: " + key + " is " + raw}
		}
	}
	primary, err := cfg.PrimaryHost()
	if err != nil {
		return &kamalError{class: "Kamal::ConfigurationError", msg: err.Error()}
	}
	names := cfg.Hosts()
	if e.opts.roles != "" {
		patterns := strings.Split(e.opts.roles, ",")
		var picked []string
		seen := map[string]bool{}
		first := ""
		// Kamal orders the primary role first.
		roles := append([]deployconfig.Role(nil), cfg.Roles...)
		for i, r := range roles {
			if r.Name == cfg.PrimaryRole || (cfg.PrimaryRole == "" && r.Name == "web") {
				roles[0], roles[i] = roles[i], roles[0]
				break
			}
		}
		for _, r := range roles {
			if !matchAny(patterns, r.Name) {
				continue
			}
			e.roles = append(e.roles, r.Name)
			if first == "" && len(r.Hosts) > 0 {
				first = r.Hosts[0]
			}
			for _, h := range r.Hosts {
				if !seen[h] {
					seen[h] = true
					picked = append(picked, h)
				}
			}
		}
		if len(e.roles) == 0 {
			return &kamalError{class: "ArgumentError", msg: "No --roles match for " + e.opts.roles}
		}
		names, primary = picked, first
	}
	if e.opts.hosts != "" {
		patterns := strings.Split(e.opts.hosts, ",")
		var picked []string
		for _, h := range names {
			if matchAny(patterns, h) {
				picked = append(picked, h)
			}
		}
		if len(picked) == 0 {
			return &kamalError{class: "ArgumentError", msg: "No --hosts match for " + e.opts.hosts}
		}
		names, primary = picked, picked[0]
	}
	if e.opts.primary {
		names = []string{primary}
	}
	for _, n := range names {
		e.hosts = append(e.hosts, e.parseHost(n))
	}
	e.prim = e.parseHost(primary)
	return nil
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(strings.TrimSpace(p), s); ok {
			return true
		}
	}
	return false
}

// host is one server as SSHKit sees it.
type host struct {
	name string // what Kamal prints ("on NAME") and ssh connects to
	user string
	port int
}

func (e *emu) parseHost(s string) host {
	h := host{name: s, user: e.cfg.SSHUser, port: e.cfg.SSHPort}
	if h.user == "" {
		h.user = "root"
	}
	if u, rest, ok := strings.Cut(h.name, "@"); ok {
		h.user, h.name = u, rest
	}
	if strings.HasPrefix(h.name, "[") {
		if end := strings.Index(h.name, "]"); end > 0 {
			rest := h.name[end+1:]
			h.name = h.name[1:end]
			if p, err := strconv.Atoi(strings.TrimPrefix(rest, ":")); err == nil {
				h.port = p
			}
		}
	} else if strings.Count(h.name, ":") == 1 {
		name, p, _ := strings.Cut(h.name, ":")
		if n, err := strconv.Atoi(p); err == nil {
			h.name, h.port = name, n
		}
	}
	return h
}

func (e *emu) hostNames() string {
	names := make([]string, len(e.hosts))
	for i, h := range e.hosts {
		names[i] = h.name
	}
	return strings.Join(names, ",")
}

// uncommittedSuffix is Kamal's git_version suffix for a work tree with
// changes (`git status --porcelain` not empty, untracked files included):
// "_uncommitted_" and 16 random hex digits, but only when builder: context: is
// set; the default builder builds a clean git clone and the version stays the
// plain commit (Kamal 2.12 lib/kamal/configuration.rb git_version and
// configuration/builder.rb git_clone?, the same in 1.9.0 and 2.5.3; recorded:
// 2.5.3-2.12.0 without a context, testdata/real/*/misc-version.txt).
func (e *emu) uncommittedSuffix() string {
	if !e.readExtras().builderContext {
		return ""
	}
	if out, err := e.git("status", "--porcelain"); err != nil || out == "" {
		return ""
	}
	return "_uncommitted_" + uuid() + uuid()
}

// abbreviatedVersion is Kamal's abbreviated_version, for
// KAMAL_SERVICE_VERSION: the first 7 characters, or all of a version with an
// "_" in it (<sha>_uncommitted_<hex>) (Kamal 1.9.0-2.12.0 lib/kamal/configuration.rb).
func abbreviatedVersion(v string) string {
	if strings.Contains(v, "_") || len(v) <= 7 {
		return v
	}
	return v[:7]
}

// hooksPath is hooks_path: (default .kamal/hooks), as Kamal joins it.
func (e *emu) hooksPath() string {
	if p := e.cfg.HooksPath; p != "" {
		return p
	}
	return ".kamal/hooks"
}

// elapsed formats a duration as SSHKit does ("0.197").
func elapsed(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
