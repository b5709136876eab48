package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/internal/exitcode"
)

func TestBinaryInstallsThenDoesNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hookshim-build")
	content := randomBytes(t, 300<<10)
	writeFile(t, src, content, 0o700)
	dir := t.TempDir()
	dst := filepath.Join(dir, "hookshim")

	res, err := Binary(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Path != dst || len(res.SHA256) != 64 {
		t.Errorf("first install: %+v", res)
	}
	if !strings.HasPrefix(res.String(), "installed "+dst+" (sha256 ") {
		t.Errorf("line %q", res)
	}
	wantFile(t, dst, content, 0o755)
	if tmp := temps(t, dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	before, _ := os.Lstat(dst)
	res, err = Binary(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed {
		t.Errorf("second install changed something: %+v", res)
	}
	if want := dst + " is already up to date"; !strings.HasPrefix(res.String(), want) || !strings.HasSuffix(res.String(), "nothing to do") {
		t.Errorf("line %q, want it to start with %q", res, want)
	}
	after, _ := os.Lstat(dst)
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("the second install rewrote the binary")
	}
}

func TestBinaryReplacesAnotherVersionAtomically(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hookshim")
	content := randomBytes(t, 64<<10)
	writeFile(t, src, content, 0o755)
	dir := t.TempDir()
	dst := filepath.Join(dir, "hookshim")
	writeFile(t, dst, []byte("old version"), 0o755)
	// Someone running the old binary keeps its inode: it is replaced by a rename.
	old, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	res, err := Binary(src, dir)
	if err != nil || !res.Changed {
		t.Fatalf("Binary: %+v, %v", res, err)
	}
	wantFile(t, dst, content, 0o755)
	b := make([]byte, 64)
	n, _ := old.ReadAt(b, 0)
	if string(b[:n]) != "old version" {
		t.Errorf("the old inode was written to: %q", b[:n])
	}
}

func TestBinarySameBytesWrongModeIsFixed(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, src, []byte("same"), 0o755)
	dir := t.TempDir()
	dst := filepath.Join(dir, "hookshim")
	writeFile(t, dst, []byte("same"), 0o644)
	res, err := Binary(src, dir)
	if err != nil || !res.Changed {
		t.Fatalf("Binary: %+v, %v", res, err)
	}
	wantFile(t, dst, []byte("same"), 0o755)
}

func TestBinaryRefusals(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, src, []byte("new"), 0o755)
	file := filepath.Join(t.TempDir(), "a-file")
	writeFile(t, file, []byte("x"), 0o644)

	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := Binary(src, dir)
		wantCode(t, err, exitcode.CantCreate, "--bin-dir "+dir+" does not exist")
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Error("the directory was created")
		}
	})
	t.Run("dir is a file", func(t *testing.T) {
		_, err := Binary(src, file)
		wantCode(t, err, exitcode.CantCreate, "is not a directory")
	})
	t.Run("dir under a file", func(t *testing.T) {
		_, err := Binary(src, filepath.Join(file, "bin"))
		wantCode(t, err, exitcode.CantCreate, "not a directory")
	})
	t.Run("missing source", func(t *testing.T) {
		_, err := Binary(filepath.Join(t.TempDir(), "gone"), t.TempDir())
		wantCode(t, err, exitcode.NoInput, "does not exist")
	})
	t.Run("directory in the way", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "hookshim"), 0o755)
		before := listing(t, dir)
		_, err := Binary(src, dir)
		wantCode(t, err, exitcode.CantCreate, "is a directory")
		if listing(t, dir) != before {
			t.Error("the directory changed")
		}
	})
	t.Run("symlink in the way", func(t *testing.T) {
		dir := t.TempDir()
		os.Symlink(file, filepath.Join(dir, "hookshim"))
		before := listing(t, dir)
		_, err := Binary(src, dir)
		wantCode(t, err, exitcode.CantCreate, "is a symlink to "+file)
		if listing(t, dir) != before {
			t.Error("the directory changed")
		}
	})
	t.Run("symlink to the same binary is fine", func(t *testing.T) {
		dir := t.TempDir()
		os.Symlink(src, filepath.Join(dir, "hookshim"))
		res, err := Binary(src, dir)
		if err != nil || res.Changed {
			t.Errorf("Binary: %+v, %v", res, err)
		}
	})
}

// A directory the user may not write to: 77, nothing written. Permission
// bits do not stop root, so as root it runs as nobody.
func TestBinaryNoPermission(t *testing.T) {
	if asNobody(t) {
		return
	}
	src := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, src, []byte("new"), 0o755)
	dir := unwritableDir(t)
	_, err := Binary(src, dir)
	wantCode(t, err, exitcode.NoPerm, "permission denied")
	if _, err := os.Lstat(filepath.Join(dir, "hookshim")); err == nil {
		t.Error("something was written")
	}
}

func TestBinaryReadOnlyDir(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, src, []byte("new"), 0o755)
	dir := mountTmpfs(t, "1m", true, func(dir string) {
		writeFile(t, filepath.Join(dir, "hookshim"), []byte("old"), 0o755)
	})
	_, err := Binary(src, dir)
	wantCode(t, err, exitcode.CantCreate, "read-only file system")
	wantFile(t, filepath.Join(dir, "hookshim"), []byte("old"), 0o755)
}

// A copy that fails half-way (here: the file system fills up) leaves the old
// binary and no temporary file.
func TestBinaryFailedCopyKeepsOldBinary(t *testing.T) {
	src := filepath.Join(t.TempDir(), "hookshim")
	writeFile(t, src, randomBytes(t, 2<<20), 0o755)
	dir := mountTmpfs(t, "1m", false, func(dir string) {
		writeFile(t, filepath.Join(dir, "hookshim"), []byte("old"), 0o755)
	})
	_, err := Binary(src, dir)
	wantCode(t, err, exitcode.CantCreate, "no space left on device")
	wantFile(t, filepath.Join(dir, "hookshim"), []byte("old"), 0o755)
	if tmp := temps(t, dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
