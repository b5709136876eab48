package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// HOOKSHIM_RELEASE_ALL=1 builds every target (four cross-builds), as a real
// release does; by default only linux/amd64, to keep CI's time.
func testTargets() []string {
	if os.Getenv("HOOKSHIM_RELEASE_ALL") == "1" {
		return allTargets
	}
	return []string{"linux/amd64"}
}

// need fails the test when a tool it checks the packages with is missing
// (test.sh installs them: dpkg, rpm).
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: install it (./test.sh does: apt-get install dpkg rpm)", tool)
		}
	}
}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readDir maps every file name in dir to its content.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

// go run ./release, twice: the same files byte for byte, with SHA256SUMS that
// sha256sum -c accepts; the packages and tarballs hold what the README says;
// the .deb, unpacked into a temporary root, runs.
func TestRelease(t *testing.T) {
	need(t, "dpkg-deb", "rpm", "sha256sum", "git")
	targets := testTargets()
	dist1, dist2 := filepath.Join(t.TempDir(), "dist"), filepath.Join(t.TempDir(), "dist")
	if err := run(dist1, targets); err != nil {
		t.Fatal(err)
	}
	if err := run(dist2, targets); err != nil {
		t.Fatal(err)
	}
	first, second := readDir(t, dist1), readDir(t, dist2)
	var names []string
	for n, b := range first {
		names = append(names, n)
		if b2, ok := second[n]; !ok {
			t.Errorf("%s is missing from the second run (was the tree changed meanwhile?)", n)
		} else if !bytes.Equal(b, b2) {
			t.Errorf("%s differs between two runs on the same commit", n)
		}
	}
	sort.Strings(names)
	if len(first) != len(second) {
		t.Errorf("two runs wrote %d and %d files", len(first), len(second))
	}
	wantFiles := 1 // SHA256SUMS
	for _, tg := range targets {
		wantFiles++ // .tar.gz
		if strings.HasPrefix(tg, "linux/") {
			wantFiles += 2 // .deb, .rpm
		}
	}
	if len(names) != wantFiles {
		t.Errorf("dist/ holds %v, want %d files", names, wantFiles)
	}
	cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
	cmd.Dir = dist1
	if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != wantFiles-1 {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}

	root, _ := moduleRoot()
	v, err := describe(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		goos, goarch, _ := strings.Cut(tg, "/")
		checkTarball(t, filepath.Join(dist1, "hookshim_"+v.pkgVersion()+"_"+goos+"_"+goarch+".tar.gz"), goos, goarch)
	}
	deb := filepath.Join(dist1, "hookshim_"+v.pkgVersion()+"-1_amd64.deb")
	rpm := filepath.Join(dist1, "hookshim-"+v.pkgVersion()+"-1.x86_64.rpm")
	checkDeb(t, deb, v)
	checkRPM(t, rpm)
}

// The files both packages install.
var packaged = []string{
	"/usr/bin/hookshim",
	"/usr/share/man/man1/hookshim.1.gz",
	"/usr/share/bash-completion/completions/hookshim",
	"/usr/share/fish/vendor_completions.d/hookshim.fish",
}

func checkDeb(t *testing.T, deb string, v version) {
	t.Helper()
	list := runOut(t, "dpkg-deb", "-c", deb)
	for _, f := range append(packaged, "/usr/share/zsh/vendor-completions/_hookshim") {
		if !strings.Contains(list, " ."+f+"\n") {
			t.Errorf("%s does not install %s:\n%s", filepath.Base(deb), f, list)
		}
	}
	if !strings.Contains(list, "-rwxr-xr-x root/root") {
		t.Errorf("no executable owned by root in:\n%s", list)
	}
	if got := runOut(t, "dpkg-deb", "-f", deb, "Package", "Architecture", "Version"); got !=
		"Package: hookshim\nArchitecture: amd64\nVersion: "+v.pkgVersion()+"-1\n" {
		t.Errorf("control fields:\n%s", got)
	}

	// Installed into a temporary root, it runs and knows its version; its
	// completions are what the binary itself prints.
	dest := t.TempDir()
	runOut(t, "dpkg-deb", "-x", deb, dest)
	bin := filepath.Join(dest, "usr", "bin", "hookshim")
	if got := runOut(t, bin, "version"); got != "hookshim "+v.Tag+"\n" {
		t.Errorf("hookshim version from the .deb printed %q, want the git version %q", got, v.Tag)
	}
	for shell, path := range map[string]string{
		"bash": "usr/share/bash-completion/completions/hookshim",
		"zsh":  "usr/share/zsh/vendor-completions/_hookshim",
		"fish": "usr/share/fish/vendor_completions.d/hookshim.fish",
	} {
		installed, err := os.ReadFile(filepath.Join(dest, path))
		if err != nil {
			t.Fatal(err)
		}
		if printed := runOut(t, bin, "completion", shell); printed != string(installed) {
			t.Errorf("the installed %s completion differs from `hookshim completion %s`", shell, shell)
		}
	}
	man := readGz(t, filepath.Join(dest, "usr/share/man/man1/hookshim.1.gz"))
	for _, want := range []string{".TH hookshim 1", ".SH locks", "--format", ".SH completion"} {
		if !strings.Contains(man, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
	checkStatic(t, bin, elf.EM_X86_64)
}

func checkRPM(t *testing.T, rpm string) {
	t.Helper()
	list := runOut(t, "rpm", "-qlp", rpm)
	for _, f := range append(packaged, "/usr/share/zsh/site-functions/_hookshim") {
		if !strings.Contains(list, f+"\n") {
			t.Errorf("%s does not install %s:\n%s", filepath.Base(rpm), f, list)
		}
	}
	if got := runOut(t, "rpm", "-qp", "--queryformat", "%{NAME} %{ARCH}\n", rpm); got != "hookshim x86_64\n" {
		t.Errorf("rpm name and arch: %q", got)
	}
}

// checkTarball checks the tarball's files and that its binary is static and
// built for goos/goarch.
func checkTarball(t *testing.T, path, goos, goarch string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	base := strings.TrimSuffix(filepath.Base(path), ".tar.gz")
	got := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = true
		if h.Name == base+"/hookshim" {
			if h.Mode != 0o755 {
				t.Errorf("%s: binary mode %o", path, h.Mode)
			}
			bin := filepath.Join(t.TempDir(), "hookshim")
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(bin, b, 0o755); err != nil {
				t.Fatal(err)
			}
			checkPlatform(t, bin, goos, goarch)
		}
	}
	for _, want := range []string{"hookshim", "hookshim.1", "README.md", "completions/hookshim.bash", "completions/_hookshim", "completions/hookshim.fish"} {
		if !got[base+"/"+want] {
			t.Errorf("%s lacks %s/%s", path, base, want)
		}
	}
}

func readGz(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
