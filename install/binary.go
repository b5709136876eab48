package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/hookshim/hookshim/internal/sshx"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// DefaultBinDir is where Binary puts the binary by default.
const DefaultBinDir = "/usr/local/bin"

// BinaryName is the file name the binary is installed under.
const BinaryName = "hookshim"

// tempPrefix starts the name of every temporary file install creates next to
// the binary, so a leftover (after a power cut) is recognisable.
const tempPrefix = ".hookshim.install-"

// BinaryResult says what [Binary] did.
type BinaryResult struct {
	Path    string // where the binary is now
	SHA256  string // hex SHA-256 of the installed binary
	Changed bool   // false when the same binary was already there: nothing was written
}

func (r BinaryResult) String() string {
	if !r.Changed {
		return fmt.Sprintf("%s is already up to date (sha256 %s); nothing to do", r.Path, short(r.SHA256))
	}
	return fmt.Sprintf("installed %s (sha256 %s)", r.Path, short(r.SHA256))
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// Binary installs the executable src as dir/hookshim on this machine.
//
// dir must exist and be a directory: it is never created. When dir/hookshim
// already has src's SHA-256 and mode 0755, nothing is written. Otherwise src is
// copied into a temporary file in dir, which is fsynced, given mode 0755 and
// renamed over dir/hookshim, and dir is fsynced. A failure at any step removes
// the temporary file and leaves dir/hookshim as it was. A symlink or a
// directory at dir/hookshim is refused, not replaced.
func Binary(src, dir string) (BinaryResult, error) {
	dst := filepath.Join(dir, BinaryName)
	res := BinaryResult{Path: dst}
	if err := checkDir(dir, "--bin-dir"); err != nil {
		return res, err
	}
	want, err := fileSHA256(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return res, exitcode.Newf(exitcode.NoInput, "binary %s does not exist", src)
		}
		return res, fsError(err, exitcode.IOErr, "cannot read binary %s", src)
	}
	res.SHA256 = want

	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return res, fsError(err, exitcode.IOErr, "cannot inspect %s", dst)
	case fi.IsDir():
		return res, exitcode.Newf(exitcode.CantCreate, "%s is a directory; hookshim will not replace it", dst).
			WithHint("remove it, or choose another --bin-dir")
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(dst)
		if have, err := fileSHA256(dst); err == nil && have == want {
			if tfi, err := os.Stat(dst); err == nil && tfi.Mode().Perm() == 0o755 {
				return res, nil
			}
		}
		return res, exitcode.Newf(exitcode.CantCreate, "%s is a symlink to %s; hookshim will not replace a link", dst, target).
			WithHint("remove the link, or install into the directory it points to with --bin-dir")
	case !fi.Mode().IsRegular():
		return res, exitcode.Newf(exitcode.CantCreate, "%s is not a regular file (%s); hookshim will not replace it", dst, fi.Mode().Type())
	default:
		if have, err := fileSHA256(dst); err == nil && have == want && fi.Mode().Perm() == 0o755 {
			return res, nil
		}
	}
	if err := checkWritable(dir, "--bin-dir"); err != nil {
		return res, err
	}

	in, err := os.Open(src)
	if err != nil {
		return res, fsError(err, exitcode.IOErr, "cannot read binary %s", src)
	}
	defer in.Close()
	h := sha256.New()
	tmp, step, err := writeTemp(dir, tempPrefix, io.TeeReader(in, h), 0o755)
	if err != nil {
		if step == "create" {
			return res, fsError(err, exitcode.CantCreate, "cannot create a temporary file in %s", dir)
		}
		return res, fsError(err, exitcode.IOErr, "cannot write %s (%s)", tmp, step)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		_ = os.Remove(tmp)
		return res, exitcode.Newf(exitcode.IOErr, "binary %s changed while it was being copied (sha256 %s, then %s); %s is unchanged",
			src, short(want), short(got), dst).WithHint("run the install again")
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return res, fsError(err, exitcode.CantCreate, "cannot rename the new binary to %s", dst)
	}
	if err := syncDir(dir); err != nil {
		return res, fsError(err, exitcode.IOErr, "installed %s but could not fsync %s", dst, dir)
	}
	res.Changed = true
	return res, nil
}

// checkDir refuses a directory that is missing or is not a directory.
func checkDir(dir, flag string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return exitcode.Newf(exitcode.CantCreate, "%s %s does not exist", flag, dir).
			WithHint("create it first (mkdir -p %s), or choose another %s", sshx.Quote(dir), flag)
	case err != nil:
		return fsError(err, exitcode.CantCreate, "cannot use %s %s", flag, dir)
	case !fi.IsDir():
		return exitcode.Newf(exitcode.CantCreate, "%s %s is not a directory", flag, dir)
	}
	return nil
}

// checkWritable refuses, before anything is written, a directory this process
// may not create files in: read-only file system (73) or no permission (77).
func checkWritable(dir, what string) error {
	if err := canWrite(dir); err != nil {
		return fsError(err, exitcode.CantCreate, "cannot write to %s %s", what, dir)
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of the file at path (following links).
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sameContent reports whether two files have the same bytes.
func sameContent(a, b string) bool {
	x, err := os.ReadFile(a)
	if err != nil {
		return false
	}
	y, err := os.ReadFile(b)
	return err == nil && bytes.Equal(x, y)
}
