package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

// goTool finds the go command that runs this test.
func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no go command to cross-build with")
	}
	return p
}

// The release build the README documents gives static Linux binaries for
// amd64 and arm64, and one install provisions a mixed fleet with them: each
// host gets the binary built for it.
func TestReleaseCrossBuildProvisionsMixedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles hookshim twice")
	}
	goCmd := goTool(t)
	dist := t.TempDir()
	var bins []BinaryFile
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dist, "hookshim-linux-"+arch)
		// The README's command, with the version left out.
		cmd := exec.Command(goCmd, "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", out, "github.com/hookshim/hookshim")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cross-building for linux/%s: %v\n%s", arch, err, b)
		}
		plat, err := BinaryPlatform(out)
		if want := (Platform{"linux", arch}); err != nil || plat != want {
			t.Fatalf("%s: platform %v, %v; want %v", out, plat, err, want)
		}
		if static, err := Static(out); err != nil || !static {
			t.Errorf("%s is not static (%v)", out, err)
		}
		bins = append(bins, BinaryFile{Path: out, Platform: plat})
	}

	m, other := otherMachine()
	fake := hostBin(t, map[string]string{"uname": "echo 'Linux " + m + "'\n"})
	native := sshtest.Start(t, sshtest.Options{})
	foreign := sshtest.Start(t, sshtest.Options{HostBin: fake})
	for _, h := range []*sshtest.Host{native, foreign} {
		os.Mkdir(filepath.Join(h.Home, "bin"), 0o755)
	}
	// Two hosts from separate sshtest.Start calls have separate client configs:
	// push to each with its own client, the same binaries.
	for _, c := range []struct {
		h    *sshtest.Host
		want Platform
	}{{native, here}, {foreign, other}} {
		r := Remote{Client: c.h.Client, Binaries: bins, Dir: "~/bin"}
		res := r.Push(testContext(t), []sshx.Target{c.h.Target}, nil)[0]
		if res.Err != nil || !res.Changed || res.Platform != c.want {
			t.Fatalf("%s: %+v", c.h.Target, res)
		}
		want := filepath.Join(filepath.Dir(bins[0].Path), "hookshim-"+c.want.OS+"-"+c.want.Arch)
		if res.Binary != want {
			t.Errorf("%s (%s) got %s, want %s", c.h.Target, c.want, res.Binary, want)
		}
		b, _ := os.ReadFile(want)
		wantFile(t, filepath.Join(c.h.Home, "bin", "hookshim"), b, 0o755)
	}
}
