package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	const rev = "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"
	vcs := func(mod string, modified string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: mod}}
		bi.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
		return bi
	}
	for _, tc := range []struct {
		name, stamped string
		bi            *debug.BuildInfo
		want          string
	}{
		{"release", "1.4.0", vcs("(devel)", "false"), "1.4.0"},
		{"go install @version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"go build, clean", "dev", vcs("(devel)", "false"), "dev (commit 1a2b3c4d5e6f)"},
		{"go build, modified", "dev", vcs("v0.0.0-20261130224653-1a2b3c4d5e6f+dirty", "true"), "dev (commit 1a2b3c4d5e6f, modified)"},
		{"go build at a tag", "dev", vcs("v1.2.3", "false"), "v1.2.3 (commit 1a2b3c4d5e6f)"},
		{"nothing known", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		if got := versionString(tc.stamped, tc.bi, true); got != tc.want {
			t.Errorf("%s: versionString = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionOfGoBuild builds hookshim with `go build` in a git checkout of
// this tree (a fresh one: Go records no VCS data in a git worktree) and
// checks that `hookshim version` and `hookshim --version` print the same
// line, naming the commit.
func TestVersionOfGoBuild(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	files, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		} else if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(dir, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(src, "git", "init", "-q")
	run(src, "git", "add", "-A")
	run(src, "git", "commit", "-q", "-m", "snapshot")
	head := strings.TrimSpace(run(src, "git", "rev-parse", "HEAD"))
	bin := filepath.Join(t.TempDir(), "hookshim")
	run(src, "go", "build", "-o", bin, ".")
	want := "hookshim dev (commit " + head[:12] + ")\n"
	if got := run(src, bin, "version"); got != want {
		t.Errorf("hookshim version = %q, want %q", got, want)
	}
	if got := run(src, bin, "--version"); got != want {
		t.Errorf("hookshim --version = %q, want %q", got, want)
	}
}
