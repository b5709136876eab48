package deployconfig

import (
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
)

// A host is checked with the rule the SSH target is built with, wherever it
// comes from: deploy.yml, KAMAL_HOSTS, --host. A host ssh could not be given
// is refused when the settings are read, not later when hookshim connects.
func TestHostRuleIsTheSSHTargetRule(t *testing.T) {
	for _, h := range []string{
		"web1", "deploy@web1:2222", "127.0.0.1", "[::1]", "fe80::1%eth0", "h_1",
		"web1:99999", "a@b@c", "h:1:2", "[example.com]:22", "%", "@h", "h:",
		strings.Repeat("h", 256),
	} {
		_, perr := sshx.ParseTarget(h)
		if verr := ValidateHost(h); (verr == nil) != (perr == nil) {
			t.Errorf("host %q: ValidateHost says %v, sshx.ParseTarget says %v", h, verr, perr)
		}
		_, lerr := Load(deployRepo(t, "servers: ['"+h+"']\n"), "")
		if (lerr == nil) != (perr == nil) {
			t.Errorf("servers: [%q]: Load says %v, sshx.ParseTarget says %v", h, lerr, perr)
		}
		_, rerr := Resolve(Inputs{RepoDir: t.TempDir(), Env: envOf(map[string]string{"KAMAL_HOSTS": h})}, Need{PrimaryHost: true})
		if (rerr == nil) != (perr == nil) || rerr != nil && exitcode.Code(rerr) != exitcode.Usage {
			t.Errorf("KAMAL_HOSTS=%q: Resolve says %v, sshx.ParseTarget says %v", h, rerr, perr)
		}
	}
	_, err := Load(deployRepo(t, "servers: ['web1:99999']\n"), "")
	if err == nil || !strings.Contains(err.Error(), `servers[0]: "web1:99999" is not a valid host: port "99999" is not a number from 1 to 65535`) {
		t.Errorf("err = %v", err)
	}
}
