package deployconfig

import (
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/sshx"
)

// A host is checked with the rule the SSH target is built with, in deploy.yml
// as in KAMAL_HOSTS and --host (settings' TestHostRuleIsTheSSHTargetRule). A
// host ssh could not be given is refused when the file is read, not later when
// hookshim connects.
func TestHostRuleIsTheSSHTargetRule(t *testing.T) {
	for _, h := range []string{
		"web1", "deploy@web1:2222", "127.0.0.1", "[::1]", "fe80::1%eth0", "h_1",
		"web1:99999", "a@b@c", "h:1:2", "[example.com]:22", "%", "@h", "h:",
		strings.Repeat("h", 256),
	} {
		_, perr := sshx.ParseTarget(h)
		if prob := HostProblem(h); (prob == "") != (perr == nil) {
			t.Errorf("host %q: HostProblem says %q, sshx.ParseTarget says %v", h, prob, perr)
		}
		_, lerr := Load(deployRepo(t, "servers: ['"+h+"']\n"), "")
		if (lerr == nil) != (perr == nil) {
			t.Errorf("servers: [%q]: Load says %v, sshx.ParseTarget says %v", h, lerr, perr)
		}
	}
	_, err := Load(deployRepo(t, "servers: ['web1:99999']\n"), "")
	if err == nil || !strings.Contains(err.Error(), `servers[0]: "web1:99999" is not a valid host: port "99999" is not a number from 1 to 65535`) {
		t.Errorf("err = %v", err)
	}
}
