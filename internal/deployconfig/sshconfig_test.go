package deployconfig

import (
	"reflect"
	"strings"
	"testing"
)

// `ssh: config:` takes true, false, a file or a list of files, as Kamal 2.12
// documents (lib/kamal/configuration/docs/ssh.yml); `key_data:` is noticed.
func TestLoadSSHConfig(t *testing.T) {
	for _, tc := range []struct {
		yml   string
		files []string
		none  bool
	}{
		{"", nil, false},
		{"config: true", nil, false},
		{"config: yes", nil, false},
		{"config: false", nil, true},
		{"config: off", nil, true},
		{"config: ~/.ssh/kamal_config", []string{"~/.ssh/kamal_config"}, false},
		{"config: [a, /etc/b]", []string{"a", "/etc/b"}, false},
		{"config: []", nil, true},
	} {
		f := mustLoad(t, deployRepo(t, "service: app\nservers: [h1]\nssh:\n  user: u\n  "+tc.yml+"\n"), "")
		if !reflect.DeepEqual(f.SSHConfigFiles, tc.files) || f.SSHConfigNone != tc.none {
			t.Errorf("%q: files %q none %v; want %q %v", tc.yml, f.SSHConfigFiles, f.SSHConfigNone, tc.files, tc.none)
		}
		if f.SSHKeyData {
			t.Errorf("%q: key_data seen", tc.yml)
		}
	}
	f := mustLoad(t, deployRepo(t, "service: app\nservers: [h1]\nssh:\n  key_data: [SSH_PRIVATE_KEY]\n"), "")
	if !f.SSHKeyData {
		t.Error("key_data not seen")
	}
	for _, bad := range []string{"config: {a: b}", "config: [[a]]", "config: 5"} {
		_, err := Load(deployRepo(t, "service: app\nservers: [h1]\nssh:\n  "+bad+"\n"), "")
		if err == nil || !strings.Contains(err.Error(), "ssh.config") {
			t.Errorf("%q: got %v, want an error naming ssh.config", bad, err)
		}
	}
}
