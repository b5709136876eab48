package cli

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookshim/hookshim/internal/settings"
	"github.com/hookshim/hookshim/internal/sshx"
)

// What deploy.yml's ssh: section tells Kamal reaches the ssh command line, so
// hookshim gets to the hosts the way Kamal does.
func TestSSHClientFollowsDeployYML(t *testing.T) {
	p := Process{}
	// The file must exist: sshClient refuses one that does not (checkSSHConfig).
	config := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(config, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o := sshOptions{Config: config}
	s := &settings.Settings{
		SSHProxy:        "root@bastion",
		SSHProxyCommand: "ssh -W %h:%p jump.example.invalid",
		SSHKeys:         []string{"~/.ssh/deploy_ed25519", "/keys/second"},
		SSHKeysOnly:     true,
	}
	client, err := sshClient(p, zerolog.Nop(), o, s)
	if err != nil {
		t.Fatal(err)
	}
	args := client.Args(sshx.Target{Host: "web1", User: "deploy"}, "true")
	for _, want := range [][]string{
		{"-J", "root@bastion"},
		{"-o", "ProxyCommand=ssh -W %h:%p jump.example.invalid"},
		{"-o", "IdentityFile=~/.ssh/deploy_ed25519"},
		{"-o", "IdentityFile=/keys/second"},
		{"-o", "IdentitiesOnly=yes"},
		{"-F", config},
		{"-o", "BatchMode=yes"},
	} {
		if !containsPair(args, want) {
			t.Errorf("ssh argv lacks %q: %q", want, args)
		}
	}
	// Without deploy.yml settings: none of them.
	bareClient, err := sshClient(Process{}, zerolog.Nop(), sshOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bare := bareClient.Args(sshx.Target{Host: "web1"}, "true")
	for _, a := range bare {
		if a == "-J" || a == "IdentitiesOnly=yes" {
			t.Errorf("unexpected %q in %q", a, bare)
		}
	}
}

func containsPair(args, pair []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if slices.Equal(args[i:i+2], pair) {
			return true
		}
	}
	return false
}
