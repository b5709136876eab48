package lockfile

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The .sh files hold numbers that must agree with the Go side: the read limit,
// the scan header and the exit statuses. Each script is valid sh as it stands.
func TestScriptsAgreeWithGo(t *testing.T) {
	limit := strconv.Itoa(MaxDetailsSize + 1)
	for _, want := range []string{"bs=" + limit + " ", "head -c " + limit + " "} {
		if !strings.Contains(readDetailsFn, want) {
			t.Errorf("readdetails.sh lacks %q (MaxDetailsSize+1)", want)
		}
	}
	if n := strings.Count(scanScript, scanHeaderLine); n != 1 {
		t.Errorf("the scan script holds the header %q %d times, want 1", scanHeaderLine, n)
	}
	if !strings.Contains(acquireMain, "\n    exit "+strconv.Itoa(statusHeld)+"\n") {
		t.Errorf("acquire.sh does not exit %d (statusHeld) when the lock is held", statusHeld)
	}
	for _, want := range []string{"|| exit " + strconv.Itoa(statusGone) + "\n", "|| exit " + strconv.Itoa(statusNotOurs) + "\n"} {
		if !strings.Contains(releaseMain, want) {
			t.Errorf("release.sh lacks %q", want)
		}
	}
	for name, script := range map[string]string{"scan": scanScript, "acquire": acquireScript, "release": releaseScript} {
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
