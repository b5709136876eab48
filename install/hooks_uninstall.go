package install

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// UninstallHooks undoes InstallHooks for each hook in h: where NAME is
// hookshim's stub (or missing) and NAME.d/NAME exists, that file is renamed back
// to NAME, replacing the stub in one step; a stub with nothing to restore is
// removed. A NAME that is not hookshim's stub is never touched. NAME.d/ is
// removed when it is left empty; anything else in it stays, and the result says
// how many files.
//
// Like InstallHooks, every hook is checked before anything changes.
func UninstallHooks(h Hooks) ([]HookResult, error) {
	names, err := h.names()
	if err != nil {
		return nil, err
	}
	return planThenApply(h.Dir, names, "uninstalled",
		func(name string) (hookPlan, error) { return planUninstall(h.Dir, name) },
		func(p *hookPlan) error { return applyUninstall(h.Dir, p) })
}

func planUninstall(dir, name string) (hookPlan, error) {
	p := newPlan(dir, name)

	// Is there a hook of the user's to put back?
	restorable := false
	mfi, err := os.Lstat(p.Moved)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		mfi = nil
	case err != nil:
		return p, fsError(err, exitcode.IOErr, "%s: cannot inspect %s", name, p.Moved)
	case mfi.Mode().IsRegular() || mfi.Mode()&fs.ModeSymlink != 0:
		restorable = true
	}

	fi, err := os.Lstat(p.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// An install interrupted before the stub was written, or a stub the user
		// removed: putting the hook back is what uninstall means.
		if restorable {
			p.Action = HookRestored
		} else {
			p.Action = NoStub
			return p, nil
		}
	case err != nil:
		return p, fsError(err, exitcode.IOErr, "%s: cannot inspect %s", name, p.Path)
	case !fi.Mode().IsRegular():
		p.Action = NoStub
		return p, nil
	default:
		_, stub, err := readStub(p.Path)
		if err != nil {
			return p, fsError(err, exitcode.IOErr, "%s: cannot read %s", name, p.Path)
		}
		if !stub {
			p.Action = NoStub
			return p, nil
		}
		if restorable {
			p.Action = HookRestored
		} else {
			if mfi != nil {
				return p, exitcode.Newf(exitcode.CantCreate, "%s: %s is not a file; hookshim will not move it back to %s", name, p.Moved, p.Path).
					WithHint("move your hook back to %s yourself", p.Path)
			}
			p.Action = StubRemoved
		}
	}
	if err := checkWritable(dir, "hooks directory"); err != nil {
		return p, err
	}
	return p, nil
}

func applyUninstall(dir string, p *hookPlan) error {
	switch p.Action {
	case NoStub:
		return nil
	case HookRestored:
		if err := moveBack(dir, p.Moved, p.Path); err != nil {
			return fsError(err, exitcode.CantCreate, "%s: cannot move %s back to %s", p.Hook, p.Moved, p.Path)
		}
	case StubRemoved:
		if err := os.Remove(p.Path); err != nil {
			return fsError(err, exitcode.CantCreate, "%s: cannot remove the stub %s", p.Hook, p.Path)
		}
	}
	if err := syncDir(dir); err != nil {
		return fsError(err, exitcode.IOErr, "%s: cannot fsync %s", p.Hook, dir)
	}
	// Tidy NAME.d/ away when nothing is left in it.
	entries, err := os.ReadDir(p.dDir)
	if err != nil {
		return nil // no NAME.d/, or not ours to judge
	}
	if len(entries) == 0 {
		if fi, err := os.Lstat(p.dDir); err == nil && fi.IsDir() {
			_ = os.Remove(p.dDir)
		}
		return nil
	}
	p.Left = len(entries)
	return nil
}

// moveBack renames from to to, replacing to in one step. When from is on
// another file system (HOOK.d/ is a link to elsewhere), it is copied, with its
// mode, to a temporary file beside to, which is renamed over to before from is
// removed.
func moveBack(dir, from, to string) error {
	err := os.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	var tmp string
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		tmp = filepath.Join(dir, ".hookshim-restore-"+filepath.Base(to))
		_ = os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			return err
		}
	} else {
		f, err := os.Open(from)
		if err != nil {
			return err
		}
		defer f.Close()
		if tmp, _, err = writeTemp(dir, ".hookshim-restore-", f, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, to); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Remove(from)
}
