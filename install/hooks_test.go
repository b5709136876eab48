package install

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// userHook is a hook with bytes a careless copy would damage: no trailing
// newline, CRLF, a NUL, invalid UTF-8.
var userHook = []byte("#!/bin/sh\r\necho 'my own hook'\x00\xff\xfe tail")

func TestHooksFreshInstallThenNothing(t *testing.T) {
	dir := t.TempDir()
	res, err := InstallHooks(Hooks{Dir: dir, Policy: "hold"})
	if err != nil {
		t.Fatal(err)
	}
	stub := filepath.Join(dir, "post-deploy")
	if len(res) != 1 || res[0].Action != StubWritten || res[0].Path != stub {
		t.Fatalf("results %+v", res)
	}
	if want := "post-deploy: installed stub " + stub + "; put your post-deploy scripts in " + stub + ".d/"; res[0].String() != want {
		t.Errorf("line %q, want %q", res[0], want)
	}
	wantFile(t, stub, Stub("post-deploy", "hold"), 0o755)
	if fi, err := os.Stat(stub + ".d"); err != nil || !fi.IsDir() {
		t.Errorf("post-deploy.d/ not made: %v", err)
	}
	if tmp := temps(t, dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	before := listing(t, dir)
	m := mtime(t, stub)
	res, err = InstallHooks(Hooks{Dir: dir, Policy: "hold"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Action != StubUnchanged {
		t.Fatalf("second run: %+v", res)
	}
	if want := "post-deploy: stub " + stub + " already in place; nothing to do"; res[0].String() != want {
		t.Errorf("line %q, want %q", res[0], want)
	}
	if listing(t, dir) != before || !mtime(t, stub).Equal(m) {
		t.Error("the second run changed the hooks directory")
	}
}

func TestHooksUserHookMovedKeptAndRestored(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "post-deploy")
	writeFile(t, hook, userHook, 0o750)
	writeFile(t, filepath.Join(dir, "pre-build"), []byte("#!/bin/sh\n"), 0o700)
	original := listing(t, dir)

	res, err := InstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy", "pre-deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "post-deploy.d", "post-deploy")
	if len(res) != 2 || res[0].Action != StubMovedHook || res[1].Action != StubWritten {
		t.Fatalf("results %+v", res)
	}
	if want := "post-deploy: installed stub " + hook + "; your hook moved to " + moved; res[0].String() != want {
		t.Errorf("line %q, want %q", res[0], want)
	}
	wantFile(t, moved, userHook, 0o750)
	wantFile(t, hook, Stub("post-deploy", ""), 0o755)
	wantFile(t, filepath.Join(dir, "pre-build"), []byte("#!/bin/sh\n"), 0o700)

	// Twice: nothing changes, the moved hook is not touched.
	installed := listing(t, dir)
	res, err = InstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy", "pre-deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != StubUnchanged || res[1].Action != StubUnchanged {
		t.Errorf("second run: %+v", res)
	}
	if listing(t, dir) != installed {
		t.Error("the second run changed the hooks directory")
	}

	res, err = UninstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy", "pre-deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Action != HookRestored || res[1].Action != StubRemoved {
		t.Fatalf("uninstall: %+v", res)
	}
	if want := "post-deploy: removed stub; your hook is back at " + hook; res[0].String() != want {
		t.Errorf("line %q, want %q", res[0], want)
	}
	wantFile(t, hook, userHook, 0o750)
	if got := listing(t, dir); got != original {
		t.Errorf("after uninstall:\n%s\nwant the original:\n%s", got, original)
	}

	// Uninstalling again touches nothing.
	res, err = UninstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy", "pre-deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != NoStub || res[1].Action != NoStub {
		t.Errorf("second uninstall: %+v", res)
	}
	if want := "post-deploy: no hookshim stub at " + hook + "; nothing to do"; res[0].String() != want {
		t.Errorf("line %q, want %q", res[0], want)
	}
	if got := listing(t, dir); got != original {
		t.Errorf("after a second uninstall:\n%s", got)
	}
}

func TestHooksAllAndPolicyUpdate(t *testing.T) {
	dir := t.TempDir()
	res, err := InstallHooks(Hooks{Dir: dir, Names: KamalHooks, Policy: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(KamalHooks) {
		t.Fatalf("%d results, want %d", len(res), len(KamalHooks))
	}
	for _, h := range KamalHooks {
		wantFile(t, filepath.Join(dir, h), Stub(h, "auto"), 0o755)
	}
	// Another policy rewrites hookshim's own stubs, and only them.
	res, err = InstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy", "post-deploy"}, Policy: "defer"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Action != StubUpdated {
		t.Fatalf("results %+v", res)
	}
	wantFile(t, filepath.Join(dir, "post-deploy"), Stub("post-deploy", "defer"), 0o755)
	wantFile(t, filepath.Join(dir, "pre-deploy"), Stub("pre-deploy", "auto"), 0o755)
	// A stub whose mode was lost is made executable again.
	os.Chmod(filepath.Join(dir, "pre-deploy"), 0o644)
	res, err = InstallHooks(Hooks{Dir: dir, Names: []string{"pre-deploy"}, Policy: "auto"})
	if err != nil || res[0].Action != StubUpdated {
		t.Fatalf("results %+v, %v", res, err)
	}
	wantFile(t, filepath.Join(dir, "pre-deploy"), Stub("pre-deploy", "auto"), 0o755)
}

// The stub execs `hookshim run` from PATH with the hook's arguments, or says
// how to get hookshim and exits 127.
func TestStubRuns(t *testing.T) {
	dir := t.TempDir()
	if _, err := InstallHooks(Hooks{Dir: dir, Policy: "hold"}); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "hookshim"), []byte("#!/bin/sh\nprintf '%s|' \"$@\"\n"), 0o755)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(filepath.Join(dir, "post-deploy"), "a b", "c")
	cmd.Env = []string{"PATH=" + bin + ":" + filepath.Dir(sh)}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stub: %v: %s", err, out)
	}
	if want := "run|--policy|hold|post-deploy|a b|c|"; string(out) != want {
		t.Errorf("stub ran %q, want %q", out, want)
	}

	cmd = exec.Command(filepath.Join(dir, "post-deploy"))
	cmd.Env = []string{"PATH=" + t.TempDir() + ":" + filepath.Dir(sh)}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 {
		t.Errorf("stub without hookshim: %v, want exit status 127", err)
	}
	for _, want := range []string{"hookshim: not found on PATH", "'" + readmeInstall(t) + "'", "hookshim install"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stub's message %q does not say %q", stderr.String(), want)
		}
	}
}

func TestHooksRefusedChangeNothing(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"symlink", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "real"), userHook, 0o755)
			os.Symlink("real", filepath.Join(dir, "post-deploy"))
		}, "post-deploy is a symlink (to real); hookshim does not move links"},
		{"directory", func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, "post-deploy"), 0o755)
		}, "post-deploy is a directory, not a hook"},
		{"hook.d is a file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "post-deploy.d"), []byte("x"), 0o644)
		}, "post-deploy.d exists and is not a directory"},
		{"clash in hook.d", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "post-deploy"), userHook, 0o755)
			os.Mkdir(filepath.Join(dir, "post-deploy.d"), 0o755)
			writeFile(t, filepath.Join(dir, "post-deploy.d", "post-deploy"), []byte("another"), 0o755)
		}, "already exists and differs; hookshim will not overwrite it"},
		{"same bytes, other mode in hook.d", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "post-deploy"), userHook, 0o755)
			os.Mkdir(filepath.Join(dir, "post-deploy.d"), 0o755)
			writeFile(t, filepath.Join(dir, "post-deploy.d", "post-deploy"), userHook, 0o700)
		}, "already exists and differs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			before := listing(t, dir)
			// pre-deploy is fine on its own, but is not installed either.
			res, err := InstallHooks(Hooks{Dir: dir, Names: []string{"pre-deploy", "post-deploy"}})
			wantCode(t, err, exitcode.CantCreate, c.want, "nothing was installed")
			if len(res) != 0 {
				t.Errorf("results %+v", res)
			}
			if got := listing(t, dir); got != before {
				t.Errorf("the directory changed:\n%s\nwas:\n%s", got, before)
			}
		})
	}
}

// Every refused hook is named at once.
func TestHooksAllRefusalsReported(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "pre-deploy"), 0o755)
	os.Symlink("x", filepath.Join(dir, "post-deploy"))
	_, err := InstallHooks(Hooks{Dir: dir, Names: []string{"pre-deploy", "post-deploy"}})
	wantCode(t, err, exitcode.CantCreate, "pre-deploy: ", "is a directory", "; post-deploy: ", "is a symlink")
}

// An install interrupted after the user's hook got its second name in HOOK.d/
// (same inode) but before the stub replaced it is finished by a rerun.
func TestHooksInterruptedInstallFinishes(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "post-deploy")
	writeFile(t, hook, userHook, 0o750)
	os.Mkdir(hook+".d", 0o755)
	if err := os.Link(hook, filepath.Join(hook+".d", "post-deploy")); err != nil {
		t.Fatal(err)
	}
	res, err := InstallHooks(Hooks{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != StubMovedHook {
		t.Errorf("results %+v", res)
	}
	wantFile(t, hook, Stub("post-deploy", ""), 0o755)
	wantFile(t, filepath.Join(hook+".d", "post-deploy"), userHook, 0o750)

	// And uninstall after an install interrupted the other way round (stub
	// gone, hook only in HOOK.d/) puts the hook back.
	os.Remove(hook)
	res, err = UninstallHooks(Hooks{Dir: dir})
	if err != nil || res[0].Action != HookRestored {
		t.Fatalf("uninstall: %+v, %v", res, err)
	}
	wantFile(t, hook, userHook, 0o750)
}

func TestUninstallLeavesOtherScriptsAndUserHooks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pre-deploy"), userHook, 0o755) // the user's, never installed
	if _, err := InstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy"}}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "post-deploy.d", "10-migrate"), []byte("#!/bin/sh\n"), 0o755)
	writeFile(t, filepath.Join(dir, "post-deploy.d", "20-notify"), []byte("#!/bin/sh\n"), 0o755)
	res, err := UninstallHooks(Hooks{Dir: dir, Names: []string{"post-deploy", "pre-deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != StubRemoved || res[0].Left != 2 || res[1].Action != NoStub {
		t.Fatalf("results %+v", res)
	}
	if want := "(2 files left in " + filepath.Join(dir, "post-deploy.d") + "/, which Kamal does not run)"; !strings.HasSuffix(res[0].String(), want) {
		t.Errorf("line %q, want it to end with %q", res[0], want)
	}
	if _, err := os.Lstat(filepath.Join(dir, "post-deploy")); !os.IsNotExist(err) {
		t.Error("the stub is still there")
	}
	wantFile(t, filepath.Join(dir, "post-deploy.d", "10-migrate"), []byte("#!/bin/sh\n"), 0o755)
	wantFile(t, filepath.Join(dir, "pre-deploy"), userHook, 0o755)
}

func TestHooksBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"), 0o644)
	before := listing(t, dir)
	for _, name := range []string{"", "..", "../post-deploy", "a/b", "post deploy", "-x", "x;rm", "pré", strings.Repeat("a", 129)} {
		_, err := InstallHooks(Hooks{Dir: dir, Names: []string{name}})
		wantCode(t, err, exitcode.Usage)
		_, err = UninstallHooks(Hooks{Dir: dir, Names: []string{name}})
		wantCode(t, err, exitcode.Usage)
	}
	_, err := InstallHooks(Hooks{Dir: dir, Policy: "yolo"})
	wantCode(t, err, exitcode.Usage, `--policy "yolo" is not a policy`)

	missing := filepath.Join(dir, "nope")
	_, err = InstallHooks(Hooks{Dir: missing})
	wantCode(t, err, exitcode.NoInput, "hooks directory "+missing+" does not exist")
	_, err = UninstallHooks(Hooks{Dir: missing})
	wantCode(t, err, exitcode.NoInput, "does not exist")
	_, err = InstallHooks(Hooks{Dir: file})
	wantCode(t, err, exitcode.NoInput, "is not a directory")
	_, err = InstallHooks(Hooks{Dir: filepath.Join(file, "hooks")})
	wantCode(t, err, exitcode.NoInput, "does not exist")
	if got := listing(t, dir); got != before {
		t.Errorf("something was written:\n%s", got)
	}
}

func TestHooksReadOnlyDirChangesNothing(t *testing.T) {
	dir := mountTmpfs(t, "1m", true, func(dir string) {
		writeFile(t, filepath.Join(dir, "post-deploy"), userHook, 0o755)
	})
	before := listing(t, dir)
	_, err := InstallHooks(Hooks{Dir: dir, Names: []string{"pre-deploy", "post-deploy"}})
	wantCode(t, err, exitcode.CantCreate, "read-only file system", "nothing was installed")
	if listing(t, dir) != before {
		t.Error("the directory changed")
	}
}

func TestHooksNoPermission(t *testing.T) {
	if asNobody(t) { // root ignores permission bits
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	_, err := InstallHooks(Hooks{Dir: dir})
	wantCode(t, err, exitcode.NoPerm, "permission denied")
}

// Where hard links are not possible (HOOK.d/ on another file system), the
// user's hook is copied with its bytes and mode.
func TestHooksMoveAcrossFileSystems(t *testing.T) {
	other := mountTmpfs(t, "1m", false, nil)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "post-deploy"), userHook, 0o741)
	if err := os.Symlink(other, filepath.Join(dir, "post-deploy.d")); err != nil {
		t.Fatal(err)
	}
	res, err := InstallHooks(Hooks{Dir: dir})
	if err != nil || res[0].Action != StubMovedHook {
		t.Fatalf("%+v, %v", res, err)
	}
	wantFile(t, filepath.Join(other, "post-deploy"), userHook, 0o741)
	wantFile(t, filepath.Join(dir, "post-deploy"), Stub("post-deploy", ""), 0o755)
	res, err = UninstallHooks(Hooks{Dir: dir})
	if err != nil || res[0].Action != HookRestored {
		t.Fatalf("uninstall: %+v, %v", res, err)
	}
	wantFile(t, filepath.Join(dir, "post-deploy"), userHook, 0o741)
	if _, err := os.Lstat(filepath.Join(other, "post-deploy")); !os.IsNotExist(err) {
		t.Error("the copy in post-deploy.d/ is still there")
	}
	if tmp := temps(t, dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// readmeInstall is README's install command (its "## Install" section's
// `go install` line, without the comment), which the stub's message must
// give exactly: a plain `go install` builds a binary without the release's
// flags (CGO_ENABLED=0 for a static binary, -tags urfave_cli_no_docs).
func readmeInstall(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Install\n")
	for _, line := range strings.Split(section, "\n") {
		if cmd, _, _ := strings.Cut(line, "#"); strings.Contains(cmd, " go install ") {
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatal("README.md: no go install line under ## Install")
	return ""
}
