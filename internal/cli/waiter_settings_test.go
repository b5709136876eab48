package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/jobs"
)

// TestDeferredWaiterRunsTheRecordedSettings: a deferred hook's waiter is
// started with a command line that only names the job (what ps shows); what
// `hookshim run` resolved (hook, `--` command, flags) is in the job's record,
// and the waiter runs the hook with it.
func TestDeferredWaiterRunsTheRecordedSettings(t *testing.T) {
	w := dtNewWorld(t, false, false)
	w.lock(".kamal/lock-app", "Kai Kamal")
	code, _, stderr := w.hookshim([]string{"KAMAL_LOCK=true"}, w.cmd("run", "--service", "app", "--policy", "defer", "--poll", "50ms", "post-deploy", "--", "sh", "-c", `echo ran >> "$RUNS"`)...)
	if code != 0 {
		t.Fatalf("hookshim run: exit %d\n%s", code, stderr)
	}
	j := w.newest()
	argv := processArgs(t, j.WaiterPID)
	want := []string{"waiter", "--job", j.ID, "--ready-fd", strconv.Itoa(jobs.ReadyFD), "--state-dir", w.state}
	if len(argv) < 1 || !slices.Equal(argv[1:], want) {
		t.Errorf("the waiter's command line is %q, want hookshim %q", argv, want)
	}
	var s storedRun
	if err := json.Unmarshal(j.Settings, &s); err != nil {
		t.Fatalf("the job record's settings: %v\n%s", err, j.Settings)
	}
	if s.Version != storedRunVersion || s.Run.Hook != "post-deploy" || !slices.Equal(s.Run.Command, []string{"sh", "-c", `echo ran >> "$RUNS"`}) ||
		s.Run.Where.Flags["service"] != "app" || s.Run.Policy != "defer" || s.Run.Poll.String() != "50ms" {
		t.Errorf("the job record's settings are %s", j.Settings)
	}
	w.release(".kamal/lock-app")
	if end := w.follow(j); end.State != jobs.Succeeded || w.runCount() != 1 {
		t.Fatalf("job ended %s, hook ran %d times", end.State, w.runCount())
	}
}

// processArgs is the command line of process pid.
func processArgs(t *testing.T, pid int) []string {
	t.Helper()
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	}
	out, err := exec.Command("ps", "-o", "args=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatalf("the command line of process %d: %v", pid, err)
	}
	return strings.Fields(string(bytes.TrimSpace(out)))
}

// A waiter reads the settings a newer hookshim added (encoding/json skips
// what it does not know) and refuses, exit 65, settings of another version
// or none at all, rather than run the hook with half of them.
func TestStoredRunVersions(t *testing.T) {
	b, err := storeRun(runOptions{Hook: "post-deploy", Command: []string{"true"}, Policy: "defer"})
	if err != nil {
		t.Fatal(err)
	}
	newer := bytes.Replace(b, []byte(`"version":1`), []byte(`"version":1,"added_later":{"x":1}`), 1)
	if o, err := loadRun(jobs.Job{ID: "j", Settings: newer}); err != nil || o.Hook != "post-deploy" || !slices.Equal(o.Command, []string{"true"}) {
		t.Errorf("settings with a field added later: %+v, %v", o, err)
	}
	other := bytes.Replace(b, []byte(`"version":1`), []byte(`"version":2`), 1)
	for name, settings := range map[string][]byte{"version 2": other, "none": nil, "not JSON": []byte(`{"version":`)} {
		if _, err := loadRun(jobs.Job{ID: "j", Settings: settings}); exitcode.Code(err) != exitcode.DataErr {
			t.Errorf("settings %s: %v, want exit %d", name, err, exitcode.DataErr)
		}
	}
}
