package settings

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/deployconfig"
	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
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
			wantErr: "config/deploy.yml:2: could not find expected ':'; the file holds ERB (<% ... %>) that only Ruby can evaluate; so hooks_path is unknown",
			hint:    "--hooks-dir",
		},
		{
			name:    "unparseable ERB file, ssh user unknown",
			yml:     "service: app\n<%= File.read('more.yml') %>\n",
			env:     map[string]string{"KAMAL_SERVICE": "app", "KAMAL_HOSTS": "h1"},
			need:    Need{Service: true, PrimaryHost: true},
			wantErr: "config/deploy.yml:2: could not find expected ':'; the file holds ERB (<% ... %>) that only Ruby can evaluate; so ssh.user is unknown",
			hint:    "--ssh-user",
		},
		{
			name:    "unparseable ERB file, service needed",
			yml:     "service: app\n<%= File.read('more.yml') %>\n",
			need:    Need{Service: true},
			wantErr: "config/deploy.yml:2: could not find expected ':'; the file holds ERB (<% ... %>) that only Ruby can evaluate; so service is unknown, and KAMAL_SERVICE is not set",
			hint:    "or pass --service NAME",
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
			_, err := deployconfig.Load(deployRepo(t, "service: '"+v+"'\n"), "")
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

// Settings carry the files as Kamal opens them: "~" under $HOME, a relative
// path under the repository.
func TestResolveSSHConfigPaths(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := deployRepo(t, "service: app\nservers: [h1]\nssh:\n  config: [~/.ssh/k, config/ssh_config, /etc/x]\n")
	s, err := Resolve(Inputs{RepoDir: dir, Env: envOf(nil)}, Need{Service: true, PrimaryHost: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(home, ".ssh/k"), filepath.Join(dir, "config/ssh_config"), "/etc/x"}
	if !reflect.DeepEqual(s.SSHConfigFiles, want) {
		t.Errorf("got %q, want %q", s.SSHConfigFiles, want)
	}
}

// ERB that decides a value in the destination file is reported against that file.
func TestResolveERBInDestinationFile(t *testing.T) {
	dir := repo(t, map[string]string{"config/deploy.yml": "service: app\nservers: [h1]\n", "config/deploy.staging.yml": "service: <%= ENV['S'] %>\n"})
	_, err := Resolve(Inputs{RepoDir: dir, Env: envOf(map[string]string{"KAMAL_DESTINATION": "staging"})}, Need{Service: true})
	if err == nil || !strings.HasPrefix(err.Error(), "config/deploy.staging.yml: service is ERB") {
		t.Fatalf("err = %v", err)
	}
}

// A host is checked with the rule the SSH target is built with wherever it
// comes from (KAMAL_HOSTS here; deploy.yml in deployconfig's test of the same
// name), and a bad one is a usage error.
func TestHostRuleIsTheSSHTargetRule(t *testing.T) {
	for _, h := range []string{
		"web1", "deploy@web1:2222", "127.0.0.1", "[::1]", "fe80::1%eth0", "h_1",
		"web1:99999", "a@b@c", "h:1:2", "[example.com]:22", "%", "@h", "h:",
		strings.Repeat("h", 256),
	} {
		_, perr := sshx.ParseTarget(h)
		_, rerr := Resolve(Inputs{RepoDir: t.TempDir(), Env: envOf(map[string]string{"KAMAL_HOSTS": h})}, Need{PrimaryHost: true})
		if (rerr == nil) != (perr == nil) || rerr != nil && exitcode.Code(rerr) != exitcode.Usage {
			t.Errorf("KAMAL_HOSTS=%q: Resolve says %v, sshx.ParseTarget says %v", h, rerr, perr)
		}
	}
}

// Whatever deploy.yml and the environment hold, Resolve returns settings whose
// values pass their rules, or one error with an exit status.
func FuzzResolve(f *testing.F) {
	f.Add([]byte("service: app\nservers: [h1]\n"), "h1,h2", "app")
	f.Add([]byte("service: <%= ENV['S'] %>\nservers:\n  web: [a]\nssh:\n  user: u\n  port: 22\n  proxy: j\n"), "", "")
	f.Add([]byte("servers: 5\n"), "h1", "x@1")
	f.Add([]byte("service: a\nservers: {job: [j]}\nprimary_role: job\nhooks_path: h\n"), "-h", "a b")
	dir := f.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, yml []byte, kamalHosts, kamalService string) {
		if err := os.WriteFile(filepath.Join(dir, "config", "deploy.yml"), yml, 0o644); err != nil {
			t.Fatal(err)
		}
		env := envOf(map[string]string{"KAMAL_HOSTS": kamalHosts, "KAMAL_SERVICE": kamalService})
		s, err := Resolve(Inputs{RepoDir: dir, Env: env}, Need{Service: true, PrimaryHost: true, Hosts: true, HooksDir: true})
		if err != nil {
			if s != nil || exitcode.Code(err) == exitcode.Failure {
				t.Fatalf("settings %v, error without an exit status: %v", s, err)
			}
			return
		}
		for _, h := range append(s.Hosts, s.PrimaryHost) {
			if deployconfig.HostProblem(h) != "" {
				t.Fatalf("invalid host %q came out", h)
			}
		}
		if deployconfig.NameProblem(s.Service) != "" || deployconfig.UserProblem(s.SSHUser) != "" {
			t.Fatalf("invalid service %q or user %q came out", s.Service, s.SSHUser)
		}
	})
}

// A deploy.yml Load refuses for one bad value: the error a user sees leads
// with that value's file:line problem and the hint to fix the file, and only
// then names the flag that would do instead.
func TestResolveUnusableDeployFileLeads(t *testing.T) {
	const (
		fixHint   = "hookshim: hint: fix config/deploy.yml, or pass the values with flags (--service, --host, --ssh-user, --ssh-port)"
		proxyYML  = "service: app\nimage: app\nservers:\n  - web1\nssh:\n  user: deploy\n  proxy: \"bad proxy;x\"\n"
		userYML   = "service: app\nservers:\n  - web1\nssh:\n  user: \"$(id)\"\n"
		serverYML = "service: app\nservers:\n  - \"web1;id\"\n"
	)
	tests := []struct {
		name  string
		files map[string]string
		env   map[string]string
		flags map[string]string
		need  Need
		code  int
		lead  string // the start of the error line
		rest  string // what follows the file's message on that line
		hints []string
	}{
		{
			name:  "bad ssh.proxy, service needed",
			files: map[string]string{"config/deploy.yml": proxyYML},
			need:  Need{Service: true},
			code:  exitcode.Config,
			lead:  `hookshim: error: config/deploy.yml:7: ssh.proxy: "bad proxy;x" is not valid: `,
			rest:  "; so service is unknown, and KAMAL_SERVICE is not set",
			hints: []string{fixHint, "hookshim: hint: or pass --service NAME (or set HOOKSHIM_SERVICE)"},
		},
		{
			name:  "bad ssh.user, hosts needed",
			files: map[string]string{"config/deploy.yml": userYML},
			need:  Need{Hosts: true},
			code:  exitcode.Config,
			lead:  `hookshim: error: config/deploy.yml:5: ssh.user: "$(id)" is not valid: `,
			rest:  "; so hosts is unknown, and KAMAL_HOSTS is not set",
			hints: []string{fixHint, "hookshim: hint: or pass --host HOST, once per host (or set HOOKSHIM_HOSTS=host1,host2)",
				"hookshim: hint: to go on without the file, pass all it would have given at once: --host HOST --ssh-user USER --ssh-proxy [USER@]HOST|none (or their HOOKSHIM_* variables)"},
		},
		{
			// Everything a hook would need is named at once, not one per try.
			name:  "bad ssh.proxy, a hook's settings needed",
			files: map[string]string{"config/deploy.yml": proxyYML},
			need:  Need{Service: true, PrimaryHost: true, HooksDir: true},
			code:  exitcode.Config,
			lead:  `hookshim: error: config/deploy.yml:7: ssh.proxy: "bad proxy;x" is not valid: `,
			rest:  "; so service is unknown, and KAMAL_SERVICE is not set",
			hints: []string{fixHint, "hookshim: hint: or pass --service NAME (or set HOOKSHIM_SERVICE)",
				"hookshim: hint: to go on without the file, pass all it would have given at once: --service NAME --host HOST --ssh-user USER --ssh-proxy [USER@]HOST|none (or their HOOKSHIM_* variables)"},
		},
		{
			name:  "bad servers[0], primary host needed",
			files: map[string]string{"config/deploy.yml": serverYML},
			env:   map[string]string{"KAMAL_SERVICE": "app"},
			need:  Need{Service: true, PrimaryHost: true},
			code:  exitcode.Config,
			lead:  `hookshim: error: config/deploy.yml:3: servers[0]: "web1;id" is not a valid host: `,
			rest:  "; so primary host is unknown, and KAMAL_HOSTS is not set",
			hints: []string{fixHint, "hookshim: hint: or pass --host HOST (or set HOOKSHIM_HOST)"},
		},
		{
			name:  "bad ssh.proxy, service given, ssh user hidden",
			files: map[string]string{"config/deploy.yml": proxyYML},
			flags: map[string]string{"service": "app", "host": "web1", "ssh-proxy": "none"},
			need:  Need{Service: true, PrimaryHost: true},
			code:  exitcode.Config,
			lead:  `hookshim: error: config/deploy.yml:7: ssh.proxy: "bad proxy;x" is not valid: `,
			rest:  "; so ssh.user is unknown",
			hints: []string{fixHint, "hookshim: hint: or pass --ssh-user USER (or set HOOKSHIM_SSH_USER)"},
		},
		{
			name:  "-d prod without config/deploy.prod.yml",
			files: map[string]string{"config/deploy.yml": "service: app\nservers: [web1]\n"},
			flags: map[string]string{"destination": "prod"},
			need:  Need{Hosts: true},
			code:  exitcode.Usage,
			lead:  `hookshim: error: config/deploy.prod.yml does not exist in `,
			rest:  ` (destination "prod"); so hosts is unknown, and KAMAL_HOSTS is not set`,
			hints: []string{"hookshim: hint: check --destination / KAMAL_DESTINATION / HOOKSHIM_DESTINATION",
				"hookshim: hint: or pass --host HOST, once per host (or set HOOKSHIM_HOSTS=host1,host2)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Resolve(Inputs{RepoDir: repo(t, tt.files), Env: envOf(tt.env), Flags: tt.flags}, tt.need)
			if err == nil {
				t.Fatalf("Resolve = %+v, want an error", s)
			}
			lines := strings.Split(strings.TrimSuffix(report(err), "\n"), "\n")
			if !strings.HasPrefix(lines[0], tt.lead) || !strings.HasSuffix(lines[0], tt.rest) {
				t.Errorf("error line\n%s\nwant it to start %q and end %q", lines[0], tt.lead, tt.rest)
			}
			if !reflect.DeepEqual(lines[1:], tt.hints) {
				t.Errorf("hints\n%s\nwant\n%s", strings.Join(lines[1:], "\n"), strings.Join(tt.hints, "\n"))
			}
			if exitcode.Code(err) != tt.code {
				t.Errorf("exit status %d, want %d", exitcode.Code(err), tt.code)
			}
		})
	}
}

// A deploy.yml Load refuses that has an ssh: section: to connect over SSH
// without it, the jump host must be said (--ssh-proxy HOST or none), or the
// file's proxy, config and keys would be dropped without a word.
func TestResolveUnusableDeployFileSSH(t *testing.T) {
	const yml = "service: app\nservers:\n  - web1\nssh:\n  user: deploy\n  proxy: \"bad proxy;x\"\n  config: config/ssh_config\n"
	given := map[string]string{"service": "app", "host": "web1", "ssh-user": "deploy"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range given {
			m[k] = v
		}
		return m
	}
	t.Run("refused without the jump host", func(t *testing.T) {
		for _, need := range []Need{{Service: true, PrimaryHost: true}, {Hosts: true}} {
			s, err := Resolve(Inputs{RepoDir: deployRepo(t, yml), Flags: given}, need)
			if err == nil {
				t.Fatalf("Resolve(%+v) = %+v (proxy %q), want a refusal", need, s, s.SSHProxy)
			}
			want := []string{
				"; so its ssh: settings (user, port, proxy, proxy_command, config, keys) cannot be applied",
				"hookshim: hint: fix config/deploy.yml, or pass the values with flags (--service, --host, --ssh-user, --ssh-port)",
				"hookshim: hint: or say how to connect without it: pass --ssh-proxy [USER@]HOST, or --ssh-proxy none to connect directly (or set HOOKSHIM_SSH_PROXY)",
			}
			lines := strings.Split(strings.TrimSuffix(report(err), "\n"), "\n")
			if !strings.HasPrefix(lines[0], `hookshim: error: config/deploy.yml:6: ssh.proxy: "bad proxy;x"`) ||
				!strings.HasSuffix(lines[0], want[0]) || !reflect.DeepEqual(lines[1:], want[1:]) {
				t.Errorf("got\n%s\nwant the file's line ending %q, then\n%s", strings.Join(lines, "\n"), want[0], strings.Join(want[1:], "\n"))
			}
			if exitcode.Code(err) != exitcode.Config {
				t.Errorf("exit status %d, want %d", exitcode.Code(err), exitcode.Config)
			}
		}
	})
	t.Run("the hint asks for the SSH user too when none is given", func(t *testing.T) {
		_, err := Resolve(Inputs{RepoDir: deployRepo(t, yml), Flags: map[string]string{"host": "web1"}}, Need{Hosts: true})
		if !strings.Contains(report(err), "to connect directly (or set HOOKSHIM_SSH_PROXY), and --ssh-user USER (or set HOOKSHIM_SSH_USER)\n") {
			t.Errorf("got\n%s", report(err))
		}
	})
	for _, tc := range []struct {
		name     string
		flags    map[string]string
		env      map[string]string
		proxy    string
		proxySrc string
	}{
		{"--ssh-proxy none", with("ssh-proxy", "none"), nil, "", "--ssh-proxy"},
		{"--ssh-proxy HOST", with("ssh-proxy", "me@jump"), nil, "me@jump", "--ssh-proxy"},
		{"HOOKSHIM_SSH_PROXY", given, map[string]string{"HOOKSHIM_SSH_PROXY": "jump:2222"}, "jump:2222", "HOOKSHIM_SSH_PROXY"},
	} {
		t.Run("accepted with "+tc.name, func(t *testing.T) {
			s, err := Resolve(Inputs{RepoDir: deployRepo(t, yml), Flags: tc.flags, Env: envOf(tc.env)}, Need{Service: true, PrimaryHost: true})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if s.SSHProxy != tc.proxy || s.Sources["ssh_proxy"] != tc.proxySrc || s.SSHUser != "deploy" || s.DeployFileErr == nil || len(s.SSHConfigFiles) != 0 {
				t.Errorf("got %+v", s)
			}
		})
	}
	t.Run("no SSH, no refusal", func(t *testing.T) {
		s, err := Resolve(Inputs{RepoDir: deployRepo(t, yml), Flags: map[string]string{"service": "app"}}, Need{Service: true, HooksDir: true})
		if err != nil || s.Service != "app" {
			t.Errorf("Resolve = %+v, %v", s, err)
		}
	})
	t.Run("a file Load reads, with ERB in ssh:, is not refused as a whole", func(t *testing.T) {
		s, err := Resolve(Inputs{RepoDir: deployRepo(t, "service: app\nservers: [web1]\nssh:\n  user: deploy\n  keys: [<%= ENV['KEY'] %>]\n")}, Need{Service: true, PrimaryHost: true})
		if err != nil || s.SSHUser != "deploy" || s.PrimaryHost != "web1" {
			t.Errorf("Resolve = %+v, %v", s, err)
		}
	})
}
