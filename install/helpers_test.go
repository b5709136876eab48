package install

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
)

func writeFile(t *testing.T, name string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantFile checks a file's bytes and permission bits.
func wantFile(t *testing.T, name string, content []byte, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is %s, want a regular file", name, fi.Mode().Type())
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %o, want %o", name, fi.Mode().Perm(), mode)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("%s holds %d bytes (%.40q), want %d bytes (%.40q)", name, len(got), got, len(content), content)
	}
}

// listing is a directory tree as "path mode size" lines, to compare before and after.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// temps lists hookshim's temporary files in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// wantCode checks err's exit status and that its message holds every part.
func wantCode(t *testing.T, err error, code int, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want exit status %d", code)
	}
	if got := exitcode.Code(err); got != code {
		t.Errorf("exit status %d, want %d (error: %v)", got, code, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// mountTmpfs mounts a small tmpfs on a new directory, read-only when ro, after
// fill has put files in it. It skips the test where mounting is not allowed
// (not root, or no CAP_SYS_ADMIN): a read-only file system is the one write
// failure that root, who ignores permission bits, still meets.
func mountTmpfs(t *testing.T, size string, ro bool, fill func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mountTmpfsAt(dir, "size="+size+",mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): needs root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := unmountDetach(dir); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	if fill != nil {
		fill(dir)
	}
	if ro {
		if err := remountReadOnly(dir); err != nil {
			t.Fatalf("remounting %s read-only: %v", dir, err)
		}
	}
	return dir
}

func mtime(t *testing.T, name string) time.Time {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

// unwritableDir is a directory this process may not create files in. For
// anyone but root that is a 0555 directory; root ignores permission bits, but
// not sysfs, which refuses new files with "permission denied" to everyone.
func unwritableDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return dir
	}
	dir := "/sys/kernel"
	f, err := os.CreateTemp(dir, ".hookshim-probe-")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skip("root can write to /sys/kernel here: no directory refuses root")
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Skipf("creating a file in /sys/kernel fails with %v here, not permission denied", err)
	}
	return dir
}

// nobody is the unprivileged user (and group) permission tests run as when
// the suite runs as root: uid and gid 65534, nobody/nogroup on Debian.
const nobody = 65534

// unprivilegedEnv marks the test binary re-run as nobody by asNobody.
const unprivilegedEnv = "HOOKSHIM_TEST_AS_NOBODY"

// asNobody makes a permission test meaningful under root, whom permission bits
// do not stop: run as root, it runs the calling test again in a copy of the
// test binary as nobody (no supplementary groups), fails unless that run
// passed, and returns true: the caller then returns. Run as anyone else, it
// returns false and the test goes on in this process.
func asNobody(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	if os.Getenv(unprivilegedEnv) != "" {
		t.Fatal("still root after the switch to nobody")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	// go test keeps its binary in a directory only root may enter: nobody
	// gets a copy, and a home and TMPDIR of its own.
	dir, err := os.MkdirTemp("", "asnobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{os.Chmod(dir, 0o755), os.Chown(tmp, nobody, nobody), os.WriteFile(filepath.Join(dir, "install.test"), b, 0o755)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(dir, "install.test"), "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), unprivilegedEnv+"=1", "HOME="+tmp, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s as nobody (uid %d): %v\n%s", t.Name(), nobody, err, out)
	}
	t.Logf("ran as nobody (uid %d):\n%s", nobody, out)
	return true
}
