package deployconfig

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (r *reader) fail(v val, path, format string, args ...any) {
	panic(failure{configError(r.file[v.Node], v.Line, path+": "+fmt.Sprintf(format, args...), nil)})
}

// note records where the value at path was read.
func (r *reader) note(path string, v val) {
	if name := r.file[v.Node]; name != "" {
		r.f.origin[path] = fmt.Sprintf("%s:%d", name, v.Line)
	}
}

func (r *reader) unresolved(path string, v val) {
	r.f.Unresolved[path] = v.erb
	r.note(path, v)
}

// str reads the scalar setting v at path: "" when unset or when ERB decides
// it (then in Unresolved). A value that breaks rule (nil: any) is not what.
func (r *reader) str(path string, v val, rule func(string) string, what string) string {
	switch {
	case v.unset():
		return ""
	case v.erb != "":
		r.unresolved(path, v)
		return ""
	case v.Kind != yaml.ScalarNode:
		r.fail(v, path, "must be a string, got %s", v.describe())
	case rule != nil && v.Value != "" && rule(v.Value) != "":
		r.fail(v, path, "%q is not %s: %s", v.Value, what, rule(v.Value))
	}
	r.note(path, v)
	return v.Value
}

// strs reads a list of scalar settings, leaving out the empty ones.
func (r *reader) strs(path string, list val, rule func(string) string) (out []string) {
	for i, n := range list.Content {
		if s := r.str(path+"["+strconv.Itoa(i)+"]", r.val(n), rule, "valid"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// known says whether v is of the kind wanted: false for null and for ERB
// (then in Unresolved); any other kind is an error saying what path must be.
func (r *reader) known(v val, path string, kind yaml.Kind, must string) bool {
	switch {
	case v.erb != "":
		r.unresolved(path, v)
	case v.null():
	case v.Kind != kind:
		r.fail(v, path, "must be %s, got %s", must, v.describe())
	default:
		return true
	}
	return false
}

func (r *reader) extract(root val) *File {
	f := r.f
	f.Service = r.str("service", r.get(root, "service"), nameProblem, "a valid service name")
	f.PrimaryRole = cmp.Or(r.str("primary_role", r.get(root, "primary_role"), nil, ""), f.PrimaryRole)
	r.servers(r.get(root, "servers"))
	r.ssh(r.get(root, "ssh"))
	f.HooksPath = r.str("hooks_path", r.get(root, "hooks_path"), pathProblem, "valid")
	f.RunDirectory = r.str("run_directory", r.get(root, "run_directory"), pathProblem, "valid")
	r.accessories(r.get(root, "accessories")) // after servers: it names their roles and tags
	return f
}

// servers reads every form Kamal accepts: a list of hosts (one role, "web"),
// or a map of role -> list of hosts, or role -> {hosts: [...], cmd: ..., ...}.
func (r *reader) servers(v val) {
	if v.is(yaml.SequenceNode) && v.erb == "" {
		r.f.Roles = append(r.f.Roles, Role{"web", r.hosts("web", "servers", v, true)})
		return
	}
	if !r.known(v, "servers", yaml.MappingNode, "a list of hosts or a map of roles") {
		return
	}
	for k, hosts := range r.pairs(v) {
		name, path := k.Value, "servers."+k.Value
		switch {
		case strings.Contains(name, "<%"): // ERB writes the role's name
			r.unresolved(path, hosts)
			continue
		case hosts.is(yaml.MappingNode) && hosts.erb == "":
			hosts, path = r.get(hosts, "hosts"), path+".hosts"
			if !hosts.unset() && hosts.erb == "" && !hosts.is(yaml.SequenceNode) {
				r.fail(hosts, path, "must be a list of hosts, got %s", hosts.describe())
			}
		case !hosts.is(yaml.SequenceNode) && hosts.erb == "":
			r.fail(hosts, path, "must be a list of hosts or a map with hosts:, got %s", hosts.describe())
		}
		if hosts.erb != "" {
			r.unresolved(path, hosts)
			r.f.roleFirst[name] = path
		}
		r.f.Roles = append(r.f.Roles, Role{name, r.hosts(name, path, hosts, true)})
	}
}

// hosts reads a list of host entries: a string, or a one-key map host ->
// tag(s). isRole says it is a role of servers: (not an accessory's hosts:),
// whose first entry PrimaryHost needs.
func (r *reader) hosts(role, path string, list val, isRole bool) []string {
	if list.erb != "" || !list.is(yaml.SequenceNode) {
		return nil
	}
	var out []string
	for i, n := range list.Content {
		it, p := r.val(n), path+"["+strconv.Itoa(i)+"]"
		host := it
		switch {
		case it.erb != "":
			r.unresolved(p, it)
			host = val{}
		case it.Kind == yaml.ScalarNode && !it.null() && it.ShortTag() != "!!str":
			continue // Kamal keeps only String entries: a number or boolean is no host at all
		case it.Kind == yaml.MappingNode:
			if len(it.Content) != 2 {
				r.fail(it, p, "a host with tags is a map of exactly one host to its tags, got %d keys", len(it.Content)/2)
			}
			if host = r.val(it.Content[0]); host.erb != "" {
				r.unresolved(p, host)
				host = val{}
			} else if isRole {
				r.tags[host.Value] = append(r.tags[host.Value], r.tagList(r.val(it.Content[1]))...)
			}
		case it.Kind != yaml.ScalarNode || it.null():
			r.fail(it, p, "must be a host (a string, or a map host: tags), got %s", it.describe())
		}
		if _, ok := r.f.roleFirst[role]; isRole && !ok {
			r.f.roleFirst[role] = p
		}
		if host.Node != nil {
			if prob := hostProblem(host.Value); prob != "" {
				r.fail(host, p, "%q is not a valid host: %s", host.Value, prob)
			}
			r.note(p, host)
			out = append(out, host.Value)
		}
	}
	return unique(out)
}

// tagList is a tag or a list of tags (or of roles, for accessories).
func (r *reader) tagList(v val) (out []string) {
	items := []*yaml.Node{v.Node}
	if v.is(yaml.SequenceNode) {
		items = v.Content
	}
	for _, n := range items {
		if it := r.val(n); it.is(yaml.ScalarNode) && !it.null() {
			out = append(out, it.Value)
		}
	}
	return out
}

func (r *reader) ssh(n val) {
	if !r.known(n, "ssh", yaml.MappingNode, "a map (user:, port:, proxy:)") {
		return
	}
	f := r.f
	f.SSHUser = r.str("ssh.user", r.get(n, "user"), userProblem, "valid")
	if port := r.get(n, "port"); r.known(port, "ssh.port", yaml.ScalarNode, "a port number") {
		if tag := port.ShortTag(); tag != "!!int" && tag != "!!str" {
			r.fail(port, "ssh.port", "must be a port number, got %s", port.describe())
		} else if p := portProblem(port.Value); p != "" {
			r.fail(port, "ssh.port", "%s is not valid: %s", port.describe(), p)
		}
		f.SSHPort, _ = strconv.Atoi(strings.TrimSpace(port.Value))
		r.note("ssh.port", port)
	}
	f.SSHProxy = r.str("ssh.proxy", r.get(n, "proxy"), proxyProblem, "valid")
	f.SSHProxyCommand = r.str("ssh.proxy_command", r.get(n, "proxy_command"), pathProblem, "valid")
	if keys := r.get(n, "keys"); r.known(keys, "ssh.keys", yaml.SequenceNode, "a list of key files") {
		f.SSHKeys = r.strs("ssh.keys", keys, nil)
	}
	if v := r.get(n, "keys_only"); v.is(yaml.ScalarNode) && v.erb == "" {
		f.SSHKeysOnly = v.ShortTag() == "!!bool" && v.Value == "true"
	}
	f.SSHKeyData = !r.get(n, "key_data").null()
	r.sshConfig(r.get(n, "config"))
}

// yaml11Bool holds the plain scalars that YAML 1.1 (Ruby's Psych, so Kamal)
// reads as booleans and YAML 1.2 as strings.
var yaml11Bool = map[string]string{"yes": "true", "on": "true", "no": "false", "off": "false"}

// sshConfig reads `ssh: config:`: true (the default), false, a file, or a
// list of files (Kamal 2.12 lib/kamal/configuration/docs/ssh.yml).
func (r *reader) sshConfig(v val) {
	tag, b := "", ""
	if v.is(yaml.ScalarNode) {
		tag, b = v.ShortTag(), yaml11Bool[strings.ToLower(v.Value)]
	}
	switch {
	case v.null():
	case v.erb != "":
		r.unresolved("ssh.config", v)
	case tag == "!!bool" || tag == "!!str" && b != "":
		r.f.SSHConfigNone = v.Value == "false" || b == "false"
	case tag == "!!str" && (v.Value == "" || pathProblem(v.Value) != ""):
		r.fail(v, "ssh.config", "%s is not a file name", v.describe())
	case tag == "!!str":
		r.f.SSHConfigFiles = []string{v.Value}
	case v.Kind == yaml.SequenceNode:
		r.f.SSHConfigFiles = r.strs("ssh.config", v, pathProblem)
		r.f.SSHConfigNone = len(v.Content) == 0 // net-ssh reads no file from an empty list
	default:
		r.fail(v, "ssh.config", "must be true, false, a file or a list of files, got %s", v.describe())
	}
}

// accessories collects the hosts of every accessory: host:, hosts:, or those
// of the first of role:, roles:, tag:, tags: it sets, the way Kamal does.
func (r *reader) accessories(v val) {
	if !r.known(v, "accessories", yaml.MappingNode, "a map of accessories") {
		return
	}
	var hosts []string
	for k, a := range r.pairs(v) {
		switch path, list := "accessories."+k.Value, r.get(a, "hosts"); {
		case !r.known(a, path, yaml.MappingNode, "a map (image:, host:, ...)"):
		case r.get(a, "host").Node != nil:
			hosts = append(hosts, r.str(path+".host", r.get(a, "host"), hostProblem, "a valid host"))
		case list.Node != nil:
			if r.known(list, path+".hosts", yaml.SequenceNode, "a list of hosts") {
				hosts = append(hosts, r.hosts(k.Value, path+".hosts", list, false)...)
			}
		default:
			hosts = append(hosts, r.selected(a)...)
		}
	}
	r.f.Accessories = unique(slices.DeleteFunc(hosts, func(h string) bool { return h == "" }))
}

// selected is the hosts of the roles or tags an accessory names with the
// first of role:, roles:, tag:, tags: it sets.
func (r *reader) selected(a val) (out []string) {
	for _, key := range []string{"role", "roles", "tag", "tags"} {
		sel := r.get(a, key)
		for _, want := range r.tagList(sel) {
			for _, role := range r.f.Roles {
				for _, h := range role.Hosts {
					if key[0] == 'r' && role.Name == want || key[0] == 't' && slices.Contains(r.tags[h], want) {
						out = append(out, h)
					}
				}
			}
		}
		if sel.Node != nil {
			return out
		}
	}
	return out
}
