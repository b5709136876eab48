package deployconfig

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (r *reader) fail(v *yaml.Node, path, format string, args ...any) {
	panic(failure{configError(r.file[v], v.Line, path+": "+fmt.Sprintf(format, args...), nil)})
}

// note records where the value at path was read; unresolved, that ERB decides it.
func (r *reader) note(path string, v *yaml.Node) {
	r.f.origin[path] = fmt.Sprintf("%s:%d", r.file[v], v.Line)
}

func (r *reader) unresolved(path string, v *yaml.Node) {
	r.f.Unresolved[path] = r.erb[v]
	r.note(path, v)
}

// known says whether v is of the kind wanted: false for null and ERB (then in
// Unresolved); another kind is an error saying what path must be.
func (r *reader) known(v *yaml.Node, path string, kind yaml.Kind, must string) bool {
	switch {
	case r.erb[v] != "":
		r.unresolved(path, v)
	case null(v):
	case v.Kind != kind:
		r.fail(v, path, "must be %s, got %s", must, describe(v))
	default:
		return true
	}
	return false
}

// str reads the string at path: "" when unset or ERB; one that breaks rule
// (nil: any) is not what.
func (r *reader) str(path string, v *yaml.Node, rule func(string) string, what string) string {
	if !r.known(v, path, yaml.ScalarNode, "a string") {
		return ""
	} else if rule != nil && v.Value != "" && rule(v.Value) != "" {
		r.fail(v, path, "%q is not %s: %s", v.Value, what, rule(v.Value))
	}
	r.note(path, v)
	return v.Value
}

// strs reads a list of string settings, leaving out the empty ones.
func (r *reader) strs(path string, list *yaml.Node, rule func(string) string) (out []string) {
	for i, n := range list.Content {
		if s := r.str(path+"["+strconv.Itoa(i)+"]", n, rule, "valid"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *reader) extract(root *yaml.Node) *File {
	f := r.f
	f.Service = r.str("service", get(root, "service"), NameProblem, "a valid service name")
	f.PrimaryRole = cmp.Or(r.str("primary_role", get(root, "primary_role"), nil, ""), f.PrimaryRole)
	r.servers(get(root, "servers"))
	if ssh := get(root, "ssh"); r.known(ssh, "ssh", yaml.MappingNode, "a map (user:, port:, proxy:)") {
		r.ssh(ssh)
	}
	f.HooksPath = r.str("hooks_path", get(root, "hooks_path"), PathProblem, "valid")
	f.RunDirectory = r.str("run_directory", get(root, "run_directory"), PathProblem, "valid")
	r.accessories(get(root, "accessories")) // after servers: it names their roles and tags
	return f
}

// servers reads every form Kamal accepts: a list of hosts (one role, "web"),
// or a map of role -> list of hosts, or role -> {hosts: [...], cmd: ..., ...}.
func (r *reader) servers(v *yaml.Node) {
	if is(v, yaml.SequenceNode) && r.erb[v] == "" {
		r.f.Roles = append(r.f.Roles, Role{"web", r.hosts("web", "servers", v, true)})
		return
	}
	if !r.known(v, "servers", yaml.MappingNode, "a list of hosts or a map of roles") {
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		name, hosts, path := v.Content[i].Value, v.Content[i+1], "servers."+v.Content[i].Value
		switch {
		case strings.Contains(name, "<%"): // ERB writes the role's name
			r.unresolved(path, hosts)
			continue
		case is(hosts, yaml.MappingNode) && r.erb[hosts] == "":
			hosts, path = get(hosts, "hosts"), path+".hosts"
			if !null(hosts) && r.erb[hosts] == "" && !is(hosts, yaml.SequenceNode) {
				r.fail(hosts, path, "must be a list of hosts, got %s", describe(hosts))
			}
		case !is(hosts, yaml.SequenceNode) && r.erb[hosts] == "":
			r.fail(hosts, path, "must be a list of hosts or a map with hosts:, got %s", describe(hosts))
		}
		if r.erb[hosts] != "" {
			r.unresolved(path, hosts)
			r.f.roleFirst[name] = path
		}
		r.f.Roles = append(r.f.Roles, Role{name, r.hosts(name, path, hosts, true)})
	}
}

// hosts reads a list of hosts, each a string or a map host: tag(s); isRole:
// of servers:, not an accessory.
func (r *reader) hosts(role, path string, list *yaml.Node, isRole bool) (out []string) {
	if r.erb[list] != "" || !is(list, yaml.SequenceNode) {
		return nil
	}
	for i, it := range list.Content {
		host, p := it, path+"["+strconv.Itoa(i)+"]"
		switch {
		case r.erb[it] != "": // unresolved below
		case it.Kind == yaml.ScalarNode && !null(it) && it.ShortTag() != "!!str":
			continue // Kamal keeps only String entries: a number or boolean is no host at all
		case it.Kind == yaml.MappingNode:
			if len(it.Content) != 2 {
				r.fail(it, p, "a host with tags is a map of exactly one host to its tags, got %d keys", len(it.Content)/2)
			}
			if host = it.Content[0]; isRole && r.erb[host] == "" {
				r.tags[host.Value] = append(r.tags[host.Value], tagList(it.Content[1])...)
			}
		case it.Kind != yaml.ScalarNode || null(it):
			r.fail(it, p, "must be a host (a string, or a map host: tags), got %s", describe(it))
		}
		if _, ok := r.f.roleFirst[role]; isRole && !ok {
			r.f.roleFirst[role] = p
		}
		if r.erb[host] != "" {
			r.unresolved(p, host)
		} else if prob := HostProblem(host.Value); prob != "" {
			r.fail(host, p, "%q is not a valid host: %s", host.Value, prob)
		} else {
			r.note(p, host)
			out = append(out, host.Value)
		}
	}
	return unique(out)
}

// tagList is a tag or a list of tags (or of roles, for accessories).
func tagList(v *yaml.Node) (out []string) {
	items := []*yaml.Node{v}
	if is(v, yaml.SequenceNode) {
		items = v.Content
	}
	for _, it := range items {
		if is(it, yaml.ScalarNode) && !null(it) {
			out = append(out, it.Value)
		}
	}
	return out
}

// ssh reads the map ssh:.
func (r *reader) ssh(n *yaml.Node) {
	f := r.f
	f.SSHUser = r.str("ssh.user", get(n, "user"), UserProblem, "valid")
	if port := get(n, "port"); r.known(port, "ssh.port", yaml.ScalarNode, "a port number") {
		if tag := port.ShortTag(); tag != "!!int" && tag != "!!str" {
			r.fail(port, "ssh.port", "must be a port number, got %s", describe(port))
		} else if p := PortProblem(port.Value); p != "" {
			r.fail(port, "ssh.port", "%s is not valid: %s", describe(port), p)
		}
		f.SSHPort, _ = strconv.Atoi(strings.TrimSpace(port.Value))
		r.note("ssh.port", port)
	}
	f.SSHProxy = r.str("ssh.proxy", get(n, "proxy"), ProxyProblem, "valid")
	f.SSHProxyCommand = r.str("ssh.proxy_command", get(n, "proxy_command"), PathProblem, "valid")
	if keys := get(n, "keys"); r.known(keys, "ssh.keys", yaml.SequenceNode, "a list of key files") {
		f.SSHKeys = r.strs("ssh.keys", keys, nil)
	}
	if v := get(n, "keys_only"); is(v, yaml.ScalarNode) && r.erb[v] == "" {
		f.SSHKeysOnly = v.ShortTag() == "!!bool" && v.Value == "true"
	}
	f.SSHKeyData = !null(get(n, "key_data"))
	r.sshConfig(get(n, "config"))
}

// sshConfig reads `ssh: config:`: true (the default), false, a file, or a
// list of files (Kamal 2.12 lib/kamal/configuration/docs/ssh.yml).
func (r *reader) sshConfig(v *yaml.Node) {
	tag, b := "", ""
	if is(v, yaml.ScalarNode) {
		// b: a boolean to Ruby's Psych (YAML 1.1), a string to yaml.v3 (YAML 1.2)
		tag, b = v.ShortTag(), map[string]string{"yes": "true", "on": "true", "no": "false", "off": "false"}[strings.ToLower(v.Value)]
	}
	switch {
	case null(v):
	case r.erb[v] != "":
		r.unresolved("ssh.config", v)
	case tag == "!!bool" || tag == "!!str" && b != "":
		r.f.SSHConfigNone = v.Value == "false" || b == "false"
	case tag == "!!str" && (v.Value == "" || PathProblem(v.Value) != ""):
		r.fail(v, "ssh.config", "%s is not a file name", describe(v))
	case tag == "!!str":
		r.f.SSHConfigFiles = []string{v.Value}
	case v.Kind == yaml.SequenceNode:
		r.f.SSHConfigFiles = r.strs("ssh.config", v, PathProblem)
		r.f.SSHConfigNone = len(v.Content) == 0 // net-ssh reads no file from an empty list
	default:
		r.fail(v, "ssh.config", "must be true, false, a file or a list of files, got %s", describe(v))
	}
}

// accessories collects the hosts of every accessory as Kamal does: host:,
// hosts:, or (selected) those of the first of role:, roles:, tag:, tags: set.
func (r *reader) accessories(v *yaml.Node) {
	if !r.known(v, "accessories", yaml.MappingNode, "a map of accessories") {
		return
	}
	var hosts []string
	for i := 0; i+1 < len(v.Content); i += 2 {
		name, a := v.Content[i].Value, v.Content[i+1]
		switch path, list := "accessories."+name, get(a, "hosts"); {
		case !r.known(a, path, yaml.MappingNode, "a map (image:, host:, ...)"):
		case get(a, "host") != nil:
			hosts = append(hosts, r.str(path+".host", get(a, "host"), HostProblem, "a valid host"))
		case list == nil:
			hosts = append(hosts, r.selected(a)...)
		case r.known(list, path+".hosts", yaml.SequenceNode, "a list of hosts"):
			hosts = append(hosts, r.hosts(name, path+".hosts", list, false)...)
		}
	}
	r.f.Accessories = unique(slices.DeleteFunc(hosts, func(h string) bool { return h == "" }))
}

func (r *reader) selected(a *yaml.Node) (out []string) {
	for _, key := range []string{"role", "roles", "tag", "tags"} {
		for _, want := range tagList(get(a, key)) {
			for _, role := range r.f.Roles {
				out = append(out, slices.DeleteFunc(slices.Clone(role.Hosts), func(h string) bool {
					return !(key[0] == 'r' && role.Name == want || key[0] == 't' && slices.Contains(r.tags[h], want))
				})...)
			}
		}
		if get(a, key) != nil {
			return out
		}
	}
	return out
}
