// Package settings resolves the values hookshim acts on (service, destination,
// hosts, SSH, hooks directory) in Kamal's order of precedence: config/deploy.yml
// (read by deployconfig) < KAMAL_* < HOOKSHIM_* < flags.
package settings

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hookshim/hookshim/internal/deployconfig"
	"github.com/hookshim/hookshim/internal/exitcode"
)

// Settings are the values hookshim acts on, resolved as deploy.yml < KAMAL_*
// < HOOKSHIM_* < flags (later wins). Every non-empty value has passed its rule
// (deployconfig.NameProblem, HostProblem, ...): safe to put, quoted, in a command or path.
type Settings struct {
	Service         string   // KAMAL_SERVICE (or the service part of KAMAL_SERVICE_VERSION, Kamal < 1.8), HOOKSHIM_SERVICE, --service
	Destination     string   // KAMAL_DESTINATION, HOOKSHIM_DESTINATION, --destination
	PrimaryHost     string   // deploy.yml primary host; KAMAL_HOSTS only when it names exactly one host; HOOKSHIM_HOST; --host (the first one)
	Hosts           []string // deploy.yml Hosts(); KAMAL_HOSTS (comma-separated); HOOKSHIM_HOSTS (comma-separated); repeated --host
	SSHUser         string   // deploy.yml ssh.user, else "root"; HOOKSHIM_SSH_USER; --ssh-user ("" when hidden and not needed)
	SSHPort         int      // deploy.yml ssh.port, else 0 (= let ssh decide); HOOKSHIM_SSH_PORT; --ssh-port
	SSHProxy        string   // [user@]host[:port]: deploy.yml ssh.proxy (Kamal's "root@" when no user); HOOKSHIM_SSH_PROXY; --ssh-proxy ("none" clears)
	SSHProxyCommand string   // deploy.yml ssh.proxy_command
	SSHKeys         []string // deploy.yml ssh.keys
	SSHKeysOnly     bool     // deploy.yml ssh.keys_only
	// SSHConfigFiles are ssh.config's files made absolute as Ruby's File.expand_path
	// does in RepoDir; SSHConfigNone is `config: false`; neither: ssh's own files.
	SSHConfigFiles []string
	SSHConfigNone  bool
	SSHKeyData     bool              // deploy.yml sets ssh.key_data, which hookshim does not use
	HooksDir       string            // <repo>/<hooks_path or .kamal/hooks>; HOOKSHIM_HOOKS_DIR; --hooks-dir ("" when hidden and not needed)
	RunDir         string            // run_directory or ".kamal" (Kamal 1.x; 2.x always uses .kamal)
	RepoDir        string            // the repo dir used (cwd normally), absolute
	HaveDeployFile bool              // config/deploy.yml (and the destination file) loaded
	DeployFileErr  error             // why an existing config/deploy.yml was not used, when nothing needed it (for a debug log)
	DeployFileSSH  bool              // that unused file has a top-level ssh: key, whose settings are not applied
	Sources        map[string]string // setting (service, hosts, ssh_port, run_dir...) -> "KAMAL_SERVICE", "config/deploy.yml", "--service", "default"
}

// Inputs are everything Resolve looks at besides the files.
type Inputs struct {
	RepoDir   string                          // directory that should hold config/deploy.yml ("" = the working directory)
	Env       func(key string) (string, bool) // lookup in the process env passed in as a value (never os.Getenv)
	Flags     map[string]string               // set flags only: "service","destination","host","ssh-user","ssh-port","hooks-dir" (and "ssh-proxy")
	HostFlags []string                        // repeated --host values
}

// Need says which settings the caller requires; PrimaryHost or Hosts also need
// the SSH user, port and proxy.
type Need struct {
	Service, PrimaryHost, Hosts bool
	HooksDir                    bool // the hooks directory must be known (hookshim run)
	// GroupHosts: KAMAL_HOSTS holds one boot group (app-boot, proxy-reboot;
	// Kamal 2.12 lib/kamal/cli/app.rb boot), so it names neither primary nor all.
	GroupHosts bool
}

// The layers over deploy.yml that give each setting, later winning: a
// variable, or a "--flag". Resolve reads them, and the hints for an unusable
// deploy.yml ask whether they were given.
var (
	serviceLayers  = []string{"KAMAL_SERVICE_VERSION", "KAMAL_SERVICE", "HOOKSHIM_SERVICE", "--service"}
	sshUserLayers  = []string{"HOOKSHIM_SSH_USER", "--ssh-user"}
	sshPortLayers  = []string{"HOOKSHIM_SSH_PORT", "--ssh-port"}
	sshProxyLayers = []string{"HOOKSHIM_SSH_PROXY", "--ssh-proxy"}
	hooksDirLayers = []string{"HOOKSHIM_HOOKS_DIR", "--hooks-dir"}
)

type resolver struct {
	in      Inputs
	need    Need
	s       *Settings
	f       *deployconfig.File // empty when there is no usable deploy.yml
	fileErr error              // deploy.yml exists but cannot be used
	raw     string             // text of the config files, for guessing what a broken file mentions
}

// Resolve loads deploy.yml when present and applies the layers of Settings.
// A needed setting no layer supplies is exitcode.Usage; one that ERB or a broken
// deploy.yml hides is exitcode.Config; a bad value is exitcode.Usage
// (exitcode.Config from a file). Each error names the flag to pass.
func Resolve(in Inputs, need Need) (*Settings, error) {
	repo, err := filepath.Abs(cmp.Or(in.RepoDir, "."))
	if err != nil && in.RepoDir == "" {
		return nil, exitcode.Newf(exitcode.IOErr, "cannot find the working directory: %v", err)
	} else if err != nil {
		repo = in.RepoDir
	}
	r := &resolver{in: in, need: need, f: &deployconfig.File{}, s: &Settings{RepoDir: repo, Sources: map[string]string{}, RunDir: ".kamal"}}
	for _, step := range []func() error{r.load, r.service, r.hosts, r.primaryHost, r.keyed} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return r.s, nil
}

// load resolves the destination, which names the files, then reads them.
func (r *resolver) load() error {
	v, src := r.layered("", "", "KAMAL_DESTINATION", "HOOKSHIM_DESTINATION", "--destination")
	if err := r.accept(&r.s.Destination, "destination", "destination", v, src, deployconfig.NameProblem, deployconfig.HintDest); err != nil {
		return err
	}
	f, err := deployconfig.Load(r.s.RepoDir, r.s.Destination)
	r.s.Sources["run_dir"] = "default"
	switch {
	case err == nil:
		r.f, r.s.HaveDeployFile = f, true
		if f.RunDirectory != "" {
			r.s.RunDir, r.s.Sources["run_dir"] = f.RunDirectory, f.Source("run_directory")
		}
	case !errors.Is(err, deployconfig.ErrNoDeployFile):
		r.fileErr, r.s.DeployFileErr = err, err
		r.raw = deployconfig.RawText(r.s.RepoDir, r.s.Destination)
		r.s.DeployFileSSH = regexp.MustCompile(`(?m)^ssh\s*:`).MatchString(r.raw)
	}
	return nil
}

func (r *resolver) env(key string) string {
	if r.in.Env == nil {
		return ""
	}
	v, _ := r.in.Env(key)
	return strings.TrimSpace(v)
}

// layered applies the named layers ("--flag" or env var), later winning, over v from src.
func (r *resolver) layered(v, src string, names ...string) (string, string) {
	for _, name := range names {
		x := r.env(name)
		if flag, ok := strings.CutPrefix(name, "--"); ok {
			x = strings.TrimSpace(r.in.Flags[flag])
		} else if name == "KAMAL_SERVICE_VERSION" { // <service>@<version> (Kamal < 1.8); none without '@'
			x = x[:max(strings.Index(x, "@"), 0)]
		}
		if x != "" {
			v, src = x, name
		}
	}
	return v, src
}

// given says whether one of layers gives a value.
func (r *resolver) given(layers []string) bool {
	v, _ := r.layered("", "", layers...)
	return v != ""
}

// accept stores a non-empty v in *dst, and src as name's source, if v keeps rule.
func (r *resolver) accept(dst *string, name, what, v, src string, rule func(string) string, hint string) error {
	if p := rule(v); v != "" && p != "" {
		return bad(what, v, src, p, hint)
	} else if v != "" {
		*dst, r.s.Sources[name] = v, src
	}
	return nil
}

// bad is the error for a value that breaks its rule.
func bad(setting, value, source, problem, hint string) error {
	code := exitcode.Usage
	if strings.HasPrefix(source, "config/") {
		code = exitcode.Config
	}
	return exitcode.Newf(code, "invalid %s %q (from %s): %s", setting, value, source, problem).WithHint("%s", hint)
}

// missing is the error for a needed setting no layer supplies.
func (r *resolver) missing(setting, fileKey, envWhy, hint string) error {
	if r.fileErr != nil {
		return r.fileProblem(fmt.Sprintf("so %s is unknown, and %s", setting, envWhy), hint)
	}
	why := fmt.Sprintf("%s has no %s", deployconfig.DeployFile, fileKey)
	if !r.s.HaveDeployFile {
		why = fmt.Sprintf("there is no %s in %s", deployconfig.DeployFile, r.s.RepoDir)
	}
	return exitcode.Newf(exitcode.Usage, "%s is not set: %s, and %s", setting, why, envWhy).WithHint("%s", hint)
}

// fileProblem is the error for what an unusable deploy.yml leaves unknown: the
// file's own problem (file:line, as Load says it) leads, then what it leaves
// unknown (so); its hints come first, since fixing the file is what makes
// hookshim act as Kamal does, then hint, the flag to pass instead. The status
// is 78, or 64 for a destination file that does not exist (Load's: the
// destination named is the mistake).
func (r *resolver) fileProblem(so, hint string) error {
	code := exitcode.Config
	if exitcode.Code(r.fileErr) == exitcode.Usage {
		code = exitcode.Usage
	}
	e := exitcode.Newf(code, "%s; %s", r.fileErr, so)
	for err := r.fileErr; err != nil; err = errors.Unwrap(err) {
		if x, ok := err.(*exitcode.Error); ok {
			e.Hints = append(e.Hints, x.Hints...)
		}
	}
	e = e.WithHint("or %s", hint)
	if all := r.stillNeeded(); len(all) > 1 {
		e = e.WithHint("to go on without the file, pass all it would have given at once: %s (or their HOOKSHIM_* variables)", strings.Join(all, " "))
	}
	return e
}

// stillNeeded lists the flags that must stand in for everything an unusable
// deploy.yml leaves unknown and no layer gives, in the order Resolve asks for
// them: one hint names them all, rather than one error per try.
func (r *resolver) stillNeeded() (flags []string) {
	ssh := r.need.PrimaryHost || r.need.Hosts
	hostGiven := len(r.hostFlags()) > 0
	for _, f := range []struct {
		needed bool
		flag   string
	}{
		{r.need.Service && !r.given(serviceLayers), "--service NAME"},
		{r.need.Hosts && !hostGiven && len(r.kamalHosts()) == 0 && r.env("HOOKSHIM_HOSTS") == "" ||
			r.need.PrimaryHost && !hostGiven && len(r.kamalHosts()) != 1 && r.env("HOOKSHIM_HOST") == "", "--host HOST"},
		{ssh && r.mentions("ssh") && !r.given(sshUserLayers), "--ssh-user USER"},
		{ssh && r.s.DeployFileSSH && !r.given(sshProxyLayers), "--ssh-proxy [USER@]HOST|none"},
		{r.need.HooksDir && r.mentions("hooks_path") && !r.given(hooksDirLayers), "--hooks-dir DIR"},
	} {
		if f.needed {
			flags = append(flags, f.flag)
		}
	}
	return flags
}

// mentions says whether the unusable files' text may set the top-level key
// top: top: at a line's start, or ERB or a merge key at the top level.
func (r *resolver) mentions(top string) bool {
	return regexp.MustCompile(`(?m)^(?:` + regexp.QuoteMeta(top) + `\s*:|<%=|<<\s*:|\{)`).MatchString(r.raw)
}

// fromFile resolves a setting deploy.yml may set at key (value there, else def),
// then the layers. deploy.yml hides it when ERB decides it (or its top-level
// key), or when a broken file may set it and it has a default (guessing root or
// .kamal/hooks could be wrong; an unknown port or proxy is left to ssh): then
// it is "", an error when needed and no layer gives it.
func (r *resolver) fromFile(key, value, def string, needed bool, hint string, layers ...string) (v, src string, err error) {
	top, _, _ := strings.Cut(key, ".")
	var hidden error
	switch {
	case r.s.HaveDeployFile && value != "":
		v, src = value, r.f.Source(key)
	case r.s.HaveDeployFile:
		hidden = r.f.ERBError(func(k string) bool { return k == key || k == top }, "", hint)
	case def != "" && r.fileErr != nil && r.mentions(top):
		hidden = r.fileProblem("so "+key+" is unknown", hint)
	}
	if v == "" && hidden == nil && def != "" {
		v, src = def, "default"
	}
	if v, src = r.layered(v, src, layers...); hidden != nil && src == "" && needed {
		return "", "", hidden
	}
	return v, src, nil
}

func (r *resolver) service() error {
	v, src, err := r.fromFile("service", r.f.Service, "", r.need.Service, deployconfig.HintService,
		serviceLayers...)
	if err == nil && v == "" && r.need.Service {
		err = r.missing("service", "service:", "KAMAL_SERVICE is not set", deployconfig.HintService)
	}
	return cmp.Or(err, r.accept(&r.s.Service, "service", "service", v, src, deployconfig.NameProblem, deployconfig.HintService))
}

func (r *resolver) hosts() error {
	hosts, src, fromFile := r.f.Hosts(), r.f.SourceOf("servers"), true
	for i, hs := range [][]string{r.kamalHosts(), splitHosts(r.env("HOOKSHIM_HOSTS")), r.hostFlags()} {
		if len(hs) > 0 {
			hosts, src, fromFile = hs, [...]string{"KAMAL_HOSTS", "HOOKSHIM_HOSTS", "--host"}[i], false
		}
	}
	if r.need.Hosts {
		// Some hosts are ERB: the list would be incomplete.
		if err := r.f.ERBError(func(k string) bool { return deployconfig.Under(k, "servers") }, "", deployconfig.HintHosts); err != nil && fromFile {
			return err
		}
		if len(hosts) == 0 {
			return r.missing("hosts", "hosts in servers:", "KAMAL_HOSTS is not set", deployconfig.HintHosts)
		}
	}
	hint := deployconfig.HintHosts
	if src == "--host" && !r.need.Hosts {
		hint = deployconfig.HintHost // hookshim run: --host names the one lock host
	}
	for _, h := range hosts {
		if p := deployconfig.HostProblem(h); p != "" {
			return bad("host", h, src, p, hint)
		}
	}
	if r.s.Hosts = hosts; len(hosts) > 0 {
		r.s.Sources["hosts"] = src
	}
	return nil
}

func (r *resolver) primaryHost() error {
	v, src, fileErr, kh := "", "", error(nil), r.kamalHosts()
	if r.s.HaveDeployFile {
		v, fileErr = r.f.PrimaryHost()
		src = r.f.SourceOf("servers")
		// kamal --roles (2.6+ passes KAMAL_ROLES): the lock is on that role's
		// primary host, which a boot group's KAMAL_HOSTS does not tell.
		if h, ok := r.f.RolePrimaryHost(splitHosts(r.env("KAMAL_ROLES"))); ok {
			v, src = h, "KAMAL_ROLES"
		}
	}
	// Kamal ran on exactly one host (--hosts, --primary or a one-host
	// config): that is where it keeps its lock.
	if len(kh) == 1 {
		v, src = kh[0], "KAMAL_HOSTS"
	}
	v, src = r.layered(v, src, "HOOKSHIM_HOST")
	if hs := r.hostFlags(); len(hs) > 0 {
		v, src = hs[0], "--host"
	}
	if v != "" || !r.need.PrimaryHost {
		return r.accept(&r.s.PrimaryHost, "primary_host", "host", v, src, deployconfig.HostProblem, deployconfig.HintHost)
	}
	envWhy := "KAMAL_HOSTS is not set"
	if len(kh) > 1 {
		envWhy = fmt.Sprintf("KAMAL_HOSTS names %d hosts, which does not tell which one is the primary", len(kh))
	}
	if fileErr != nil && len(kh) > 1 {
		return exitcode.New(exitcode.Config, fmt.Errorf("%w (%s)", fileErr, envWhy))
	}
	return cmp.Or(fileErr, r.missing("primary host", "servers:", envWhy, deployconfig.HintHost))
}

// kamalHosts is KAMAL_HOSTS, split; none for a hook that gets one boot group.
func (r *resolver) kamalHosts() []string {
	if r.need.GroupHosts {
		return nil
	}
	return splitHosts(r.env("KAMAL_HOSTS"))
}

func (r *resolver) hostFlags() []string {
	if hs := splitHosts(strings.Join(r.in.HostFlags, ",")); len(hs) > 0 {
		return hs
	}
	return splitHosts(r.in.Flags["host"])
}

// splitHosts splits a comma-separated host list, dropping blanks and repeats.
func splitHosts(v string) (out []string) {
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// keyed resolves the settings deploy.yml sets at one key each.
func (r *resolver) keyed() error {
	f, port, ssh := *r.f, "", r.need.PrimaryHost || r.need.Hosts
	if f.SSHPort != 0 {
		port = strconv.Itoa(f.SSHPort)
	}
	if err := r.sshUnapplied(ssh); err != nil {
		return err
	}
	if f.SSHProxy != "" && !strings.Contains(f.SSHProxy, "@") {
		f.SSHProxy = "root@" + f.SSHProxy // what Kamal does with a proxy that names no user
	}
	for _, k := range []struct {
		dst                               *string
		key, value, def, name, what, hint string
		layers                            []string
		needed                            bool
		rule                              func(string) string
	}{
		{&r.s.SSHUser, "ssh.user", f.SSHUser, "root", "ssh_user", "SSH user", "pass --ssh-user USER (or set HOOKSHIM_SSH_USER)", sshUserLayers, ssh, deployconfig.UserProblem},
		{&port, "ssh.port", port, "", "ssh_port", "SSH port", "pass --ssh-port PORT (or set HOOKSHIM_SSH_PORT)", sshPortLayers, ssh, deployconfig.PortProblem},
		{&r.s.SSHProxy, "ssh.proxy", f.SSHProxy, "", "ssh_proxy", "SSH proxy", "pass --ssh-proxy [USER@]HOST, or none (or set HOOKSHIM_SSH_PROXY)", sshProxyLayers, ssh, deployconfig.ProxyProblem},
		{&r.s.HooksDir, "hooks_path", f.HooksPath, ".kamal/hooks", "hooks_dir", "hooks directory", "pass --hooks-dir DIR (or set HOOKSHIM_HOOKS_DIR)", hooksDirLayers, r.need.HooksDir, deployconfig.PathProblem},
	} {
		v, src, err := r.fromFile(k.key, k.value, k.def, k.needed, k.hint, k.layers...)
		if err == nil && k.name == "ssh_proxy" && v == "none" { // clears deploy.yml's
			r.s.Sources[k.name] = src
			continue
		}
		if err = cmp.Or(err, r.accept(k.dst, k.name, k.what, v, src, k.rule, k.hint)); err != nil {
			return err
		}
	}
	r.s.SSHPort, _ = strconv.Atoi(port)
	if d := r.s.HooksDir; d != "" && !filepath.IsAbs(d) {
		r.s.HooksDir = filepath.Join(r.s.RepoDir, d)
	} else if d != "" {
		r.s.HooksDir = filepath.Clean(d)
	}
	r.s.SSHProxyCommand, r.s.SSHKeys, r.s.SSHKeysOnly = f.SSHProxyCommand, f.SSHKeys, f.SSHKeysOnly
	r.s.SSHConfigNone, r.s.SSHKeyData = f.SSHConfigNone, f.SSHKeyData
	for _, p := range f.SSHConfigFiles {
		r.s.SSHConfigFiles = append(r.s.SSHConfigFiles, expandPath(p, r.s.RepoDir))
	}
	return nil
}

// sshUnapplied refuses to connect over SSH when a deploy.yml Load refused has
// an ssh: section and no layer says which jump host to use (--ssh-proxy, or
// none to connect directly): its proxy, proxy_command, config and keys would
// be dropped silently, and a direct connection could bypass the bastion Kamal
// goes through. Only a literal top-level ssh: counts: a file whose ERB Load
// refused may not set one, and ERB values in a file Load reads are each
// reported by key, not dropped.
func (r *resolver) sshUnapplied(ssh bool) error {
	if !ssh || !r.s.DeployFileSSH {
		return nil
	}
	if r.given(sshProxyLayers) {
		return nil
	}
	hint := "say how to connect without it: pass --ssh-proxy [USER@]HOST, or --ssh-proxy none to connect directly (or set HOOKSHIM_SSH_PROXY)"
	if !r.given(sshUserLayers) {
		hint += ", and --ssh-user USER (or set HOOKSHIM_SSH_USER)"
	}
	return r.fileProblem("so its ssh: settings (user, port, proxy, proxy_command, config, keys) cannot be applied", hint)
}

// expandPath is Ruby's File.expand_path(p) run in dir.
func expandPath(p, dir string) string {
	if home, err := os.UserHomeDir(); err == nil && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, p[1:])
	} else if abs, err := filepath.Abs(filepath.Join(dir, p)); err == nil && !filepath.IsAbs(p) {
		return abs
	}
	return filepath.Clean(p)
}
