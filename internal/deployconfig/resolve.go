package deployconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// Settings are the values hookshim acts on, resolved in this order (later wins):
// deploy.yml < KAMAL_* environment < HOOKSHIM_* environment < flags.
//
// Every non-empty value has been validated (see ValidateName and ValidateHost):
// it is safe to put, quoted, into a remote command or a path.
type Settings struct {
	Service     string   // KAMAL_SERVICE (or the service part of KAMAL_SERVICE_VERSION, Kamal < 1.8), HOOKSHIM_SERVICE, --service
	Destination string   // KAMAL_DESTINATION, HOOKSHIM_DESTINATION, --destination
	PrimaryHost string   // deploy.yml primary host; KAMAL_HOSTS only when it names exactly one host; HOOKSHIM_HOST; --host (the first one)
	Hosts       []string // deploy.yml Hosts(); KAMAL_HOSTS (comma-separated); HOOKSHIM_HOSTS (comma-separated); repeated --host
	// SSHUser is deploy.yml ssh.user, else "root"; HOOKSHIM_SSH_USER;
	// --ssh-user. It is "" only when deploy.yml hides it (ERB, or a file that
	// cannot be parsed) and no SSH was needed.
	SSHUser string
	SSHPort int // deploy.yml ssh.port, else 0 (= let ssh decide); HOOKSHIM_SSH_PORT; --ssh-port
	// SSHProxy is the jump host, [user@]host[:port]: deploy.yml ssh.proxy
	// (with Kamal's "root@" added when it names no user); HOOKSHIM_SSH_PROXY;
	// --ssh-proxy. "none" in the variable or flag clears it.
	SSHProxy        string
	SSHProxyCommand string   // deploy.yml ssh.proxy_command
	SSHKeys         []string // deploy.yml ssh.keys
	SSHKeysOnly     bool     // deploy.yml ssh.keys_only
	// SSHConfigFiles are deploy.yml's ssh.config files, absolute: "~/" is $HOME
	// and a relative path is under RepoDir, as Ruby's File.expand_path makes them
	// for Kamal run in the repository. SSHConfigNone is `config: false`. Neither
	// set: ssh reads its own files. (--ssh-config / HOOKSHIM_SSH_CONFIG override
	// both; the CLI applies them.)
	SSHConfigFiles []string
	SSHConfigNone  bool
	SSHKeyData     bool // deploy.yml sets ssh.key_data, which hookshim does not use
	// HooksDir is <repo>/<hooks_path>, default <repo>/.kamal/hooks;
	// HOOKSHIM_HOOKS_DIR; --hooks-dir. Relative values are taken relative to
	// RepoDir. It is "" only when deploy.yml hides hooks_path and Need.HooksDir
	// was false.
	HooksDir       string
	RunDir         string // run_directory or ".kamal" (Kamal 1.x; 2.x always uses .kamal)
	RepoDir        string // the repo dir used (cwd normally), absolute
	HaveDeployFile bool   // config/deploy.yml (and the destination file) loaded
	// DeployFileErr is why config/deploy.yml could not be used, when it exists
	// but the settings needed were all given otherwise (for a debug log).
	DeployFileErr error
	// Sources maps a setting name to where its value came from, e.g.
	// "service" -> "KAMAL_SERVICE" / "config/deploy.yml" / "--service" /
	// "default". Names: service, destination, primary_host, hosts, ssh_user,
	// ssh_port, ssh_proxy, hooks_dir, run_dir.
	Sources map[string]string
}

// Inputs are everything Resolve looks at besides the files.
type Inputs struct {
	RepoDir   string                          // directory that should hold config/deploy.yml ("" = the working directory)
	Env       func(key string) (string, bool) // lookup in the process env passed in as a value (never os.Getenv)
	Flags     map[string]string               // set flags only: "service","destination","host","ssh-user","ssh-port","hooks-dir" (and "ssh-proxy")
	HostFlags []string                        // repeated --host values
}

// Need says which settings the caller requires. PrimaryHost or Hosts also
// require the SSH user, port and proxy to be known (not hidden by ERB).
type Need struct {
	Service, PrimaryHost, Hosts bool
	HooksDir                    bool // the hooks directory must be known (hookshim run)
	// GroupHosts says KAMAL_HOSTS holds one boot group's hosts (the app-boot
	// and proxy-reboot hooks, Kamal 2.12 lib/kamal/cli/app.rb boot): it then
	// names neither the primary host nor all hosts, and is not used for either.
	GroupHosts bool
}

// The flags and variables that supply each setting, for hints.
const (
	hintService  = "pass --service NAME (or set HOOKSHIM_SERVICE)"
	hintDest     = "pass --destination NAME (or set HOOKSHIM_DESTINATION)"
	hintHost     = "pass --host HOST (or set HOOKSHIM_HOST)"
	hintHosts    = "pass --host HOST, once per host (or set HOOKSHIM_HOSTS=host1,host2)"
	hintUser     = "pass --ssh-user USER (or set HOOKSHIM_SSH_USER)"
	hintPort     = "pass --ssh-port PORT (or set HOOKSHIM_SSH_PORT)"
	hintProxy    = "pass --ssh-proxy [USER@]HOST, or none (or set HOOKSHIM_SSH_PROXY)"
	hintHooksDir = "pass --hooks-dir DIR (or set HOOKSHIM_HOOKS_DIR)"
)

type resolver struct {
	in      Inputs
	need    Need
	s       *Settings
	f       *File // nil when there is no usable deploy.yml
	fileErr error // deploy.yml exists but cannot be used
	noFile  bool
	raw     string // text of the config files, for guessing what a broken file mentions
}

// Resolve loads deploy.yml when present (it is optional if env/flags give what
// is needed) and applies the order deploy.yml < KAMAL_* < HOOKSHIM_* < flags.
//
// A setting in need that no layer supplies gives a one-line error naming the
// setting and the flag/env var that supplies it (exitcode.Usage). A needed
// value that deploy.yml hides behind ERB, or a deploy.yml that cannot be used
// when a needed value could only come from it, gives exitcode.Config with the
// flag to pass instead. A bad value gives exitcode.Usage naming the value,
// where it came from and the rule (exitcode.Config when it came from a file).
func Resolve(in Inputs, need Need) (*Settings, error) {
	repo := in.RepoDir
	if repo == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, exitcode.Newf(exitcode.IOErr, "cannot find the working directory: %v", err)
		}
		repo = wd
	}
	if abs, err := filepath.Abs(repo); err == nil {
		repo = abs
	}
	r := &resolver{in: in, need: need, s: &Settings{RepoDir: repo, Sources: map[string]string{}}}
	steps := []func() error{r.destination, r.load, r.service, r.hosts, r.primaryHost, r.ssh, r.hooksDir, r.runDir}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return r.s, nil
}

func (r *resolver) env(key string) string {
	if r.in.Env == nil {
		return ""
	}
	v, ok := r.in.Env(key)
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

func (r *resolver) flag(name string) string { return strings.TrimSpace(r.in.Flags[name]) }

func (r *resolver) hostFlags() []string {
	if hs := splitHosts(strings.Join(r.in.HostFlags, ",")); len(hs) > 0 {
		return hs
	}
	return splitHosts(r.flag("host"))
}

// splitHosts splits a comma-separated host list, dropping blanks and repeats.
func splitHosts(v string) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// set records a value and its source.
func (r *resolver) set(name, source string) { r.s.Sources[name] = source }

// bad is the error for a value that breaks its rule.
func bad(setting, value, source, problem, hint string) error {
	code := exitcode.Usage
	if strings.HasPrefix(source, "config/") {
		code = exitcode.Config
	}
	return exitcode.Newf(code, "invalid %s %q (from %s): %s", setting, value, source, problem).WithHint("%s", hint)
}

// missing is the error for a needed setting no layer supplies: fileKey is the
// deploy.yml key that would give it, envWhy what the environment lacks.
func (r *resolver) missing(setting, fileKey, envWhy, hint string) error {
	if r.fileErr != nil {
		return exitcode.New(exitcode.Config,
			fmt.Errorf("%s is not set and %s cannot be used: %w", setting, DeployFile, r.fileErr), hint)
	}
	why := fmt.Sprintf("%s has no %s", DeployFile, fileKey)
	if r.noFile {
		why = fmt.Sprintf("there is no %s in %s", DeployFile, r.s.RepoDir)
	}
	return exitcode.Newf(exitcode.Usage, "%s is not set: %s, and %s", setting, why, envWhy).WithHint("%s", hint)
}

func (r *resolver) destination() error {
	v, src := "", ""
	for _, l := range [][2]string{
		{r.env("KAMAL_DESTINATION"), "KAMAL_DESTINATION"},
		{r.env("HOOKSHIM_DESTINATION"), "HOOKSHIM_DESTINATION"},
		{r.flag("destination"), "--destination"},
	} {
		if l[0] != "" {
			v, src = l[0], l[1]
		}
	}
	if v == "" {
		return nil
	}
	if p := nameProblem(v); p != "" {
		return bad("destination", v, src, p, hintDest)
	}
	r.s.Destination = v
	r.set("destination", src)
	return nil
}

func (r *resolver) load() error {
	f, err := Load(r.s.RepoDir, r.s.Destination)
	switch {
	case err == nil:
		r.f = f
		r.s.HaveDeployFile = true
	case errors.Is(err, ErrNoDeployFile):
		r.noFile = true
	default:
		r.fileErr = err
		r.s.DeployFileErr = err
		for _, name := range []string{DeployFile, "config/deploy." + r.s.Destination + ".yml"} {
			if data, err := os.ReadFile(filepath.Join(r.s.RepoDir, filepath.FromSlash(name))); err == nil && len(data) <= maxFileSize {
				r.raw += string(data) + "\n"
			}
		}
	}
	return nil
}

// brokenFileMentions tells whether an unusable deploy.yml might set a
// top-level key: it does when the key appears at the start of a line, or when
// ERB or a merge key at the top level could produce any key at all.
func (r *resolver) brokenFileMentions(key string) bool {
	if r.fileErr == nil {
		return false
	}
	re := regexp.MustCompile(`(?m)^(?:` + regexp.QuoteMeta(key) + `\s*:|<%=|<<\s*:|\{)`)
	return re.MatchString(r.raw)
}

// fileSource names the file(s) the values under a key path prefix came from.
func (r *resolver) fileSource(prefix string) string {
	if r.f == nil {
		return DeployFile
	}
	files := map[string]bool{}
	for k, o := range r.f.origin {
		if k == prefix || strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[") {
			if i := strings.LastIndexByte(o, ':'); i > 0 {
				files[o[:i]] = true
			}
		}
	}
	switch len(files) {
	case 0:
		return DeployFile
	case 1:
		for f := range files {
			return f
		}
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	return strings.Join(names, " + ")
}

// unresolvedUnder returns the first (sorted) unresolved key at or under prefix.
func (r *resolver) unresolvedUnder(prefix string) (string, string, bool) {
	if r.f == nil {
		return "", "", false
	}
	for _, k := range sortedKeys(r.f.Unresolved) {
		if k == prefix || strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[") {
			return k, r.f.Unresolved[k], true
		}
	}
	return "", "", false
}

// unresolvedAt returns the first of keys that is unresolved.
func (r *resolver) unresolvedAt(keys ...string) (string, string, bool) {
	if r.f == nil {
		return "", "", false
	}
	for _, k := range keys {
		if raw, ok := r.f.Unresolved[k]; ok {
			return k, raw, true
		}
	}
	return "", "", false
}

func (r *resolver) service() error {
	v, src := "", ""
	erbKey, erbRaw, hidden := "", "", false
	if r.f != nil {
		if r.f.Service != "" {
			v, src = r.f.Service, r.f.fileOf("service")
		} else {
			erbKey, erbRaw, hidden = r.unresolvedUnder("service")
		}
	}
	if k := r.env("KAMAL_SERVICE"); k != "" {
		v, src = k, "KAMAL_SERVICE"
	} else if sv := r.env("KAMAL_SERVICE_VERSION"); sv != "" {
		// Kamal < 1.8 sets only KAMAL_SERVICE_VERSION=<service>@<version>;
		// a service name cannot hold '@'.
		if i := strings.IndexByte(sv, '@'); i > 0 {
			v, src = sv[:i], "KAMAL_SERVICE_VERSION"
		}
	}
	if k := r.env("HOOKSHIM_SERVICE"); k != "" {
		v, src = k, "HOOKSHIM_SERVICE"
	}
	if k := r.flag("service"); k != "" {
		v, src = k, "--service"
	}
	if v == "" {
		if !r.need.Service {
			return nil
		}
		if hidden {
			return r.f.erbError(erbKey, "service", erbRaw, hintService)
		}
		return r.missing("service", "service:", "KAMAL_SERVICE is not set", hintService)
	}
	if p := nameProblem(v); p != "" {
		return bad("service", v, src, p, hintService)
	}
	r.s.Service = v
	r.set("service", src)
	return nil
}

func (r *resolver) hosts() error {
	var hosts []string
	src := ""
	erbKey, erbRaw, partial := "", "", false
	if r.f != nil {
		if hosts = r.f.Hosts(); len(hosts) > 0 {
			src = r.fileSource("servers")
		}
		erbKey, erbRaw, partial = r.unresolvedUnder("servers")
	}
	fromFile := true
	for _, l := range []struct {
		hosts []string
		src   string
	}{
		{r.kamalHosts(), "KAMAL_HOSTS"},
		{splitHosts(r.env("HOOKSHIM_HOSTS")), "HOOKSHIM_HOSTS"},
		{r.hostFlags(), "--host"},
	} {
		if len(l.hosts) > 0 {
			hosts, src, fromFile = l.hosts, l.src, false
		}
	}
	if r.need.Hosts {
		if fromFile && partial {
			// Some hosts are ERB: the list would be incomplete.
			return r.f.erbError(erbKey, erbKey, erbRaw, hintHosts)
		}
		if len(hosts) == 0 {
			return r.missing("hosts", "hosts in servers:", "KAMAL_HOSTS is not set", hintHosts)
		}
	}
	for _, h := range hosts {
		if p := hostProblem(h); p != "" {
			return bad("host", h, src, p, hintHosts)
		}
	}
	r.s.Hosts = hosts
	if len(hosts) > 0 {
		r.set("hosts", src)
	}
	return nil
}

func (r *resolver) primaryHost() error {
	v, src := "", ""
	var fileErr error
	if r.f != nil {
		if h, err := r.f.PrimaryHost(); err == nil {
			v, src = h, r.fileSource("servers")
		} else {
			fileErr = err
		}
	}
	if roles := splitHosts(r.env("KAMAL_ROLES")); len(roles) > 0 && r.f != nil {
		// kamal --roles (2.6+ passes KAMAL_ROLES): the lock is on that role's
		// primary host, which a boot group's KAMAL_HOSTS does not tell.
		if h, ok := r.f.RolePrimaryHost(roles); ok {
			v, src = h, "KAMAL_ROLES"
		}
	}
	kamalHosts := r.kamalHosts()
	if len(kamalHosts) == 1 {
		// Kamal ran on exactly one host (--hosts, --primary or a one-host
		// config): that is where it keeps its lock.
		v, src = kamalHosts[0], "KAMAL_HOSTS"
	}
	if h := r.env("HOOKSHIM_HOST"); h != "" {
		v, src = h, "HOOKSHIM_HOST"
	}
	if hs := r.hostFlags(); len(hs) > 0 {
		v, src = hs[0], "--host"
	}
	if v == "" {
		if !r.need.PrimaryHost {
			return nil
		}
		if fileErr != nil {
			if len(kamalHosts) > 1 {
				return exitcode.New(exitcode.Config, fmt.Errorf("%w (KAMAL_HOSTS names %d hosts, which does not tell which one is the primary)", fileErr, len(kamalHosts)))
			}
			return fileErr
		}
		envWhy := "KAMAL_HOSTS is not set"
		if len(kamalHosts) > 1 {
			envWhy = fmt.Sprintf("KAMAL_HOSTS names %d hosts, which does not tell which one is the primary", len(kamalHosts))
		}
		return r.missing("primary host", "servers:", envWhy, hintHost)
	}
	if p := hostProblem(v); p != "" {
		return bad("host", v, src, p, hintHost)
	}
	r.s.PrimaryHost = v
	r.set("primary_host", src)
	return nil
}

// kamalHosts is KAMAL_HOSTS, split; none for a hook that gets one boot group.
func (r *resolver) kamalHosts() []string {
	if r.need.GroupHosts {
		return nil
	}
	return splitHosts(r.env("KAMAL_HOSTS"))
}

func (r *resolver) sshNeeded() bool { return r.need.PrimaryHost || r.need.Hosts }

// fileValue is what deploy.yml says about one setting that has a default.
type fileValue struct {
	value, src string
	// hidden: ERB decides it, or the file cannot be parsed and may set it.
	hidden     bool
	erbKey     string
	erbRaw     string
	brokenFile bool
}

// fromFile looks up a setting in deploy.yml: value is what the File says, key
// its key path, topKey the top-level key that holds it, and keys the key paths
// whose ERB would hide it.
func (r *resolver) fromFile(value, key, topKey string, keys ...string) fileValue {
	if r.f != nil {
		if value != "" {
			return fileValue{value: value, src: r.f.fileOf(key)}
		}
		if k, raw, ok := r.unresolvedAt(keys...); ok {
			return fileValue{hidden: true, erbKey: k, erbRaw: raw}
		}
		return fileValue{}
	}
	if r.brokenFileMentions(topKey) {
		return fileValue{hidden: true, brokenFile: true}
	}
	return fileValue{}
}

// hiddenError explains that a needed value is hidden in deploy.yml.
func (r *resolver) hiddenError(fv fileValue, setting, hint string) error {
	if fv.brokenFile {
		return exitcode.New(exitcode.Config,
			fmt.Errorf("%s is unknown: %s cannot be used (%w)", setting, DeployFile, r.fileErr), hint)
	}
	return r.f.erbError(fv.erbKey, fv.erbKey, fv.erbRaw, hint)
}

func (r *resolver) ssh() error {
	var f File
	if r.f != nil {
		f = *r.f
	}

	// User.
	fv := r.fromFile(f.SSHUser, "ssh.user", "ssh", "ssh.user", "ssh")
	user, src := fv.value, fv.src
	if user == "" && !fv.hidden {
		user, src = "root", "default"
	}
	if v := r.env("HOOKSHIM_SSH_USER"); v != "" {
		user, src, fv.hidden = v, "HOOKSHIM_SSH_USER", false
	}
	if v := r.flag("ssh-user"); v != "" {
		user, src, fv.hidden = v, "--ssh-user", false
	}
	if fv.hidden && r.sshNeeded() {
		return r.hiddenError(fv, "ssh.user", hintUser)
	}
	if user != "" {
		if p := userProblem(user); p != "" {
			return bad("SSH user", user, src, p, hintUser)
		}
		r.s.SSHUser = user
		r.set("ssh_user", src)
	}

	// Port.
	fv = r.fromFile("", "ssh.port", "ssh", "ssh.port", "ssh")
	if f.SSHPort != 0 {
		fv = fileValue{value: strconv.Itoa(f.SSHPort), src: r.f.fileOf("ssh.port")}
	}
	port, src := fv.value, fv.src
	if fv.brokenFile {
		fv.hidden = false // the user is required instead; a port of 22 is the common case
	}
	if v := r.env("HOOKSHIM_SSH_PORT"); v != "" {
		port, src, fv.hidden = v, "HOOKSHIM_SSH_PORT", false
	}
	if v := r.flag("ssh-port"); v != "" {
		port, src, fv.hidden = v, "--ssh-port", false
	}
	if fv.hidden && r.sshNeeded() {
		return r.hiddenError(fv, "ssh.port", hintPort)
	}
	if port != "" {
		n, p := parsePort(port)
		if p != "" {
			return bad("SSH port", port, src, p, hintPort)
		}
		r.s.SSHPort = n
		r.set("ssh_port", src)
	}

	// Proxy.
	fv = r.fromFile(f.SSHProxy, "ssh.proxy", "ssh", "ssh.proxy", "ssh")
	proxy, src := fv.value, fv.src
	if proxy != "" && !strings.Contains(proxy, "@") {
		proxy = "root@" + proxy // what Kamal does with a proxy that names no user
	}
	if fv.brokenFile {
		fv.hidden = false
	}
	if v := r.env("HOOKSHIM_SSH_PROXY"); v != "" {
		proxy, src, fv.hidden = v, "HOOKSHIM_SSH_PROXY", false
	}
	if v := r.flag("ssh-proxy"); v != "" {
		proxy, src, fv.hidden = v, "--ssh-proxy", false
	}
	if fv.hidden && r.sshNeeded() {
		return r.hiddenError(fv, "ssh.proxy", hintProxy)
	}
	if proxy == "none" {
		proxy = ""
		r.set("ssh_proxy", src)
	}
	if proxy != "" {
		if p := proxyProblem(proxy); p != "" {
			return bad("SSH proxy", proxy, src, p, hintProxy)
		}
		r.s.SSHProxy = proxy
		r.set("ssh_proxy", src)
	}

	r.s.SSHProxyCommand = f.SSHProxyCommand
	r.s.SSHKeys = f.SSHKeys
	r.s.SSHKeysOnly = f.SSHKeysOnly
	r.s.SSHConfigNone = f.SSHConfigNone
	r.s.SSHKeyData = f.SSHKeyData
	for _, p := range f.SSHConfigFiles {
		r.s.SSHConfigFiles = append(r.s.SSHConfigFiles, expandPath(p, r.s.RepoDir))
	}
	return nil
}

// expandPath is Ruby's File.expand_path(p) run in dir: "~" and "~/..." under
// $HOME, a relative path under dir.
func expandPath(p, dir string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	if !filepath.IsAbs(p) {
		abs, err := filepath.Abs(filepath.Join(dir, p))
		if err == nil {
			return abs
		}
	}
	return filepath.Clean(p)
}

func (r *resolver) hooksDir() error {
	var hp string
	if r.f != nil {
		hp = r.f.HooksPath
	}
	fv := r.fromFile(hp, "hooks_path", "hooks_path", "hooks_path")
	dir, src := fv.value, fv.src
	if dir == "" && !fv.hidden {
		dir, src = ".kamal/hooks", "default"
	}
	if v := r.env("HOOKSHIM_HOOKS_DIR"); v != "" {
		dir, src, fv.hidden = v, "HOOKSHIM_HOOKS_DIR", false
	}
	if v := r.flag("hooks-dir"); v != "" {
		dir, src, fv.hidden = v, "--hooks-dir", false
	}
	if fv.hidden {
		if r.need.HooksDir {
			return r.hiddenError(fv, "hooks_path", hintHooksDir)
		}
		return nil
	}
	if p := pathProblem(dir); p != "" {
		return bad("hooks directory", dir, src, p, hintHooksDir)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.s.RepoDir, dir)
	}
	r.s.HooksDir = filepath.Clean(dir)
	r.set("hooks_dir", src)
	return nil
}

func (r *resolver) runDir() error {
	r.s.RunDir, r.s.Sources["run_dir"] = ".kamal", "default"
	if r.f != nil && r.f.RunDirectory != "" {
		r.s.RunDir, r.s.Sources["run_dir"] = r.f.RunDirectory, r.f.fileOf("run_directory")
	}
	return nil
}
