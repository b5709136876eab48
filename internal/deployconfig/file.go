// Package deployconfig learns service, destination, hosts, SSH settings and hooks dir from a Kamal repo's config/deploy.yml, the KAMAL_* environment, HOOKSHIM_* variables and flags.
package deployconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// ErrNoDeployFile is wrapped by the error Load returns when the repository has
// no config/deploy.yml.
var ErrNoDeployFile = errors.New("no config/deploy.yml")

// DeployFile is the path of Kamal's configuration, relative to the repository.
const DeployFile = "config/deploy.yml"

// maxFileSize bounds what Load reads; a real deploy.yml is a few KiB.
const maxFileSize = 4 << 20

// File is what config/deploy.yml (deep-merged with config/deploy.<destination>.yml,
// the way Kamal merges: maps merge recursively, everything else in the
// destination file replaces) says.
//
// Every host, the service, the SSH user, port and proxy in a File that Load
// returned have passed the same validation as flags do. Values that ERB
// computes are not in the fields: they are listed in Unresolved instead.
type File struct {
	Service     string
	Roles       []Role // in file order; a plain `servers:` list is one role "web"
	PrimaryRole string // `primary_role:`, default "web"
	SSHUser     string // `ssh: user:` ("" when unset; Kamal's default is root)
	SSHPort     int    // `ssh: port:` (0 when unset)
	SSHProxy    string // `ssh: proxy:` ("" when unset; it may be "user@host" or "host")
	// SSHProxyCommand is `ssh: proxy_command:` ("" when unset), a local shell
	// command in OpenSSH's ProxyCommand syntax.
	SSHProxyCommand string
	SSHKeys         []string // `ssh: keys:`, identity files Kamal uses
	SSHKeysOnly     bool     // `ssh: keys_only:`
	// SSHConfigFiles is `ssh: config:` when it names a file or a list of files,
	// as written (Kamal expands "~" and relative paths, against the directory
	// Kamal runs in); SSHConfigNone is `config: false`. Both unset for `true`
	// or no `config:`: ssh's own ~/.ssh/config and /etc/ssh/ssh_config.
	SSHConfigFiles []string
	SSHConfigNone  bool
	// SSHKeyData says `ssh: key_data:` is set: keys given as text (Kamal 2.12
	// lib/kamal/configuration/ssh.rb, from .kamal/secrets), which hookshim
	// cannot give to OpenSSH.
	SSHKeyData   bool
	HooksPath    string // `hooks_path:` ("" when unset)
	RunDirectory string // `run_directory:` (Kamal 1.x; "" when unset)
	// Accessories are the hosts of accessories (`host:`, `hosts:`, `role(s):`,
	// `tag(s):`), each once, for the `locks` default host list.
	Accessories []string
	// Unresolved maps a key path (e.g. "service", "servers.web[0]",
	// "servers.web.hosts[1]", "ssh.user") to its raw ERB text, for the values
	// hookshim reads that hold <% ... %>. Values inside a Ruby block
	// (<% if %> ... <% end %>) are listed with the block's text.
	Unresolved map[string]string

	// origin maps a key path to the "file:line" it was read from.
	origin map[string]string
	// roleFirst maps a role to the key path of its first host entry, so that
	// PrimaryHost can tell when that entry is ERB.
	roleFirst map[string]string
}

// Role is one role of servers:, with its hosts in file order.
type Role struct {
	Name  string
	Hosts []string
}

// Load reads <repoDir>/config/deploy.yml and, when destination is not empty,
// merges <repoDir>/config/deploy.<destination>.yml over it.
//
// Errors carry an exit status (see package exitcode): a missing deploy.yml
// wraps ErrNoDeployFile; a YAML syntax error or a value of the wrong shape is
// one line naming the file and line, with exitcode.Config; a missing
// destination file names it.
func Load(repoDir, destination string) (*File, error) {
	if destination != "" {
		if p := nameProblem(destination); p != "" {
			return nil, exitcode.Newf(exitcode.Usage, "invalid destination %q: %s", destination, p).
				WithHint("pass --destination NAME (or set HOOKSHIM_DESTINATION)")
		}
	}
	base, err := readConfig(repoDir, DeployFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exitcode.New(exitcode.Config, fmt.Errorf("%w in %s", ErrNoDeployFile, repoDir),
				"run hookshim in the Kamal application's directory, or pass the settings with flags (--service, --host)")
		}
		return nil, err
	}
	root, err := parseConfig(base, DeployFile)
	if err != nil {
		return nil, err
	}
	if destination != "" {
		name := "config/deploy." + destination + ".yml"
		data, err := readConfig(repoDir, name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, exitcode.Newf(exitcode.Usage, "%s does not exist in %s (destination %q)", name, repoDir, destination).
					WithHint("check --destination / KAMAL_DESTINATION / HOOKSHIM_DESTINATION")
			}
			return nil, err
		}
		over, err := parseConfig(data, name)
		if err != nil {
			return nil, err
		}
		root = deepMerge(root, over)
	}
	return extract(root)
}

func readConfig(repoDir, name string) ([]byte, error) {
	path := filepath.Join(repoDir, filepath.FromSlash(name))
	f, err := os.Open(path)
	if err != nil {
		return nil, ioError(name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, ioError(name, err)
	}
	if len(data) > maxFileSize {
		return nil, exitcode.Newf(exitcode.Config, "%s: larger than %d MiB, not a Kamal configuration", name, maxFileSize>>20)
	}
	return data, nil
}

func ioError(name string, err error) error {
	code := exitcode.IOErr
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return err // the callers turn this into their own message
	case errors.Is(err, fs.ErrPermission):
		code = exitcode.NoPerm
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return exitcode.Newf(code, "%s: cannot read: %v", name, err)
}

// parseConfig turns one file into a tree, or a one-line error naming the file
// and line.
func parseConfig(data []byte, name string) (root *node, err error) {
	defer func() {
		// go-yaml has panicked on hostile input before; a config file must
		// never crash hookshim.
		if r := recover(); r != nil {
			root, err = nil, configError(name, 0, fmt.Sprintf("cannot be parsed as YAML (%v)", r), data)
		}
	}()
	doc, err := stripERB(data)
	if err != nil {
		l, msg := yamlErrorLine(err)
		return nil, configError(name, l, msg, data)
	}
	var y yaml.Node
	if err := yaml.Unmarshal(doc.yaml, &y); err != nil {
		l, msg := yamlErrorLine(err)
		return nil, configError(name, l, msg, data)
	}
	c := &converter{erb: doc, file: name}
	root, err = c.convert(&y, 0)
	if err != nil {
		l, msg := yamlErrorLine(err)
		return nil, configError(name, l, msg, data)
	}
	switch root.kind {
	case kindNull: // an empty file, or only comments
		if root.erb != "" {
			return nil, configError(name, root.line, "the whole file is ERB ("+shorten(root.erb, 60)+")", data)
		}
		return &node{kind: kindMap, file: name, line: 1}, nil
	case kindMap:
		return root, nil
	}
	if root.erb != "" {
		return nil, configError(name, root.line, "the whole file is ERB ("+shorten(root.erb, 60)+")", data)
	}
	return nil, configError(name, root.line, "the top level must be a map of settings (service:, servers:, ...), got "+root.describe(), data)
}

// configError is the one-line error for an unusable file. When the file holds
// ERB, the likely reason is that Ruby would have produced different YAML: say
// so, and that the values can be passed with flags instead.
func configError(name string, line int, msg string, data []byte) error {
	where := name
	if line > 0 {
		where = fmt.Sprintf("%s:%d", name, line)
	}
	if strings.Contains(string(data), "<%") {
		return exitcode.Newf(exitcode.Config, "%s: %s; the file holds ERB (<%% ... %%>) that only Ruby can evaluate", where, msg).
			WithHint("pass the values with flags instead: --service NAME, --host HOST, --ssh-user USER, --ssh-port PORT (or HOOKSHIM_SERVICE, HOOKSHIM_HOST, ...)")
	}
	return exitcode.Newf(exitcode.Config, "%s: %s", where, msg).
		WithHint("fix %s, or pass the values with flags (--service, --host, --ssh-user, --ssh-port)", name)
}

// extractor walks the merged tree and fills a File.
type extractor struct {
	f    *File
	tags map[string][]string // host -> tags, for accessories' tag:/tags:
}

func (x *extractor) fail(n *node, path, format string, args ...any) error {
	line := 0
	file := DeployFile
	if n != nil {
		line, file = n.line, n.file
	}
	return configError(file, line, path+": "+fmt.Sprintf(format, args...), nil)
}

func (x *extractor) note(path string, n *node) {
	if n != nil && n.file != "" {
		x.f.origin[path] = fmt.Sprintf("%s:%d", n.file, n.line)
	}
}

func (x *extractor) unresolved(path string, n *node) {
	x.f.Unresolved[path] = n.erb
	x.note(path, n)
}

// str reads a scalar setting; "" for null or absent, and for ERB (which is
// recorded in Unresolved).
func (x *extractor) str(path string, n *node) (string, error) {
	switch {
	case n == nil || n.kind == kindNull && n.erb == "":
		return "", nil
	case n.erb != "":
		x.unresolved(path, n)
		return "", nil
	case n.kind != kindScalar:
		return "", x.fail(n, path, "must be a string, got %s", n.describe())
	}
	x.note(path, n)
	return n.value, nil
}

func extract(root *node) (*File, error) {
	f := &File{
		PrimaryRole: "web",
		Unresolved:  map[string]string{},
		origin:      map[string]string{},
		roleFirst:   map[string]string{},
	}
	x := &extractor{f: f, tags: map[string][]string{}}
	var err error

	_, n := root.get("service")
	if f.Service, err = x.str("service", n); err != nil {
		return nil, err
	}
	if f.Service != "" {
		if p := nameProblem(f.Service); p != "" {
			return nil, x.fail(n, "service", "%q is not a valid service name: %s", f.Service, p)
		}
	}

	if _, n = root.get("primary_role"); n != nil {
		v, err := x.str("primary_role", n)
		if err != nil {
			return nil, err
		}
		if v != "" {
			f.PrimaryRole = v
		}
	}

	if _, n = root.get("servers"); n != nil {
		if err := x.servers(n); err != nil {
			return nil, err
		}
	}

	if _, n = root.get("ssh"); n != nil {
		if err := x.ssh(n); err != nil {
			return nil, err
		}
	}

	_, n = root.get("hooks_path")
	if f.HooksPath, err = x.str("hooks_path", n); err != nil {
		return nil, err
	}
	if p := pathProblem(f.HooksPath); p != "" {
		return nil, x.fail(n, "hooks_path", "%s", p)
	}
	_, n = root.get("run_directory")
	if f.RunDirectory, err = x.str("run_directory", n); err != nil {
		return nil, err
	}
	if p := pathProblem(f.RunDirectory); p != "" {
		return nil, x.fail(n, "run_directory", "%s", p)
	}

	if _, n = root.get("accessories"); n != nil {
		if err := x.accessories(n); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// servers reads every form Kamal accepts: a list of hosts (one role, "web"),
// or a map of role -> list of hosts, or role -> {hosts: [...], cmd: ..., ...}.
// A host entry is a string, or a one-key map host -> tag(s).
func (x *extractor) servers(n *node) error {
	switch {
	case n.erb != "":
		x.unresolved("servers", n)
		return nil
	case n.kind == kindNull:
		return nil
	case n.kind == kindSeq:
		r, err := x.hosts("web", "servers", n, true)
		if err != nil {
			return err
		}
		x.f.Roles = append(x.f.Roles, r)
		return nil
	case n.kind != kindMap:
		return x.fail(n, "servers", "must be a list of hosts or a map of roles, got %s", n.describe())
	}
	for i, k := range n.keys {
		name, v := k.value, n.vals[i]
		path := "servers." + name
		if strings.Contains(name, "<%") { // ERB writes the role's name
			x.unresolved(path, v)
			continue
		}
		switch {
		case v.erb != "":
			x.unresolved(path, v)
			x.f.Roles = append(x.f.Roles, Role{Name: name})
			x.f.roleFirst[name] = path
		case v.kind == kindSeq:
			r, err := x.hosts(name, path, v, true)
			if err != nil {
				return err
			}
			x.f.Roles = append(x.f.Roles, r)
		case v.kind == kindMap:
			_, h := v.get("hosts")
			p := path + ".hosts"
			switch {
			case h == nil || h.kind == kindNull && h.erb == "":
				x.f.Roles = append(x.f.Roles, Role{Name: name})
			case h.erb != "":
				x.unresolved(p, h)
				x.f.Roles = append(x.f.Roles, Role{Name: name})
				x.f.roleFirst[name] = p
			case h.kind == kindSeq:
				r, err := x.hosts(name, p, h, true)
				if err != nil {
					return err
				}
				x.f.Roles = append(x.f.Roles, r)
			default:
				return x.fail(h, p, "must be a list of hosts, got %s", h.describe())
			}
		default:
			return x.fail(v, path, "must be a list of hosts or a map with hosts:, got %s", v.describe())
		}
	}
	return nil
}

// hosts reads a list of host entries into a role. isRole says it is a role of
// servers: (not an accessory's hosts:), whose first entry PrimaryHost needs.
func (x *extractor) hosts(role, path string, list *node, isRole bool) (Role, error) {
	r := Role{Name: role}
	first := true
	seen := map[string]bool{}
	for i, it := range list.items {
		p := path + "[" + strconv.Itoa(i) + "]"
		var host string
		var hostNode *node
		switch {
		case it.erb != "":
			x.unresolved(p, it)
		case it.kind == kindScalar:
			if it.tag != "!!str" {
				// Kamal keeps only String entries (and one-key maps): a bare
				// number or boolean is silently no host at all.
				continue
			}
			host, hostNode = it.value, it
		case it.kind == kindMap:
			if len(it.keys) != 1 {
				return r, x.fail(it, p, "a host with tags is a map of exactly one host to its tags, got %d keys", len(it.keys))
			}
			k := it.keys[0]
			if k.erb != "" {
				x.unresolved(p, k)
				break
			}
			host, hostNode = k.value, k
			if isRole {
				x.tags[host] = append(x.tags[host], tagList(it.vals[0])...)
			}
		default:
			return r, x.fail(it, p, "must be a host (a string, or a map host: tags), got %s", it.describe())
		}
		if first && isRole {
			x.f.roleFirst[role] = p
			first = false
		}
		if hostNode == nil {
			continue
		}
		if prob := hostProblem(host); prob != "" {
			return r, x.fail(hostNode, p, "%q is not a valid host: %s", host, prob)
		}
		x.note(p, hostNode)
		if !seen[host] {
			seen[host] = true
			r.Hosts = append(r.Hosts, host)
		}
	}
	return r, nil
}

func tagList(n *node) []string {
	switch {
	case n == nil:
		return nil
	case n.kind == kindScalar:
		return []string{n.value}
	case n.kind == kindSeq:
		var out []string
		for _, it := range n.items {
			if it.kind == kindScalar {
				out = append(out, it.value)
			}
		}
		return out
	}
	return nil
}

func (x *extractor) ssh(n *node) error {
	switch {
	case n.erb != "":
		x.unresolved("ssh", n)
		return nil
	case n.kind == kindNull:
		return nil
	case n.kind != kindMap:
		return x.fail(n, "ssh", "must be a map (user:, port:, proxy:), got %s", n.describe())
	}
	f := x.f
	var err error

	_, v := n.get("user")
	if f.SSHUser, err = x.str("ssh.user", v); err != nil {
		return err
	}
	if f.SSHUser != "" {
		if p := userProblem(f.SSHUser); p != "" {
			return x.fail(v, "ssh.user", "%q is not valid: %s", f.SSHUser, p)
		}
	}

	if _, v = n.get("port"); v != nil {
		switch {
		case v.erb != "":
			x.unresolved("ssh.port", v)
		case v.kind == kindNull:
		case v.kind == kindScalar && (v.tag == "!!int" || v.tag == "!!str"):
			port, p := parsePort(v.value)
			if p != "" {
				return x.fail(v, "ssh.port", "%s is not valid: %s", v.describe(), p)
			}
			f.SSHPort = port
			x.note("ssh.port", v)
		default:
			return x.fail(v, "ssh.port", "must be a port number, got %s", v.describe())
		}
	}

	_, v = n.get("proxy")
	if f.SSHProxy, err = x.str("ssh.proxy", v); err != nil {
		return err
	}
	if f.SSHProxy != "" {
		if p := proxyProblem(f.SSHProxy); p != "" {
			return x.fail(v, "ssh.proxy", "%q is not valid: %s", f.SSHProxy, p)
		}
	}

	_, v = n.get("proxy_command")
	if f.SSHProxyCommand, err = x.str("ssh.proxy_command", v); err != nil {
		return err
	}
	if p := pathProblem(f.SSHProxyCommand); p != "" {
		return x.fail(v, "ssh.proxy_command", "%s", p)
	}

	if _, v = n.get("keys"); v != nil {
		switch {
		case v.erb != "":
			x.unresolved("ssh.keys", v)
		case v.kind == kindNull:
		case v.kind == kindSeq:
			for i, it := range v.items {
				k, err := x.str("ssh.keys["+strconv.Itoa(i)+"]", it)
				if err != nil {
					return err
				}
				if k != "" {
					f.SSHKeys = append(f.SSHKeys, k)
				}
			}
		default:
			return x.fail(v, "ssh.keys", "must be a list of key files, got %s", v.describe())
		}
	}
	if _, v = n.get("keys_only"); v != nil && v.kind == kindScalar && v.erb == "" {
		f.SSHKeysOnly = v.tag == "!!bool" && v.value == "true"
	}
	if _, v = n.get("key_data"); v != nil && v.kind != kindNull {
		f.SSHKeyData = true
	}
	_, v = n.get("config")
	return x.sshConfig(v)
}

// yaml11Bool is "true" or "false" for a plain scalar that YAML 1.1 (Ruby's
// Psych, so Kamal) reads as a boolean and YAML 1.2 as a string, else "".
func yaml11Bool(s string) string {
	switch strings.ToLower(s) {
	case "yes", "on":
		return "true"
	case "no", "off":
		return "false"
	}
	return ""
}

// sshConfig reads `ssh: config:`: true (the default), false, a file, or a
// list of files (Kamal 2.12 lib/kamal/configuration/docs/ssh.yml).
func (x *extractor) sshConfig(v *node) error {
	f := x.f
	switch {
	case v == nil || v.kind == kindNull:
	case v.erb != "":
		x.unresolved("ssh.config", v)
	case v.kind == kindScalar && v.tag == "!!bool":
		f.SSHConfigNone = v.value == "false"
	case v.kind == kindScalar && v.tag == "!!str" && yaml11Bool(v.value) != "":
		// Ruby's YAML (1.1) reads yes/no/on/off as booleans.
		f.SSHConfigNone = yaml11Bool(v.value) == "false"
	case v.kind == kindScalar && v.tag == "!!str":
		if v.value == "" || pathProblem(v.value) != "" {
			return x.fail(v, "ssh.config", "%s is not a file name", v.describe())
		}
		f.SSHConfigFiles = []string{v.value}
	case v.kind == kindSeq:
		for i, it := range v.items {
			k, err := x.str("ssh.config["+strconv.Itoa(i)+"]", it)
			if err != nil {
				return err
			}
			if p := pathProblem(k); p != "" {
				return x.fail(it, "ssh.config["+strconv.Itoa(i)+"]", "%s", p)
			}
			if k != "" {
				f.SSHConfigFiles = append(f.SSHConfigFiles, k)
			}
		}
		if len(v.items) == 0 {
			f.SSHConfigNone = true // net-ssh reads no file from an empty list
		}
	default:
		return x.fail(v, "ssh.config", "must be true, false, a file or a list of files, got %s", v.describe())
	}
	return nil
}

// accessories collects the hosts of every accessory: host:, hosts:, role:,
// roles:, tag:, tags:, the way Kamal resolves them.
func (x *extractor) accessories(n *node) error {
	switch {
	case n.erb != "":
		x.unresolved("accessories", n)
		return nil
	case n.kind == kindNull:
		return nil
	case n.kind != kindMap:
		return x.fail(n, "accessories", "must be a map of accessories, got %s", n.describe())
	}
	seen := map[string]bool{}
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			x.f.Accessories = append(x.f.Accessories, h)
		}
	}
	for i, k := range n.keys {
		name, a := k.value, n.vals[i]
		path := "accessories." + name
		switch {
		case a.erb != "":
			x.unresolved(path, a)
			continue
		case a.kind == kindNull:
			continue
		case a.kind != kindMap:
			return x.fail(a, path, "must be a map (image:, host:, ...), got %s", a.describe())
		}
		if _, v := a.get("host"); v != nil {
			h, err := x.str(path+".host", v)
			if err != nil {
				return err
			}
			if h != "" {
				if p := hostProblem(h); p != "" {
					return x.fail(v, path+".host", "%q is not a valid host: %s", h, p)
				}
				add(h)
			}
			continue
		}
		if _, v := a.get("hosts"); v != nil {
			switch {
			case v.erb != "":
				x.unresolved(path+".hosts", v)
			case v.kind == kindNull:
			case v.kind == kindSeq:
				r, err := x.hosts(name, path+".hosts", v, false)
				if err != nil {
					return err
				}
				for _, h := range r.Hosts {
					add(h)
				}
			default:
				return x.fail(v, path+".hosts", "must be a list of hosts, got %s", v.describe())
			}
			continue
		}
		var roles, tags []string
		if _, v := a.get("role"); v != nil {
			roles = tagList(v)
		} else if _, v := a.get("roles"); v != nil {
			roles = tagList(v)
		} else if _, v := a.get("tag"); v != nil {
			tags = tagList(v)
		} else if _, v := a.get("tags"); v != nil {
			tags = tagList(v)
		}
		for _, r := range roles {
			for _, role := range x.f.Roles {
				if role.Name == r {
					for _, h := range role.Hosts {
						add(h)
					}
				}
			}
		}
		for _, t := range tags {
			for _, role := range x.f.Roles {
				for _, h := range role.Hosts {
					for _, ht := range x.tags[h] {
						if ht == t {
							add(h)
							break
						}
					}
				}
			}
		}
	}
	return nil
}

// Hosts returns the hosts of all roles, each once, in role order (accessories
// are not included: see AllHosts).
func (f *File) Hosts() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range f.Roles {
		for _, h := range r.Hosts {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// AllHosts returns the hosts of all roles and then of all accessories, each
// once: what Kamal calls all_hosts.
func (f *File) AllHosts() []string {
	out := f.Hosts()
	seen := map[string]bool{}
	for _, h := range out {
		seen[h] = true
	}
	for _, h := range f.Accessories {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// RolePrimaryHost is where Kamal keeps its lock when run with --roles (which it
// passes to hooks as KAMAL_ROLES since 2.6): the first host of the primary role
// if it is among the roles named, else of the first role named, in deploy.yml's
// order (Kamal 2.12 lib/kamal/commander/specifics.rb primary_specific_role).
// Names may hold * wildcards, as in Kamal. ok is false when no named role is
// in the file or the host is not known.
func (f *File) RolePrimaryHost(names []string) (host string, ok bool) {
	primary := f.PrimaryRole
	if primary == "" {
		primary = "web"
	}
	var chosen *Role
	for i, r := range f.Roles {
		if !matchesAny(r.Name, names) {
			continue
		}
		if chosen == nil || r.Name == primary {
			chosen = &f.Roles[i]
		}
	}
	if chosen == nil || len(chosen.Hosts) == 0 {
		return "", false
	}
	if first, ok := f.roleFirst[chosen.Name]; ok {
		if _, hidden := f.Unresolved[first]; hidden {
			return "", false
		}
	}
	return chosen.Hosts[0], true
}

// matchesAny reports whether name matches one of the patterns, where * stands
// for any run of characters (Kamal's Utils.filter_specific_items).
func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
		if ok, _ := regexp.MatchString(re, name); ok {
			return true
		}
	}
	return false
}

// PrimaryHost returns the first host of the primary role, where Kamal keeps
// its deploy lock. It fails when the role is missing or has no hosts, or when
// ERB decides the role or its first host.
func (f *File) PrimaryHost() (string, error) {
	hint := "pass --host HOST (or set HOOKSHIM_HOST)"
	if raw, ok := f.Unresolved["primary_role"]; ok {
		return "", f.erbError("primary_role", "primary_role", raw, hint)
	}
	role := f.PrimaryRole
	if role == "" {
		role = "web"
	}
	for _, key := range []string{"servers", "servers." + role, "servers." + role + ".hosts"} {
		if raw, ok := f.Unresolved[key]; ok {
			return "", f.erbError(key, "the primary host ("+key+")", raw, hint)
		}
	}
	var r *Role
	for i := range f.Roles {
		if f.Roles[i].Name == role {
			r = &f.Roles[i]
			break
		}
	}
	if first, ok := f.roleFirst[role]; ok {
		if raw, ok := f.Unresolved[first]; ok {
			return "", f.erbError(first, "the primary host ("+first+")", raw, hint)
		}
	}
	if r == nil {
		for _, key := range sortedKeys(f.Unresolved) {
			if strings.HasPrefix(key, "servers.") && strings.Contains(key, "<%") {
				return "", f.erbError(key, "a role name ("+key+")", f.Unresolved[key], hint)
			}
		}
		names := make([]string, 0, len(f.Roles))
		for _, x := range f.Roles {
			names = append(names, x.Name)
		}
		msg := fmt.Sprintf("%s: the primary role %q is not in servers:", DeployFile, role)
		if len(names) > 0 {
			msg += " (roles: " + strings.Join(names, ", ") + ")"
		}
		return "", exitcode.New(exitcode.Config, errors.New(msg), "set primary_role: in "+DeployFile+", or "+hint)
	}
	if len(r.Hosts) == 0 {
		return "", exitcode.New(exitcode.Config,
			fmt.Errorf("%s: the primary role %q has no hosts", DeployFile, role), hint)
	}
	return r.Hosts[0], nil
}

// erbError is the error for a needed value that only Ruby can compute.
func (f *File) erbError(key, what, raw, hint string) error {
	return exitcode.New(exitcode.Config,
		fmt.Errorf("%s: %s is ERB (%s), which only Ruby can evaluate", f.fileOf(key), what, shorten(raw, 80)), hint)
}

// fileOf names the file a key was read from (config/deploy.yml, or the
// destination's file when the value came from there).
func (f *File) fileOf(key string) string {
	if o, ok := f.origin[key]; ok {
		if i := strings.LastIndexByte(o, ':'); i > 0 {
			return o[:i]
		}
	}
	return DeployFile
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
