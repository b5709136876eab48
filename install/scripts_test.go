package install

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The .sh files spell out what the Go side names: the binary's name, the
// temporary files' prefix and pushScript's exit statuses. Each script is valid
// sh as it stands.
func TestScriptsAgreeWithGo(t *testing.T) {
	for name, script := range map[string]string{"probe.sh": probeScript, "push.sh": pushScript} {
		for _, want := range []string{`f="$d/` + BinaryName + `"`, `mktemp "$d/` + tempPrefix + `XXXXXXXX"`} {
			if !strings.Contains(script, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	for _, want := range []string{
		"exit " + strconv.Itoa(pushInterrupt) + "' HUP",
		"fail " + strconv.Itoa(pushNoDir) + " ", "fail " + strconv.Itoa(pushNotFile) + " ",
		"fail " + strconv.Itoa(pushNoTemp) + " ", "fail " + strconv.Itoa(pushShort) + " ",
		"fail " + strconv.Itoa(pushNoSum) + " ", "fail " + strconv.Itoa(pushMismatch) + " ",
		"fail " + strconv.Itoa(pushNoRename) + " ",
	} {
		if !strings.Contains(pushScript, want) {
			t.Errorf("push.sh lacks %q", want)
		}
	}
	for name, script := range map[string]string{"probe": probeScript, "push": pushScript, "sudo": sudoScript} {
		for _, sh := range []string{"sh", "dash"} {
			if _, err := exec.LookPath(sh); err != nil {
				continue
			}
			if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
				t.Errorf("%s -n: the %s script: %v\n%s", sh, name, err, out)
			}
		}
	}
}
