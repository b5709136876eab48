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
		err := mustLoad(t, dir, "staging").ERBError(func(k string) bool { return k == "service" }, "", HintService)
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

func TestNameAndHostRules(t *testing.T) {
	good := []string{"app", "my-app", "my_app", "app.v2", "A1", "x", "post-deploy", strings.Repeat("a", 128)}
	bad := []string{"", "a/b", "..", "a..b", ".app", "-app", "a b", "a\tb", "$(id)", "a;b", "a|b", "a&b", "`id`",
		"a'b", `a"b`, "a*b", "a?b", "a~b", "é", "a\x00b", "a\nb", strings.Repeat("a", 129), "a:b", "a@b", "a\\b"}
	for _, v := range good {
		if p := NameProblem(v); p != "" {
			t.Errorf("NameProblem(%q) = %s", v, p)
		}
	}
	for _, v := range bad {
		if p := NameProblem(v); p == "" || strings.Contains(p, "\n") {
			t.Errorf("NameProblem(%q) = %q, want one line", v, p)
		}
	}
	for _, v := range []string{"127.0.0.1", "host.example.com", "[::1]", "fe80::1%eth0", "deploy@h:22", "h_1"} {
		if p := HostProblem(v); p != "" {
			t.Errorf("HostProblem(%q) = %s", v, p)
		}
	}
	for _, v := range []string{"", "-h", "h;id", "h id", "$(id)", "h\n", "h/x", "h'", "h`"} {
		if HostProblem(v) == "" {
			t.Errorf("HostProblem(%q) accepted", v)
		}
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
			if HostProblem(h) != "" {
				t.Fatalf("invalid host %q came out", h)
			}
		}
		if cfg.Service != "" && NameProblem(cfg.Service) != "" {
			t.Fatalf("invalid service %q came out", cfg.Service)
		}
		_, _ = cfg.PrimaryHost()
	})
}
