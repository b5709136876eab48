package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The recursion guard stops only what recurses: a nested kamal running the
// same hook of the same service and destination from the same hooks
// directory. App A's post-deploy that runs app B's wrapped post-deploy runs
// B's hook; A's post-deploy run again inside itself is skipped, and the skip
// is said on stderr, with what matched, at the default log level.
func TestFaultNestedHookOfAnotherService(t *testing.T) {
	base := t.TempDir()
	ev := newEvents(t, base)
	lockHome := filepath.Join(base, "lockhome")
	repoA, repoB := filepath.Join(base, "a"), filepath.Join(base, "b")
	if err := os.Mkdir(lockHome, 0o755); err != nil {
		t.Fatal(err)
	}
	writeExe(t, filepath.Join(repoB, ".kamal/hooks/post-deploy.d/10-b"), `#!/bin/sh
echo "b ran" > "$EVENTS"
`)
	writeExe(t, filepath.Join(repoA, ".kamal/hooks/post-deploy.d/10-a"), `#!/bin/sh
echo "a ran" > "$EVENTS"
cd "$REPO_B" && hookshim run --service b --root "$LOCKHOME" post-deploy 2>"$REPO_B.err"
echo "b exit $?" > "$EVENTS"
cd "$REPO_A" && hookshim run --service a --root "$LOCKHOME" post-deploy 2>"$REPO_A.err"
echo "a again exit $?" > "$EVENTS"
`)
	var env []string
	for _, kv := range faultEnv(filepath.Join(base, "home"), "EVENTS="+ev.Path, "LOCKHOME="+lockHome, "REPO_A="+repoA, "REPO_B="+repoB) {
		if !strings.HasPrefix(kv, "HOOKSHIM_LOG_LEVEL=") { // the default level
			env = append(env, kv)
		}
	}
	code, _, stderr := runHookshim(t, repoA, env, "run", "--service", "a", "--root", lockHome, "post-deploy")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	got := strings.Join(ev.drain(), "\n")
	want := "a ran\nb ran\nb exit 0\na again exit 0"
	if got != want {
		t.Fatalf("hooks ran:\n%s\nwant:\n%s", got, want)
	}
	inner, err := os.ReadFile(repoA + ".err")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(inner), "post-deploy: skipped: post-deploy of service a from "+repoA+"/.kamal/hooks is already running in an enclosing hookshim run") {
		t.Fatalf("the skipped hook was not said on stderr; it says:\n%s", inner)
	}
	assertNoLocks(t, repoA, env, "--root", lockHome)
}
