// Package deployconfig reads a Kamal repository's config/deploy.yml, with
// config/deploy.<destination>.yml merged over it, as Kamal reads it, and reports
// every value that only Ruby's ERB could compute instead of guessing it.
package deployconfig

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// ErrNoDeployFile is wrapped by Load's error when there is no config/deploy.yml.
var ErrNoDeployFile = errors.New("no config/deploy.yml")

// DeployFile is the path of Kamal's configuration, relative to the repository.
const DeployFile = "config/deploy.yml"

// The flags and variables that supply each setting, for hints.
const (
	HintService = "pass --service NAME (or set HOOKSHIM_SERVICE)"
	HintDest    = "pass --destination NAME (or set HOOKSHIM_DESTINATION)"
	HintHost    = "pass --host HOST (or set HOOKSHIM_HOST)"
	HintHosts   = "pass --host HOST, once per host (or set HOOKSHIM_HOSTS=host1,host2)"
)

// File is config/deploy.yml deep-merged with config/deploy.<destination>.yml as
// Kamal merges them. Its values have passed the rules flags pass; values that
// ERB computes are in Unresolved instead.
type File struct {
	Service         string
	Roles           []Role   // in file order; a plain `servers:` list is one role "web"
	PrimaryRole     string   // `primary_role:`, default "web"
	SSHUser         string   // `ssh: user:` ("" when unset; Kamal's default is root)
	SSHPort         int      // `ssh: port:` (0 when unset)
	SSHProxy        string   // `ssh: proxy:` ("" when unset; it may be "user@host" or "host")
	SSHProxyCommand string   // `ssh: proxy_command:`, a local command in OpenSSH's ProxyCommand syntax
	SSHKeys         []string // `ssh: keys:`, identity files Kamal uses
	SSHKeysOnly     bool     // `ssh: keys_only:`
	// SSHConfigFiles is `ssh: config:`'s file(s) as written; SSHConfigNone is
	// `config: false`. Neither for `true` or no `config:` (ssh's own files).
	SSHConfigFiles []string
	SSHConfigNone  bool
	SSHKeyData     bool     // `ssh: key_data:` is set: keys as text, which OpenSSH cannot take (Kamal 2.12 lib/kamal/configuration/ssh.rb)
	HooksPath      string   // `hooks_path:` ("" when unset)
	RunDirectory   string   // `run_directory:` (Kamal 1.x; "" when unset)
	Accessories    []string // hosts of accessories (host:, hosts:, role(s):, tag(s):), each once
	// Unresolved maps a key path ("service", "servers.web.hosts[1]", "ssh.user")
	// to its raw ERB text, or to its Ruby block's (<% if %> ... <% end %>).
	Unresolved map[string]string

	origin    map[string]string // key path -> "file:line" it was read from
	roleFirst map[string]string // role -> key path of its first host entry, which may be ERB
}

// Role is one role of servers:, with its hosts in file order.
type Role struct {
	Name  string
	Hosts []string
}

// Load reads <repoDir>/config/deploy.yml, merging config/deploy.<destination>.yml
// over it when destination is not "". A missing deploy.yml wraps ErrNoDeployFile; bad YAML or a value of the wrong
// shape is one line naming file and line (exitcode.Config).
func Load(repoDir, destination string) (f *File, err error) {
	if p := NameProblem(destination); destination != "" && p != "" {
		return nil, exitcode.Newf(exitcode.Usage, "invalid destination %q: %s", destination, p).WithHint(HintDest)
	}
	defer func() {
		p := recover()
		if e, ok := p.(failure); ok {
			err = e.err
		} else if p != nil {
			panic(p)
		}
	}()
	r := &reader{file: map[*yaml.Node]string{}, erb: map[*yaml.Node]string{}, tags: map[string][]string{}, sizes: map[*yaml.Node]int{},
		f: &File{PrimaryRole: "web", Unresolved: map[string]string{}, origin: map[string]string{}, roleFirst: map[string]string{}}}
	root := r.parse(repoDir, DeployFile, exitcode.New(exitcode.Config, fmt.Errorf("%w in %s", ErrNoDeployFile, repoDir),
		"run hookshim in the Kamal application's directory, or pass the settings with flags (--service, --host)"))
	if destination != "" {
		name := "config/deploy." + destination + ".yml"
		root = r.deepMerge(root, r.parse(repoDir, name,
			exitcode.Newf(exitcode.Usage, "%s does not exist in %s (destination %q)", name, repoDir, destination).
				WithHint("check --destination / KAMAL_DESTINATION / HOOKSHIM_DESTINATION")))
	}
	return r.extract(root), nil
}

// Hosts returns the hosts of all roles, each once, in role order.
func (f *File) Hosts() []string {
	var all []string
	for _, r := range f.Roles {
		all = append(all, r.Hosts...)
	}
	return unique(all)
}

// AllHosts adds the accessories' hosts to Hosts: Kamal's all_hosts.
func (f *File) AllHosts() []string { return unique(append(f.Hosts(), f.Accessories...)) }

func unique(list []string) (out []string) {
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s], out = true, append(out, s)
		}
	}
	return out
}

// RolePrimaryHost is where Kamal locks under --roles (KAMAL_ROLES since 2.6):
// the first host of the primary role if named, else of the first named role in
// file order; names may hold * (Kamal 2.12 lib/kamal/commander/specifics.rb
// primary_specific_role). ok is false when no named role or host is known.
func (f *File) RolePrimaryHost(names []string) (host string, ok bool) {
	var chosen *Role
	for i, r := range f.Roles {
		if matchesAny(r.Name, names) && (chosen == nil || r.Name == cmp.Or(f.PrimaryRole, "web")) {
			chosen = &f.Roles[i]
		}
	}
	if chosen == nil || len(chosen.Hosts) == 0 {
		return "", false
	}
	if _, hidden := f.Unresolved[f.roleFirst[chosen.Name]]; hidden {
		return "", false
	}
	return chosen.Hosts[0], true
}

// matchesAny says whether name matches one of the patterns, where * stands
// for any run of characters (Kamal's Utils.filter_specific_items).
func matchesAny(name string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		ok, _ := regexp.MatchString("^"+strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*")+"$", name)
		return ok
	})
}

// PrimaryHost returns the first host of the primary role, where Kamal locks. It
// fails (exitcode.Config) when the role is missing or empty, or ERB decides it.
func (f *File) PrimaryHost() (string, error) {
	if _, ok := f.Unresolved["primary_role"]; ok {
		return "", f.erbError("primary_role", "", HintHost)
	}
	role := cmp.Or(f.PrimaryRole, "web")
	for _, key := range []string{"servers", "servers." + role, "servers." + role + ".hosts", f.roleFirst[role]} {
		if _, ok := f.Unresolved[key]; ok {
			return "", f.erbError(key, "the primary host", HintHost)
		}
	}
	i := slices.IndexFunc(f.Roles, func(r Role) bool { return r.Name == role })
	if i >= 0 && len(f.Roles[i].Hosts) == 0 {
		return "", exitcode.New(exitcode.Config, fmt.Errorf("%s: the primary role %q has no hosts", DeployFile, role), HintHost)
	} else if i >= 0 {
		return f.Roles[i].Hosts[0], nil
	}
	if err := f.ERBError(func(k string) bool { return strings.HasPrefix(k, "servers.") && strings.Contains(k, "<%") }, "a role name", HintHost); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s: the primary role %q is not in servers:", DeployFile, role)
	if len(f.Roles) > 0 {
		var names []string
		for _, r := range f.Roles {
			names = append(names, r.Name)
		}
		msg += " (roles: " + strings.Join(names, ", ") + ")"
	}
	return "", exitcode.New(exitcode.Config, errors.New(msg), "set primary_role: in "+DeployFile+", or "+HintHost)
}

// erbError is the error for a needed value, at key, that only Ruby can compute;
// what names it before the key ("" = the key alone).
func (f *File) erbError(key, what, hint string) error {
	if what != "" {
		what += " (" + key + ")"
	}
	return exitcode.New(exitcode.Config, fmt.Errorf("%s: %s is ERB (%s), which only Ruby can evaluate",
		f.Source(key), cmp.Or(what, key), shorten(f.Unresolved[key], 80)), hint)
}

// ERBError is erbError for the first unresolved key path (sorted) that match
// accepts, or nil; what names the value before its key ("" = the key alone).
func (f *File) ERBError(match func(key string) bool, what, hint string) error {
	for _, k := range slices.Sorted(maps.Keys(f.Unresolved)) {
		if match(k) {
			return f.erbError(k, what, hint)
		}
	}
	return nil
}

// Source names the file the value at key path (e.g. "ssh.user") was read from.
func (f *File) Source(key string) string {
	if i := strings.LastIndexByte(f.origin[key], ':'); i > 0 {
		return f.origin[key][:i]
	}
	return DeployFile
}

// SourceOf names the file(s) the values under key path prefix came from,
// " + " between them: "config/deploy.yml + config/deploy.staging.yml".
func (f *File) SourceOf(prefix string) string {
	var files []string
	for k := range f.origin {
		if Under(k, prefix) {
			files = append(files, f.Source(k))
		}
	}
	slices.Sort(files)
	return cmp.Or(strings.Join(slices.Compact(files), " + "), DeployFile)
}

// Under says key path k is prefix or below it ("servers", "servers.web", "servers[0]").
func Under(k, prefix string) bool {
	return k == prefix || strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[")
}
