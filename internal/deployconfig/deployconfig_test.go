package deployconfig

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// repo makes a temporary repository holding the given files (paths relative
// to the repo, e.g. "config/deploy.yml").
func repo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func deployRepo(t testing.TB, yml string) string {
	return repo(t, map[string]string{"config/deploy.yml": yml})
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// report renders err the way the CLI shows it.
func report(err error) string {
	var b bytes.Buffer
	exitcode.Report(&b, err)
	return b.String()
}

func mustLoad(t *testing.T, dir, dest string) *File {
	t.Helper()
	f, err := Load(dir, dest)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return f
}

func TestLoadServersForms(t *testing.T) {
	tests := []struct {
		name    string
		yml     string
		roles   []Role
		hosts   []string
		primary string
	}{
		{
			name:    "plain list",
			yml:     "service: app\nservers:\n  - 127.0.0.1\n  - 127.0.0.2\n",
			roles:   []Role{{"web", []string{"127.0.0.1", "127.0.0.2"}}},
			hosts:   []string{"127.0.0.1", "127.0.0.2"},
			primary: "127.0.0.1",
		},
		{
			name:    "flow list",
			yml:     "service: app\nservers: [a.example, b.example]\n",
			roles:   []Role{{"web", []string{"a.example", "b.example"}}},
			hosts:   []string{"a.example", "b.example"},
			primary: "a.example",
		},
		{
			name: "list with tagged hosts",
			yml: `service: app
servers:
  - 1.2.3.4: [gpu, big]
  - 1.2.3.5: gpu
  - 1.2.3.6
`,
			roles:   []Role{{"web", []string{"1.2.3.4", "1.2.3.5", "1.2.3.6"}}},
			hosts:   []string{"1.2.3.4", "1.2.3.5", "1.2.3.6"},
			primary: "1.2.3.4",
		},
		{
			name: "map of role to list, file order kept",
			yml: `service: app
servers:
  workers:
    - 127.0.0.3
  web:
    - 127.0.0.1
    - 127.0.0.2
`,
			roles:   []Role{{"workers", []string{"127.0.0.3"}}, {"web", []string{"127.0.0.1", "127.0.0.2"}}},
			hosts:   []string{"127.0.0.3", "127.0.0.1", "127.0.0.2"},
			primary: "127.0.0.1",
		},
		{
			name: "map of role to hosts map with cmd and tagged hosts",
			yml: `service: app
servers:
  web:
    hosts:
      - 127.0.0.1: [eu]
      - 127.0.0.2
    proxy: false
  job:
    hosts:
      - 127.0.0.2
      - 127.0.0.9: eu
    cmd: bin/jobs
    options:
      memory: 2g
`,
			roles:   []Role{{"web", []string{"127.0.0.1", "127.0.0.2"}}, {"job", []string{"127.0.0.2", "127.0.0.9"}}},
			hosts:   []string{"127.0.0.1", "127.0.0.2", "127.0.0.9"},
			primary: "127.0.0.1",
		},
		{
			name: "role without hosts and role with empty list",
			yml: `service: app
servers:
  web: [h1]
  cron:
    cmd: bin/cron
  spare: []
`,
			roles:   []Role{{"web", []string{"h1"}}, {"cron", nil}, {"spare", nil}},
			hosts:   []string{"h1"},
			primary: "h1",
		},
		{
			name:    "numbers are no hosts to Kamal",
			yml:     "service: app\nservers:\n  - 10\n  - h1\n",
			roles:   []Role{{"web", []string{"h1"}}},
			hosts:   []string{"h1"},
			primary: "h1",
		},
		{
			name:    "repeated host listed once",
			yml:     "service: app\nservers:\n  web: [h1, h1, h2]\n  job: [h2, h3]\n",
			roles:   []Role{{"web", []string{"h1", "h2"}}, {"job", []string{"h2", "h3"}}},
			hosts:   []string{"h1", "h2", "h3"},
			primary: "h1",
		},
		{
			name:    "ipv6 and user@host:port",
			yml:     "service: app\nservers: ['[2001:db8::1]', deploy@h1:2222]\n",
			roles:   []Role{{"web", []string{"[2001:db8::1]", "deploy@h1:2222"}}},
			hosts:   []string{"[2001:db8::1]", "deploy@h1:2222"},
			primary: "[2001:db8::1]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustLoad(t, deployRepo(t, tt.yml), "")
			if f.Service != "app" {
				t.Errorf("Service = %q", f.Service)
			}
			if !rolesEqual(f.Roles, tt.roles) {
				t.Errorf("Roles = %#v, want %#v", f.Roles, tt.roles)
			}
			if got := f.Hosts(); !reflect.DeepEqual(got, tt.hosts) {
				t.Errorf("Hosts() = %q, want %q", got, tt.hosts)
			}
			p, err := f.PrimaryHost()
			if err != nil || p != tt.primary {
				t.Errorf("PrimaryHost() = %q, %v; want %q", p, err, tt.primary)
			}
			if len(f.Unresolved) != 0 {
				t.Errorf("Unresolved = %v", f.Unresolved)
			}
		})
	}
}

func rolesEqual(a, b []Role) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || len(a[i].Hosts) != len(b[i].Hosts) {
			return false
		}
		for j := range a[i].Hosts {
			if a[i].Hosts[j] != b[i].Hosts[j] {
				return false
			}
		}
	}
	return true
}

func TestLoadOtherSettings(t *testing.T) {
	f := mustLoad(t, deployRepo(t, `# a comment
service: my-app
image: me/my-app
servers: [h1]
ssh:
  user: deploy
  port: 2222
  proxy: bastion.example
  keys: [~/.ssh/deploy]
  keys_only: true
hooks_path: ops/hooks
run_directory: /var/kamal
accessories:
  db:
    image: mysql
    host: db1
  redis:
    image: redis
    hosts: [r1, r2, db1]
  search:
    image: es
    role: web
x-extra: &x
  anything: [1, 2]
`), "")
	want := File{
		Service: "my-app", PrimaryRole: "web", SSHUser: "deploy", SSHPort: 2222, SSHProxy: "bastion.example",
		SSHKeys: []string{"~/.ssh/deploy"}, SSHKeysOnly: true,
		HooksPath: "ops/hooks", RunDirectory: "/var/kamal", Accessories: []string{"db1", "r1", "r2", "h1"},
	}
	got := *f
	got.Roles, got.Unresolved, got.origin, got.roleFirst = nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if all := f.AllHosts(); !reflect.DeepEqual(all, []string{"h1", "db1", "r1", "r2"}) {
		t.Errorf("AllHosts() = %q", all)
	}
}

func TestLoadAccessoryTags(t *testing.T) {
	f := mustLoad(t, deployRepo(t, `service: app
servers:
  web:
    - h1: [eu]
    - h2
  job:
    hosts:
      - h3: eu
accessories:
  cache:
    tags: [eu]
`), "")
	if !reflect.DeepEqual(f.Accessories, []string{"h1", "h3"}) {
		t.Errorf("Accessories = %q", f.Accessories)
	}
}

func TestLoadAliasesAndMergeKeys(t *testing.T) {
	f := mustLoad(t, deployRepo(t, `x-ssh: &ssh
  user: deploy
  port: 2222
x-hosts: &hosts [h1, h2]
service: app
servers:
  web: *hosts
  job:
    hosts: *hosts
ssh:
  <<: *ssh
  port: 2200
`), "")
	if f.SSHUser != "deploy" || f.SSHPort != 2200 {
		t.Errorf("ssh = %q %d, want deploy 2200", f.SSHUser, f.SSHPort)
	}
	if !reflect.DeepEqual(f.Hosts(), []string{"h1", "h2"}) {
		t.Errorf("Hosts() = %q", f.Hosts())
	}
}

func TestLoadMergeKeyList(t *testing.T) {
	// Psych: the maps of a merge list apply first-wins, all of them over the
	// keys before <<, and keys after << win over them.
	f := mustLoad(t, deployRepo(t, `a: &a {user: from-a, port: 2001}
b: &b {user: from-b, port: 2002, proxy: jump-b}
ssh:
  proxy: before
  <<: [*a, *b]
  port: 2222
servers: [h1]
`), "")
	if f.SSHUser != "from-a" || f.SSHPort != 2222 || f.SSHProxy != "jump-b" {
		t.Errorf("ssh = %q %d %q, want from-a 2222 jump-b", f.SSHUser, f.SSHPort, f.SSHProxy)
	}
	// A << that is not a map is an ordinary key, as in Psych.
	if _, err := Load(deployRepo(t, "ssh:\n  <<: 5\n  user: u\n"), ""); err != nil {
		t.Errorf("Load: %v", err)
	}
}

func TestLoadDestinationMerge(t *testing.T) {
	base := `service: app
image: me/app
servers:
  web:
    hosts: [w1, w2]
    cmd: bin/web
  job: [j1]
ssh:
  user: deploy
  port: 2222
primary_role: web
accessories:
  db:
    host: db1
`
	tests := []struct {
		name  string
		dest  string
		check func(t *testing.T, f *File)
	}{
		{
			name: "maps merge recursively, scalars replace",
			dest: "ssh:\n  user: staging\n",
			check: func(t *testing.T, f *File) {
				if f.SSHUser != "staging" || f.SSHPort != 2222 {
					t.Errorf("ssh = %q %d, want staging 2222 (port kept from base)", f.SSHUser, f.SSHPort)
				}
				if f.Service != "app" {
					t.Errorf("Service = %q", f.Service)
				}
			},
		},
		{
			name: "lists replace, they do not append",
			dest: "servers:\n  web:\n    hosts: [s1]\n",
			check: func(t *testing.T, f *File) {
				want := []Role{{"web", []string{"s1"}}, {"job", []string{"j1"}}}
				if !rolesEqual(f.Roles, want) {
					t.Errorf("Roles = %v, want %v", f.Roles, want)
				}
			},
		},
		{
			name: "a role list replaces a role map",
			dest: "servers:\n  web: [s1, s2]\n  extra: [e1]\n",
			check: func(t *testing.T, f *File) {
				want := []Role{{"web", []string{"s1", "s2"}}, {"job", []string{"j1"}}, {"extra", []string{"e1"}}}
				if !rolesEqual(f.Roles, want) {
					t.Errorf("Roles = %v, want %v", f.Roles, want)
				}
			},
		},
		{
			name: "a plain servers list replaces the whole role map",
			dest: "servers: [p1]\n",
			check: func(t *testing.T, f *File) {
				if want := []Role{{"web", []string{"p1"}}}; !rolesEqual(f.Roles, want) {
					t.Errorf("Roles = %v, want %v", f.Roles, want)
				}
			},
		},
		{
			name: "null replaces",
			dest: "accessories:\n",
			check: func(t *testing.T, f *File) {
				if len(f.Accessories) != 0 {
					t.Errorf("Accessories = %q, want none", f.Accessories)
				}
			},
		},
		{
			name: "service and primary_role from the destination",
			dest: "service: app-staging\nprimary_role: job\n",
			check: func(t *testing.T, f *File) {
				if f.Service != "app-staging" {
					t.Errorf("Service = %q", f.Service)
				}
				if p, err := f.PrimaryHost(); p != "j1" || err != nil {
					t.Errorf("PrimaryHost() = %q, %v", p, err)
				}
			},
		},
		{
			name: "empty destination file changes nothing",
			dest: "",
			check: func(t *testing.T, f *File) {
				if f.SSHUser != "deploy" || len(f.Roles) != 2 {
					t.Errorf("got %+v", f)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := repo(t, map[string]string{"config/deploy.yml": base, "config/deploy.staging.yml": tt.dest})
			tt.check(t, mustLoad(t, dir, "staging"))
			// The base file alone is untouched by the merge.
			if f := mustLoad(t, dir, ""); f.SSHUser != "deploy" || len(f.Roles) != 2 || f.Service != "app" {
				t.Errorf("without destination: %+v", f)
			}
		})
	}

	t.Run("missing destination file", func(t *testing.T) {
		dir := repo(t, map[string]string{"config/deploy.yml": base})
		_, err := Load(dir, "prod")
		if err == nil || !strings.Contains(err.Error(), "config/deploy.prod.yml") {
			t.Fatalf("err = %v, want it to name config/deploy.prod.yml", err)
		}
		if exitcode.Code(err) == exitcode.Failure {
			t.Errorf("no exit status in %v", err)
		}
	})
	t.Run("hostile destination", func(t *testing.T) {
		dir := repo(t, map[string]string{"config/deploy.yml": base, "x.yml": "service: evil\n"})
		if _, err := Load(dir, "../../x"); exitcode.Code(err) != exitcode.Usage {
			t.Fatalf("err = %v (%d), want a usage error", err, exitcode.Code(err))
		}
	})
	t.Run("ERB in the destination file is reported against it", func(t *testing.T) {
		dir := repo(t, map[string]string{"config/deploy.yml": base, "config/deploy.staging.yml": "service: <%= ENV['S'] %>\n"})
		_, err := Resolve(Inputs{RepoDir: dir, Env: envOf(map[string]string{"KAMAL_DESTINATION": "staging"})}, Need{Service: true})
		if err == nil || !strings.HasPrefix(err.Error(), "config/deploy.staging.yml: service is ERB") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPrimaryRole(t *testing.T) {
	tests := []struct {
		name, yml, want, wantErr string
	}{
		{"default web", "servers:\n  job: [j1]\n  web: [w1]\n", "w1", ""},
		{"primary_role", "primary_role: job\nservers:\n  web: [w1]\n  job: [j1, j2]\n", "j1", ""},
		{"primary_role with hosts map", "primary_role: job\nservers:\n  web: [w1]\n  job:\n    hosts: [j1]\n", "j1", ""},
		{"plain list is web", "servers: [h1]\n", "h1", ""},
		{"plain list but primary_role elsewhere", "primary_role: job\nservers: [h1]\n", "", `primary role "job" is not in servers: (roles: web)`},
		{"missing role", "servers:\n  job: [j1]\n", "", `primary role "web" is not in servers: (roles: job)`},
		{"empty role", "servers:\n  web: []\n  job: [j1]\n", "", `primary role "web" has no hosts`},
		{"no servers", "service: app\n", "", `primary role "web" is not in servers:`},
		{"ERB primary_role", "primary_role: <%= ENV['R'] %>\nservers: [h1]\n", "", "primary_role is ERB (<%= ENV['R'] %>)"},
		{"ERB first host", "servers:\n  web:\n    - <%= ENV['H'] %>\n    - h2\n", "", "the primary host (servers.web[0]) is ERB (<%= ENV['H'] %>)"},
		{"ERB second host", "servers:\n  web:\n    - h1\n    - <%= ENV['H'] %>\n", "h1", ""},
		{"ERB role name", "servers:\n  <%= ENV['R'] %>: [h1]\n", "", "is ERB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustLoad(t, deployRepo(t, tt.yml), "")
			got, err := f.PrimaryHost()
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("PrimaryHost() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("PrimaryHost() = %q, %v; want error containing %q", got, err, tt.wantErr)
			}
			if exitcode.Code(err) != exitcode.Config {
				t.Errorf("exit status %d, want %d", exitcode.Code(err), exitcode.Config)
			}
			if !strings.Contains(report(err), "--host HOST (or set HOOKSHIM_HOST)") {
				t.Errorf("no --host hint in %q", report(err))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yml string
		want      []string // substrings of the error line
		notWant   []string
	}{
		{
			name: "not YAML",
			yml:  "service: app\nservers: [a, b\nssh:\n  user: x\n",
			want: []string{"config/deploy.yml:", "did not find expected"}, notWant: []string{"ERB"},
		},
		{
			name: "binary garbage",
			yml:  "\x00\x01\x02\xff\xfe",
			want: []string{"config/deploy.yml"},
		},
		{
			name: "tab indentation",
			yml:  "service: app\nservers:\n\t- h1\n",
			want: []string{"config/deploy.yml:3:"},
		},
		{
			name: "syntax error in a file with ERB",
			yml:  "service: app\nservers:\n  web: <%= ENV['W'] %>\n   bad: : x\n",
			want: []string{"config/deploy.yml:", "holds ERB", "only Ruby can evaluate"},
		},
		{
			name: "ERB that writes YAML at the top level",
			yml:  "service: app\n<%= File.read('servers.yml') %>\nssh:\n  user: x\n",
			want: []string{"config/deploy.yml:", "holds ERB"},
		},
		{
			name: "unclosed ERB tag",
			yml:  "service: app\nservers: [<%= ENV['X']\n",
			want: []string{"config/deploy.yml:2:", "never closed"},
		},
		{name: "servers is a number", yml: "service: app\nservers: 5\n", want: []string{"config/deploy.yml:2:", "servers: must be a list of hosts or a map of roles, got a number (5)"}},
		{name: "servers is a string", yml: "servers: h1\n", want: []string{"servers: must be a list of hosts or a map of roles"}},
		{name: "role is a number", yml: "servers:\n  web: 3\n", want: []string{"config/deploy.yml:2:", "servers.web"}},
		{name: "role hosts is a string", yml: "servers:\n  web:\n    hosts: h1\n", want: []string{"config/deploy.yml:3:", "servers.web.hosts"}},
		{name: "host entry with two hosts", yml: "servers:\n  - h1: a\n    h2: b\n", want: []string{"servers[0]", "exactly one host"}},
		{name: "null host entry", yml: "servers:\n  -\n  - h1\n", want: []string{"servers[0]"}},
		{name: "service is a list", yml: "service: [a]\n", want: []string{"config/deploy.yml:1:", "service: must be a string"}},
		{name: "top level is a list", yml: "- a\n- b\n", want: []string{"config/deploy.yml:1:", "top level must be a map"}},
		{name: "top level is a string", yml: "hello\n", want: []string{"top level must be a map"}},
		{name: "ssh is a list", yml: "ssh: [a]\n", want: []string{"ssh: must be a map"}},
		{name: "port out of range", yml: "ssh:\n  port: 70000\n", want: []string{"config/deploy.yml:2:", "ssh.port", "1 to 65535"}},
		{name: "port not a number", yml: "ssh:\n  port: twenty\n", want: []string{"ssh.port"}},
		{name: "hostile host", yml: "servers: ['h1;reboot']\n", want: []string{"servers[0]", `"h1;reboot" is not a valid host`}},
		{name: "host with space", yml: "servers: ['h1 -oProxyCommand=x']\n", want: []string{"is not a valid host"}},
		{name: "host starting with dash", yml: "servers: ['-oProxyCommand=x']\n", want: []string{"is not a valid host"}},
		{name: "hostile service", yml: "service: a/b\n", want: []string{"config/deploy.yml:1:", `"a/b" is not a valid service name`}},
		{name: "hostile user", yml: "ssh:\n  user: $(id)\n", want: []string{"ssh.user"}},
		{name: "hostile proxy", yml: "ssh:\n  proxy: 'x;id'\n", want: []string{"ssh.proxy"}},
		{name: "alias that contains itself", yml: "a: &a [*a]\n", want: []string{"config/deploy.yml"}},
		{name: "alias bomb", yml: aliasBomb(), want: []string{"too many values"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Load(deployRepo(t, tt.yml), "")
			if err == nil {
				t.Fatalf("Load = %+v, want an error", f)
			}
			if exitcode.Code(err) != exitcode.Config {
				t.Errorf("exit status %d, want %d", exitcode.Code(err), exitcode.Config)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("error %q contains %q", msg, w)
				}
			}
			if !strings.Contains(report(err), "hookshim: hint:") {
				t.Errorf("no hint: %q", report(err))
			}
		})
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestRubyBlockDelta(t *testing.T) {
	for body, want := range map[string]int{
		" if ENV['X'] ":                   1,
		" unless x ":                      1,
		" x = 1 if y ":                    0,
		" end ":                           -1,
		" end if x ":                      -1,
		" else ":                          0,
		" elsif y ":                       0,
		" hosts.each do |h| ":             1,
		" hosts.each { |h| ":              1,
		" } ":                             -1,
		" h = { a: 1 } ":                  0,
		" if x then y end ":               0,
		" while x do ":                    1,
		" for h in hosts do ":             1,
		" for h in hosts ":                1,
		" case x ":                        1,
		" when 1 ":                        0,
		` require "dotenv"; Dotenv.load `: 0,
		` x = "end }" # if `:              0,
		"- if x -":                        1,
	} {
		if got := rubyBlockDelta(body); got != want {
			t.Errorf("rubyBlockDelta(%q) = %d, want %d", body, got, want)
		}
	}
}

func TestLoadEmptyFile(t *testing.T) {
	for _, yml := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n"} {
		f, err := Load(deployRepo(t, yml), "")
		if err != nil {
			t.Fatalf("Load(%q): %v", yml, err)
		}
		if f.Service != "" || len(f.Roles) != 0 || f.PrimaryRole != "web" || len(f.Hosts()) != 0 {
			t.Errorf("Load(%q) = %+v", yml, f)
		}
		if _, err := f.PrimaryHost(); err == nil {
			t.Errorf("PrimaryHost() of %q: no error", yml)
		}
	}
}

func TestLoadNoDeployFile(t *testing.T) {
	_, err := Load(t.TempDir(), "")
	if !errors.Is(err, ErrNoDeployFile) {
		t.Fatalf("err = %v, want ErrNoDeployFile", err)
	}
	if exitcode.Code(err) == exitcode.Failure {
		t.Errorf("no exit status")
	}
	// With a destination, the missing base file is still the error.
	if _, err := Load(t.TempDir(), "staging"); !errors.Is(err, ErrNoDeployFile) {
		t.Fatalf("err = %v, want ErrNoDeployFile", err)
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := repo(t, map[string]string{"config/deploy.yml/oops": "x"}) // a directory
	_, err := Load(dir, "")
	if err == nil || errors.Is(err, ErrNoDeployFile) || exitcode.Code(err) == exitcode.Failure {
		t.Fatalf("err = %v (%d)", err, exitcode.Code(err))
	}
}

func TestERB(t *testing.T) {
	tests := []struct {
		name       string
		yml        string
		unresolved map[string]string
		check      func(t *testing.T, f *File)
	}{
		{
			name:       "service",
			yml:        "service: <%= ENV[\"SVC\"] %>\nservers: [h1]\n",
			unresolved: map[string]string{"service": `<%= ENV["SVC"] %>`},
		},
		{
			name:       "part of a value",
			yml:        "service: app-<%= ENV['X'] %>\n",
			unresolved: map[string]string{"service": `app-<%= ENV['X'] %>`},
		},
		{
			name:       "quoted",
			yml:        "service: \"<%= ENV['X'] %>\"\nssh:\n  user: '<%= ENV[\"U\"] %>'\n",
			unresolved: map[string]string{"service": `<%= ENV['X'] %>`, "ssh.user": `<%= ENV["U"] %>`},
		},
		{
			name: "an ERB value with a colon and quotes",
			yml:  "service: app\nssh:\n  user: <%= ENV.fetch(\"U\", \"a: b\") %>\n  port: 22\nservers: [h1]\n",
			unresolved: map[string]string{
				"ssh.user": `<%= ENV.fetch("U", "a: b") %>`,
			},
			check: func(t *testing.T, f *File) {
				if f.SSHPort != 22 || f.Service != "app" {
					t.Errorf("the rest of the file was not read: %+v", f)
				}
			},
		},
		{
			name:       "hosts, one of several",
			yml:        "servers:\n  web:\n    - h1\n    - <%= ENV['H2'] %>\n  job:\n    hosts:\n      - <%= ENV['J'] %>: [eu]\n",
			unresolved: map[string]string{"servers.web[1]": "<%= ENV['H2'] %>", "servers.job.hosts[0]": "<%= ENV['J'] %>"},
			check: func(t *testing.T, f *File) {
				if !reflect.DeepEqual(f.Hosts(), []string{"h1"}) {
					t.Errorf("Hosts() = %q", f.Hosts())
				}
			},
		},
		{
			name: "hosts from a loop",
			yml: `service: app
servers:
  web:
    <% ENV["WEB_HOSTS"].split(",").each do |h| %>
    - <%= h %>
    <% end %>
ssh:
  user: deploy
`,
			unresolved: map[string]string{"servers.web[0]": "<%= h %>"},
			check: func(t *testing.T, f *File) {
				if f.SSHUser != "deploy" || f.Service != "app" {
					t.Errorf("values outside the loop lost: %+v", f)
				}
			},
		},
		{
			name: "values inside an if are unresolved, outside they are not",
			yml: `<% require "dotenv"; Dotenv.load(".env") %>
service: app
<% if ENV["PROD"] %>
servers: [p1]
<% else %>
servers: [s1]
<% end %>
ssh:
  user: deploy
`,
			unresolved: map[string]string{"servers": `<% if ENV["PROD"] %> … <% end %>`},
			check: func(t *testing.T, f *File) {
				if f.Service != "app" || f.SSHUser != "deploy" {
					t.Errorf("values outside the block lost: %+v", f)
				}
			},
		},
		{
			name: "brace block",
			yml: `servers:
  web:
<% %w[a b].each { |h| %>
    - <%= h %>.example
<% } %>
service: app
`,
			unresolved: map[string]string{"servers.web[0]": "<%= h %>.example"},
		},
		{
			name:       "comments and literal <%%",
			yml:        "<%# a comment %>\nservice: app\nimage: \"<%%= not erb %>\"\n",
			unresolved: map[string]string{},
			check: func(t *testing.T, f *File) {
				if f.Service != "app" {
					t.Errorf("Service = %q", f.Service)
				}
			},
		},
		{
			name:       "multi-line tag keeps line numbers",
			yml:        "service: <%=\n  ENV.fetch('SVC')\n%>\nservers: [h1]\nssh:\n  user: deploy\n",
			unresolved: map[string]string{"service": "<%=\n  ENV.fetch('SVC')\n%>"},
			check: func(t *testing.T, f *File) {
				if f.origin["servers[0]"] != "config/deploy.yml:4" || f.origin["ssh.user"] != "config/deploy.yml:6" {
					t.Errorf("origins = %v", f.origin)
				}
			},
		},
		{
			name:       "ssh port",
			yml:        "ssh:\n  port: <%= ENV['PORT'] %>\n",
			unresolved: map[string]string{"ssh.port": "<%= ENV['PORT'] %>"},
		},
		{
			name:       "whole hosts list",
			yml:        "servers:\n  web:\n    hosts: <%= ENV['HOSTS'].split(',') %>\n",
			unresolved: map[string]string{"servers.web.hosts": "<%= ENV['HOSTS'].split(',') %>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustLoad(t, deployRepo(t, tt.yml), "")
			if !reflect.DeepEqual(f.Unresolved, tt.unresolved) {
				t.Errorf("Unresolved = %q\nwant %q", f.Unresolved, tt.unresolved)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// ---- Resolve ----

func TestResolvePrecedence(t *testing.T) {
	yml := `service: from-file
servers:
  web: [file1, file2]
ssh:
  user: fileuser
  port: 2201
  proxy: fileproxy
hooks_path: file/hooks
`
	type layer struct {
		env   map[string]string
		flags map[string]string
		hosts []string
	}
	tests := []struct {
		name    string
		layers  layer
		setting string
		get     func(*Settings) any
		want    any
		source  string
	}{
		{"service from file", layer{}, "service", func(s *Settings) any { return s.Service }, "from-file", "config/deploy.yml"},
		{"service KAMAL", layer{env: map[string]string{"KAMAL_SERVICE": "kamal"}}, "service", func(s *Settings) any { return s.Service }, "kamal", "KAMAL_SERVICE"},
		{"service KAMAL_SERVICE_VERSION (Kamal < 1.8)", layer{env: map[string]string{"KAMAL_SERVICE_VERSION": "old@d018f90"}}, "service", func(s *Settings) any { return s.Service }, "old", "KAMAL_SERVICE_VERSION"},
		{"service HOOKSHIM over KAMAL", layer{env: map[string]string{"KAMAL_SERVICE": "kamal", "HOOKSHIM_SERVICE": "hs"}}, "service", func(s *Settings) any { return s.Service }, "hs", "HOOKSHIM_SERVICE"},
		{"service flag over all", layer{env: map[string]string{"KAMAL_SERVICE": "kamal", "HOOKSHIM_SERVICE": "hs"}, flags: map[string]string{"service": "fl"}}, "service", func(s *Settings) any { return s.Service }, "fl", "--service"},

		{"destination none", layer{}, "destination", func(s *Settings) any { return s.Destination }, "", ""},
		{"destination KAMAL", layer{env: map[string]string{"KAMAL_DESTINATION": "staging"}}, "destination", func(s *Settings) any { return s.Destination }, "staging", "KAMAL_DESTINATION"},
		{"destination HOOKSHIM", layer{env: map[string]string{"KAMAL_DESTINATION": "staging", "HOOKSHIM_DESTINATION": "prod"}}, "destination", func(s *Settings) any { return s.Destination }, "prod", "HOOKSHIM_DESTINATION"},
		{"destination flag", layer{env: map[string]string{"HOOKSHIM_DESTINATION": "prod"}, flags: map[string]string{"destination": "staging"}}, "destination", func(s *Settings) any { return s.Destination }, "staging", "--destination"},

		{"primary from file", layer{}, "primary_host", func(s *Settings) any { return s.PrimaryHost }, "file1", "config/deploy.yml"},
		{"primary KAMAL_HOSTS one", layer{env: map[string]string{"KAMAL_HOSTS": "k1"}}, "primary_host", func(s *Settings) any { return s.PrimaryHost }, "k1", "KAMAL_HOSTS"},
		{"primary KAMAL_HOSTS several", layer{env: map[string]string{"KAMAL_HOSTS": "k1,k2"}}, "primary_host", func(s *Settings) any { return s.PrimaryHost }, "file1", "config/deploy.yml"},
		{"primary HOOKSHIM_HOST", layer{env: map[string]string{"KAMAL_HOSTS": "k1", "HOOKSHIM_HOST": "h1"}}, "primary_host", func(s *Settings) any { return s.PrimaryHost }, "h1", "HOOKSHIM_HOST"},
		{"primary --host", layer{env: map[string]string{"HOOKSHIM_HOST": "h1"}, flags: map[string]string{"host": "f1"}}, "primary_host", func(s *Settings) any { return s.PrimaryHost }, "f1", "--host"},
		{"primary first repeated --host", layer{env: map[string]string{"HOOKSHIM_HOST": "h1"}, hosts: []string{"f1", "f2"}}, "primary_host", func(s *Settings) any { return s.PrimaryHost }, "f1", "--host"},

		{"hosts from file", layer{}, "hosts", func(s *Settings) any { return s.Hosts }, []string{"file1", "file2"}, "config/deploy.yml"},
		{"hosts KAMAL_HOSTS", layer{env: map[string]string{"KAMAL_HOSTS": "k1, k2,,k1"}}, "hosts", func(s *Settings) any { return s.Hosts }, []string{"k1", "k2"}, "KAMAL_HOSTS"},
		{"hosts HOOKSHIM_HOSTS", layer{env: map[string]string{"KAMAL_HOSTS": "k1,k2", "HOOKSHIM_HOSTS": "h1,h2,h3"}}, "hosts", func(s *Settings) any { return s.Hosts }, []string{"h1", "h2", "h3"}, "HOOKSHIM_HOSTS"},
		{"hosts repeated --host", layer{env: map[string]string{"HOOKSHIM_HOSTS": "h1,h2"}, hosts: []string{"f1", "f2"}}, "hosts", func(s *Settings) any { return s.Hosts }, []string{"f1", "f2"}, "--host"},
		{"hosts single --host flag", layer{env: map[string]string{"HOOKSHIM_HOSTS": "h1,h2"}, flags: map[string]string{"host": "f1"}}, "hosts", func(s *Settings) any { return s.Hosts }, []string{"f1"}, "--host"},
		{"HOOKSHIM_HOST is not the host list", layer{env: map[string]string{"HOOKSHIM_HOST": "h1"}}, "hosts", func(s *Settings) any { return s.Hosts }, []string{"file1", "file2"}, "config/deploy.yml"},

		{"user from file", layer{}, "ssh_user", func(s *Settings) any { return s.SSHUser }, "fileuser", "config/deploy.yml"},
		{"user HOOKSHIM", layer{env: map[string]string{"HOOKSHIM_SSH_USER": "hs"}}, "ssh_user", func(s *Settings) any { return s.SSHUser }, "hs", "HOOKSHIM_SSH_USER"},
		{"user flag", layer{env: map[string]string{"HOOKSHIM_SSH_USER": "hs"}, flags: map[string]string{"ssh-user": "fl"}}, "ssh_user", func(s *Settings) any { return s.SSHUser }, "fl", "--ssh-user"},

		{"port from file", layer{}, "ssh_port", func(s *Settings) any { return s.SSHPort }, 2201, "config/deploy.yml"},
		{"port HOOKSHIM", layer{env: map[string]string{"HOOKSHIM_SSH_PORT": "2202"}}, "ssh_port", func(s *Settings) any { return s.SSHPort }, 2202, "HOOKSHIM_SSH_PORT"},
		{"port flag", layer{env: map[string]string{"HOOKSHIM_SSH_PORT": "2202"}, flags: map[string]string{"ssh-port": "2203"}}, "ssh_port", func(s *Settings) any { return s.SSHPort }, 2203, "--ssh-port"},

		{"proxy from file gets Kamal's root@", layer{}, "ssh_proxy", func(s *Settings) any { return s.SSHProxy }, "root@fileproxy", "config/deploy.yml"},
		{"proxy HOOKSHIM", layer{env: map[string]string{"HOOKSHIM_SSH_PROXY": "me@jump"}}, "ssh_proxy", func(s *Settings) any { return s.SSHProxy }, "me@jump", "HOOKSHIM_SSH_PROXY"},
		{"proxy flag none", layer{env: map[string]string{"HOOKSHIM_SSH_PROXY": "me@jump"}, flags: map[string]string{"ssh-proxy": "none"}}, "ssh_proxy", func(s *Settings) any { return s.SSHProxy }, "", "--ssh-proxy"},

		{"hooks from file", layer{}, "hooks_dir", func(s *Settings) any { return s.HooksDir }, "REPO/file/hooks", "config/deploy.yml"},
		{"hooks HOOKSHIM", layer{env: map[string]string{"HOOKSHIM_HOOKS_DIR": "/abs/hooks"}}, "hooks_dir", func(s *Settings) any { return s.HooksDir }, "/abs/hooks", "HOOKSHIM_HOOKS_DIR"},
		{"hooks flag relative to repo", layer{env: map[string]string{"HOOKSHIM_HOOKS_DIR": "/abs/hooks"}, flags: map[string]string{"hooks-dir": "rel/hooks"}}, "hooks_dir", func(s *Settings) any { return s.HooksDir }, "REPO/rel/hooks", "--hooks-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := repo(t, map[string]string{
				"config/deploy.yml":         yml,
				"config/deploy.staging.yml": "",
				"config/deploy.prod.yml":    "",
			})
			s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(tt.layers.env), Flags: tt.layers.flags, HostFlags: tt.layers.hosts},
				Need{Service: true, PrimaryHost: true, Hosts: true, HooksDir: true})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			got := tt.get(s)
			want := tt.want
			if w, ok := want.(string); ok {
				want = strings.ReplaceAll(w, "REPO", dir)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %#v, want %#v", tt.setting, got, want)
			}
			if s.Sources[tt.setting] != tt.source {
				t.Errorf("Sources[%q] = %q, want %q", tt.setting, s.Sources[tt.setting], tt.source)
			}
			if !s.HaveDeployFile || s.RepoDir != dir {
				t.Errorf("HaveDeployFile=%v RepoDir=%q", s.HaveDeployFile, s.RepoDir)
			}
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	dir := deployRepo(t, "service: app\nservers: [h1]\n")
	s, err := Resolve(Inputs{RepoDir: dir}, Need{Service: true, PrimaryHost: true, Hosts: true, HooksDir: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &Settings{
		Service: "app", PrimaryHost: "h1", Hosts: []string{"h1"}, SSHUser: "root",
		HooksDir: filepath.Join(dir, ".kamal", "hooks"), RunDir: ".kamal", RepoDir: dir, HaveDeployFile: true,
		Sources: map[string]string{
			"service": "config/deploy.yml", "primary_host": "config/deploy.yml", "hosts": "config/deploy.yml",
			"ssh_user": "default", "hooks_dir": "default", "run_dir": "default",
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
}

func TestResolveDestinationFile(t *testing.T) {
	dir := repo(t, map[string]string{
		"config/deploy.yml":         "service: app\nservers: [p1]\nssh:\n  user: deploy\n",
		"config/deploy.staging.yml": "servers: [s1]\n",
	})
	s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(map[string]string{"KAMAL_DESTINATION": "staging"})}, Need{PrimaryHost: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.PrimaryHost != "s1" || s.SSHUser != "deploy" || s.Sources["primary_host"] != "config/deploy.staging.yml" || s.Sources["ssh_user"] != "config/deploy.yml" {
		t.Errorf("got %+v", s)
	}

	// Hosts from both files name both.
	dir = repo(t, map[string]string{
		"config/deploy.yml":         "service: app\nservers:\n  web: [w1]\nrun_directory: .kamal-app\n",
		"config/deploy.staging.yml": "servers:\n  job: [j1]\n",
	})
	s, err = Resolve(Inputs{RepoDir: dir, Flags: map[string]string{"destination": "staging"}}, Need{Hosts: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Hosts, []string{"w1", "j1"}) || s.Sources["hosts"] != "config/deploy.staging.yml + config/deploy.yml" {
		t.Errorf("hosts %q from %q", s.Hosts, s.Sources["hosts"])
	}
	if s.RunDir != ".kamal-app" || s.Sources["run_dir"] != "config/deploy.yml" {
		t.Errorf("run dir %q from %q", s.RunDir, s.Sources["run_dir"])
	}
}

func TestResolveKamalHosts(t *testing.T) {
	tests := []struct {
		name        string
		yml         string // "" = no deploy.yml
		kamalHosts  string
		wantPrimary string
		wantHosts   []string
		wantErr     string
	}{
		{"one host, no file", "", "127.0.0.5", "127.0.0.5", []string{"127.0.0.5"}, ""},
		{"one host overrides the file's primary", "servers: [a, b]\n", "b", "b", []string{"b"}, ""},
		{"several hosts keep the file's primary", "servers:\n  web: [a, b]\n  job: [c]\n", "c,b,a", "a", []string{"c", "b", "a"}, ""},
		{"several hosts, no file", "", "a,b", "", nil, "KAMAL_HOSTS names 2 hosts, which does not tell which one is the primary"},
		{"several hosts, file without the role", "servers:\n  job: [c]\n", "a,b", "", nil, "KAMAL_HOSTS names 2 hosts"},
	}
	// A boot group's KAMAL_HOSTS (app-boot hooks) never picks the primary host.
	dir := repo(t, map[string]string{"config/deploy.yml": "servers: [a, b]\nboot:\n  limit: 1\n"})
	s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(map[string]string{"KAMAL_HOSTS": "b"})}, Need{PrimaryHost: true, GroupHosts: true})
	if err != nil || s.PrimaryHost != "a" || s.Sources["primary_host"] != "config/deploy.yml" {
		t.Errorf("boot group: primary %q from %q, %v", s.PrimaryHost, s.Sources["primary_host"], err)
	}
	// kamal --roles: KAMAL_ROLES names the role whose first host keeps the lock
	// (the primary role when named, else the first named in deploy.yml's order).
	dir = repo(t, map[string]string{"config/deploy.yml": "servers:\n  web: [a, b]\n  job: [c, d]\n  cron: [e]\n"})
	for roles, want := range map[string]string{"job": "c", "job,web": "a", "cron,job": "c", "j*": "c", "nope": "a"} {
		s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(map[string]string{"KAMAL_ROLES": roles, "KAMAL_HOSTS": "c"})}, Need{PrimaryHost: true, GroupHosts: true})
		if err != nil || s.PrimaryHost != want {
			t.Errorf("KAMAL_ROLES=%s: primary %q, want %q (%v)", roles, s.PrimaryHost, want, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.yml != "" {
				files["config/deploy.yml"] = tt.yml
			}
			dir := repo(t, files)
			s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(map[string]string{"KAMAL_HOSTS": tt.kamalHosts})}, Need{PrimaryHost: true, Hosts: true})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !strings.Contains(report(err), "--host") {
					t.Errorf("no --host hint: %s", report(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.PrimaryHost != tt.wantPrimary || !reflect.DeepEqual(s.Hosts, tt.wantHosts) {
				t.Errorf("primary %q hosts %q, want %q %q", s.PrimaryHost, s.Hosts, tt.wantPrimary, tt.wantHosts)
			}
		})
	}
}

func TestResolveERB(t *testing.T) {
	tests := []struct {
		name    string
		yml     string
		env     map[string]string
		flags   map[string]string
		need    Need
		wantErr string // "" = no error
		hint    string
		check   func(t *testing.T, s *Settings)
	}{
		{
			name:    "service needed",
			yml:     "service: <%= ENV[\"SVC\"] %>\nservers: [h1]\n",
			need:    Need{Service: true},
			wantErr: `config/deploy.yml: service is ERB (<%= ENV["SVC"] %>), which only Ruby can evaluate`,
			hint:    "pass --service NAME (or set HOOKSHIM_SERVICE)",
		},
		{
			name: "service not needed",
			yml:  "service: <%= ENV[\"SVC\"] %>\nservers: [h1]\n",
			need: Need{PrimaryHost: true},
			check: func(t *testing.T, s *Settings) {
				if s.Service != "" || s.PrimaryHost != "h1" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "service needed, given by KAMAL_SERVICE",
			yml:  "service: <%= ENV[\"SVC\"] %>\nservers: [h1]\n",
			env:  map[string]string{"KAMAL_SERVICE": "app"},
			need: Need{Service: true},
			check: func(t *testing.T, s *Settings) {
				if s.Service != "app" || s.Sources["service"] != "KAMAL_SERVICE" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:  "service needed, given by flag",
			yml:   "service: <%= ENV[\"SVC\"] %>\n",
			flags: map[string]string{"service": "app"},
			need:  Need{Service: true},
		},
		{
			name:    "primary host needed",
			yml:     "service: app\nservers:\n  web:\n    - <%= ENV['WEB'] %>\n",
			need:    Need{PrimaryHost: true},
			wantErr: "config/deploy.yml: the primary host (servers.web[0]) is ERB (<%= ENV['WEB'] %>), which only Ruby can evaluate",
			hint:    "pass --host HOST (or set HOOKSHIM_HOST)",
		},
		{
			name: "primary host needed, one KAMAL_HOSTS",
			yml:  "service: app\nservers:\n  web:\n    - <%= ENV['WEB'] %>\n",
			env:  map[string]string{"KAMAL_HOSTS": "10.1.1.1"},
			need: Need{PrimaryHost: true, Hosts: true},
			check: func(t *testing.T, s *Settings) {
				if s.PrimaryHost != "10.1.1.1" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:    "hosts needed, one of them ERB",
			yml:     "service: app\nservers:\n  web: [h1]\n  job:\n    - <%= ENV['JOB'] %>\n",
			need:    Need{Hosts: true},
			wantErr: "config/deploy.yml: servers.job[0] is ERB (<%= ENV['JOB'] %>), which only Ruby can evaluate",
			hint:    "pass --host HOST, once per host (or set HOOKSHIM_HOSTS=host1,host2)",
		},
		{
			name: "hosts not needed, ERB host elsewhere",
			yml:  "service: app\nservers:\n  web: [h1]\n  job:\n    - <%= ENV['JOB'] %>\n",
			need: Need{Service: true, PrimaryHost: true},
			check: func(t *testing.T, s *Settings) {
				if s.PrimaryHost != "h1" || !reflect.DeepEqual(s.Hosts, []string{"h1"}) {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:    "ssh user needed (SSH to the primary host)",
			yml:     "service: app\nservers: [h1]\nssh:\n  user: <%= ENV['DEPLOY_USER'] %>\n",
			need:    Need{PrimaryHost: true},
			wantErr: "config/deploy.yml: ssh.user is ERB (<%= ENV['DEPLOY_USER'] %>), which only Ruby can evaluate",
			hint:    "pass --ssh-user USER (or set HOOKSHIM_SSH_USER)",
		},
		{
			name: "ssh user not needed (no SSH)",
			yml:  "service: app\nservers: [h1]\nssh:\n  user: <%= ENV['DEPLOY_USER'] %>\n",
			need: Need{Service: true},
			check: func(t *testing.T, s *Settings) {
				if s.SSHUser != "" {
					t.Errorf("SSHUser = %q, want it left unknown rather than guessed", s.SSHUser)
				}
			},
		},
		{
			name: "ssh user needed, given by HOOKSHIM_SSH_USER",
			yml:  "service: app\nservers: [h1]\nssh:\n  user: <%= ENV['DEPLOY_USER'] %>\n",
			env:  map[string]string{"HOOKSHIM_SSH_USER": "deploy"},
			need: Need{PrimaryHost: true},
			check: func(t *testing.T, s *Settings) {
				if s.SSHUser != "deploy" || s.Sources["ssh_user"] != "HOOKSHIM_SSH_USER" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:    "ssh port needed",
			yml:     "servers: [h1]\nssh:\n  port: <%= ENV['P'] %>\n",
			need:    Need{PrimaryHost: true},
			wantErr: "ssh.port is ERB",
			hint:    "--ssh-port",
		},
		{
			name:    "hooks_path needed",
			yml:     "servers: [h1]\nhooks_path: <%= ENV['HOOKS'] %>\n",
			need:    Need{HooksDir: true},
			wantErr: "hooks_path is ERB",
			hint:    "--hooks-dir",
		},
		{
			name: "hooks_path not needed",
			yml:  "servers: [h1]\nhooks_path: <%= ENV['HOOKS'] %>\n",
			need: Need{PrimaryHost: true},
			check: func(t *testing.T, s *Settings) {
				if s.HooksDir != "" {
					t.Errorf("HooksDir = %q, want unknown", s.HooksDir)
				}
			},
		},
		{
			name: "unparseable ERB file, everything given otherwise",
			yml:  "service: app\n<%= File.read('more.yml') %>\n",
			env:  map[string]string{"KAMAL_SERVICE": "app", "KAMAL_HOSTS": "h1", "HOOKSHIM_SSH_USER": "deploy", "HOOKSHIM_HOOKS_DIR": ".kamal/hooks"},
			need: Need{Service: true, PrimaryHost: true, HooksDir: true},
			check: func(t *testing.T, s *Settings) {
				if s.HaveDeployFile || s.DeployFileErr == nil || s.PrimaryHost != "h1" || s.SSHUser != "deploy" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:    "unparseable ERB file, hooks dir unknown",
			yml:     "service: app\n<%= File.read('more.yml') %>\n",
			env:     map[string]string{"KAMAL_SERVICE": "app"},
			need:    Need{Service: true, HooksDir: true},
			wantErr: "hooks_path is unknown: config/deploy.yml cannot be used",
			hint:    "--hooks-dir",
		},
		{
			name:    "unparseable ERB file, ssh user unknown",
			yml:     "service: app\n<%= File.read('more.yml') %>\n",
			env:     map[string]string{"KAMAL_SERVICE": "app", "KAMAL_HOSTS": "h1"},
			need:    Need{Service: true, PrimaryHost: true},
			wantErr: "ssh.user is unknown: config/deploy.yml cannot be used",
			hint:    "--ssh-user",
		},
		{
			name:    "unparseable ERB file, service needed",
			yml:     "service: app\n<%= File.read('more.yml') %>\n",
			need:    Need{Service: true},
			wantErr: "service is not set and config/deploy.yml cannot be used: config/deploy.yml:2:",
			hint:    "pass --service NAME",
		},
		{
			name: "unparseable file that does not mention ssh: root is right",
			yml:  "service: app\nservers: [h1\n",
			env:  map[string]string{"KAMAL_SERVICE": "app", "KAMAL_HOSTS": "h1"},
			need: Need{Service: true, PrimaryHost: true, HooksDir: true},
			check: func(t *testing.T, s *Settings) {
				if s.SSHUser != "root" || s.HooksDir == "" {
					t.Errorf("got %+v", s)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := deployRepo(t, tt.yml)
			s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(tt.env), Flags: tt.flags}, tt.need)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if tt.check != nil {
					tt.check(t, s)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %+v, want error %q", s, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q\nwant %q", err, tt.wantErr)
			}
			if exitcode.Code(err) != exitcode.Config {
				t.Errorf("exit status %d, want %d", exitcode.Code(err), exitcode.Config)
			}
			if !strings.Contains(report(err), "hookshim: hint: "+tt.hint) && !strings.Contains(report(err), tt.hint) {
				t.Errorf("report lacks hint %q:\n%s", tt.hint, report(err))
			}
		})
	}
}

func TestResolveHostileValues(t *testing.T) {
	hostile := []string{"a/b", "..", "a b", "$(id)", "-x", "a;b", ".hidden", "a..b", "`id`", "a|b", "a&b", "a\nb", "a'b", "", "é"}
	for _, v := range hostile {
		if v == "" {
			continue // empty means unset for flags and env
		}
		t.Run("service flag "+v, func(t *testing.T) {
			dir := deployRepo(t, "service: app\nservers: [h1]\n")
			_, err := Resolve(Inputs{RepoDir: dir, Flags: map[string]string{"service": v}}, Need{Service: true})
			checkHostile(t, err, exitcode.Usage, v, "--service")
		})
		t.Run("KAMAL_SERVICE "+v, func(t *testing.T) {
			_, err := Resolve(Inputs{RepoDir: t.TempDir(), Env: envOf(map[string]string{"KAMAL_SERVICE": v})}, Need{})
			checkHostile(t, err, exitcode.Usage, v, "KAMAL_SERVICE")
		})
		t.Run("destination "+v, func(t *testing.T) {
			_, err := Resolve(Inputs{RepoDir: t.TempDir(), Env: envOf(map[string]string{"HOOKSHIM_DESTINATION": v})}, Need{})
			checkHostile(t, err, exitcode.Usage, v, "HOOKSHIM_DESTINATION")
		})
	}
	for _, v := range []string{"a/b", "..", "a b", "$(id)", "-x", "a;b"} {
		t.Run("service in deploy.yml "+v, func(t *testing.T) {
			_, err := Load(deployRepo(t, "service: '"+v+"'\n"), "")
			if exitcode.Code(err) != exitcode.Config || !strings.Contains(err.Error(), "not a valid service name") {
				t.Errorf("err = %v (%d)", err, exitcode.Code(err))
			}
		})
	}
	for _, tc := range []struct{ key, value, src string }{
		{"host", "h1;id", "--host"},
		{"host", "-oProxyCommand=id", "--host"},
		{"host", "h 1", "--host"},
		{"ssh-user", "$(id)", "--ssh-user"},
		{"ssh-user", "-l", "--ssh-user"},
		{"ssh-port", "0", "--ssh-port"},
		{"ssh-port", "65536", "--ssh-port"},
		{"ssh-port", "22;id", "--ssh-port"},
		{"ssh-proxy", "j;id", "--ssh-proxy"},
	} {
		t.Run(tc.key+" "+tc.value, func(t *testing.T) {
			_, err := Resolve(Inputs{RepoDir: t.TempDir(), Flags: map[string]string{tc.key: tc.value}, Env: envOf(map[string]string{"KAMAL_HOSTS": "h1"})}, Need{PrimaryHost: true})
			checkHostile(t, err, exitcode.Usage, tc.value, tc.src)
		})
	}
	t.Run("HOOKSHIM_HOSTS", func(t *testing.T) {
		_, err := Resolve(Inputs{RepoDir: t.TempDir(), Env: envOf(map[string]string{"HOOKSHIM_HOSTS": "ok,b`id`"})}, Need{Hosts: true})
		checkHostile(t, err, exitcode.Usage, "b`id`", "HOOKSHIM_HOSTS")
	})
}

func checkHostile(t *testing.T, err error, code int, value, source string) {
	t.Helper()
	if err == nil {
		t.Fatalf("value %q from %s accepted", value, source)
	}
	if exitcode.Code(err) != code {
		t.Errorf("exit status %d, want %d (%v)", exitcode.Code(err), code, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") && !strings.Contains(value, "\n") {
		t.Errorf("not one line: %q", msg)
	}
	for _, w := range []string{"invalid", source} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
	if !strings.Contains(report(err), "hint: pass --") {
		t.Errorf("no flag hint: %s", report(err))
	}
}

func TestValidateName(t *testing.T) {
	good := []string{"app", "my-app", "my_app", "app.v2", "A1", "x", "post-deploy", strings.Repeat("a", 128)}
	bad := []string{"", "a/b", "..", "a..b", ".app", "-app", "a b", "a\tb", "$(id)", "a;b", "a|b", "a&b", "`id`",
		"a'b", `a"b`, "a*b", "a?b", "a~b", "é", "a\x00b", "a\nb", strings.Repeat("a", 129), "a:b", "a@b", "a\\b"}
	for _, v := range good {
		if err := ValidateName("service", v); err != nil {
			t.Errorf("ValidateName(%q) = %v", v, err)
		}
	}
	for _, v := range bad {
		err := ValidateName("service", v)
		if err == nil {
			t.Errorf("ValidateName(%q) accepted", v)
			continue
		}
		if exitcode.Code(err) != exitcode.Usage {
			t.Errorf("ValidateName(%q): exit status %d", v, exitcode.Code(err))
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ValidateName(%q): not one line: %q", v, err)
		}
	}
	for _, v := range []string{"127.0.0.1", "host.example.com", "[::1]", "fe80::1%eth0", "deploy@h:22", "h_1"} {
		if err := ValidateHost(v); err != nil {
			t.Errorf("ValidateHost(%q) = %v", v, err)
		}
	}
	for _, v := range []string{"", "-h", "h;id", "h id", "$(id)", "h\n", "h/x", "h'", "h`"} {
		if err := ValidateHost(v); err == nil {
			t.Errorf("ValidateHost(%q) accepted", v)
		}
	}
}

func TestResolveWithoutDeployFile(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"KAMAL_SERVICE":     "app",
		"KAMAL_DESTINATION": "staging",
		"KAMAL_HOSTS":       "127.0.0.7",
		"KAMAL_VERSION":     "d018f90b8de4599db01a44090e61eeb581595c52",
	}
	s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(env)}, Need{Service: true, PrimaryHost: true, Hosts: true, HooksDir: true})
	if err != nil {
		t.Fatal(err)
	}
	want := &Settings{
		Service: "app", Destination: "staging", PrimaryHost: "127.0.0.7", Hosts: []string{"127.0.0.7"},
		SSHUser: "root", HooksDir: filepath.Join(dir, ".kamal/hooks"), RunDir: ".kamal", RepoDir: dir,
		Sources: map[string]string{
			"service": "KAMAL_SERVICE", "destination": "KAMAL_DESTINATION", "primary_host": "KAMAL_HOSTS", "hosts": "KAMAL_HOSTS",
			"ssh_user": "default", "hooks_dir": "default", "run_dir": "default",
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}

	// Missing settings name the flag and the variable.
	for _, tc := range []struct {
		need Need
		want string
		hint string
	}{
		{Need{Service: true}, "service is not set: there is no config/deploy.yml in " + dir + ", and KAMAL_SERVICE is not set", "pass --service NAME (or set HOOKSHIM_SERVICE)"},
		{Need{PrimaryHost: true}, "primary host is not set", "pass --host HOST (or set HOOKSHIM_HOST)"},
		{Need{Hosts: true}, "hosts is not set", "pass --host HOST, once per host"},
	} {
		_, err := Resolve(Inputs{RepoDir: dir, Env: envOf(nil)}, tc.need)
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Code(err) != exitcode.Usage {
			t.Errorf("need %+v: err = %v (%d), want %q", tc.need, err, exitcode.Code(err), tc.want)
			continue
		}
		if !strings.Contains(report(err), "hookshim: hint: "+tc.hint) {
			t.Errorf("need %+v: report %q lacks hint %q", tc.need, report(err), tc.hint)
		}
	}
	// Nothing needed, nothing set: fine, and no panic with a nil Env.
	if _, err := Resolve(Inputs{RepoDir: dir}, Need{}); err != nil {
		t.Errorf("Resolve with nothing needed: %v", err)
	}
}

func TestResolveFixtureEnvironment(t *testing.T) {
	// The environment Kamal 2.12 gave the post-deploy hook under `kamal setup`
	// (../fixtures/kamal/v2.12.0/setup-post-deploy-hook.txt), with the minimal
	// deploy.yml of that recording.
	dir := deployRepo(t, "service: app\nimage: app\nservers:\n  - 127.0.0.1\nregistry:\n  server: localhost:5000\n")
	env := map[string]string{
		"KAMAL_COMMAND": "setup", "KAMAL_HOSTS": "127.0.0.1", "KAMAL_LOCK": "true",
		"KAMAL_PERFORMER": "tester@example.invalid", "KAMAL_RECORDED_AT": "2026-11-27T06:31:35Z",
		"KAMAL_RUNTIME": "5", "KAMAL_SERVICE": "app", "KAMAL_SERVICE_VERSION": "app@d018f90",
		"KAMAL_VERSION": "d018f90b8de4599db01a44090e61eeb581595c52",
	}
	s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(env)}, Need{Service: true, PrimaryHost: true, HooksDir: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Service != "app" || s.PrimaryHost != "127.0.0.1" || s.SSHUser != "root" || s.Destination != "" {
		t.Errorf("got %+v", s)
	}
}

func TestResolveRelativeRepoDir(t *testing.T) {
	dir := deployRepo(t, "service: app\nservers: [h1]\n")
	t.Chdir(dir)
	s, err := Resolve(Inputs{Env: envOf(nil)}, Need{Service: true})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(s.RepoDir) || s.Service != "app" || !filepath.IsAbs(s.HooksDir) {
		t.Errorf("got %+v", s)
	}
}

func FuzzLoad(f *testing.F) {
	seeds := []string{
		"",
		"service: app\nservers: [h1]\n",
		"servers:\n  web:\n    hosts:\n      - 1.2.3.4: [a]\n  job: [j]\nprimary_role: job\n",
		"service: <%= ENV['S'] %>\nservers:\n<% 3.times do |i| %>\n  - h<%= i %>\n<% end %>\n",
		"ssh:\n  user: u\n  port: 22\n  proxy: j\naccessories:\n  db:\n    host: d\n    roles: [web]\n",
		"ssh:\n  config: [a, ~/b]\n  key_data: [K]\n",
		"ssh:\n  config: no\n",
		"a: &a {b: *a}\n",
		"<<: {service: x}\nservers: 5\n",
		"- x\n",
		"<%",
		"\xff\xfe",
		aliasBomb(),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "config", "deploy.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(dir, "")
		if err != nil {
			if cfg != nil {
				t.Fatalf("both a File and an error: %v", err)
			}
			if exitcode.Code(err) == exitcode.Failure {
				t.Fatalf("error without an exit status: %v", err)
			}
			if strings.Contains(err.Error(), "\n") && !bytes.Contains(data, []byte("\n")) {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("no File and no error")
		}
		// Whatever came out must be safe to use.
		for _, h := range cfg.AllHosts() {
			if hostProblem(h) != "" {
				t.Fatalf("invalid host %q came out", h)
			}
		}
		if cfg.Service != "" && nameProblem(cfg.Service) != "" {
			t.Fatalf("invalid service %q came out", cfg.Service)
		}
		_, _ = cfg.PrimaryHost()
		_, _ = Resolve(Inputs{RepoDir: dir}, Need{Service: true, PrimaryHost: true, Hosts: true, HooksDir: true})
	})
}
