package install

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// InstallHooks writes a stub for each hook in h. A hook the user already has is
// moved into NAME.d/NAME first, keeping its bytes and mode (it is the same file,
// given a second name, wherever the file system allows hard links).
//
// Every hook is checked before anything changes: a symlink or a directory where
// a hook should be, a NAME.d that is not a directory, or a NAME.d/NAME that
// already holds something else refuses the whole call and changes nothing. A
// stub that is already in place is left alone, so running it twice changes
// nothing. Each hook is switched by one rename, so an interrupted run leaves
// either the user's hook or the stub at NAME, and a rerun finishes the job.
//
// The results of the hooks done so far are returned with any error.
func InstallHooks(h Hooks) ([]HookResult, error) {
	names, err := h.names()
	if err != nil {
		return nil, err
	}
	if err := CheckPolicy(h.Policy); err != nil {
		return nil, err
	}
	return planThenApply(h.Dir, names, "installed",
		func(name string) (hookPlan, error) { return planInstall(h.Dir, name, h.Policy) },
		func(p *hookPlan) error { return applyInstall(h.Dir, *p) })
}

func newPlan(dir, name string) hookPlan {
	dDir := filepath.Join(dir, name+".d")
	return hookPlan{
		HookResult: HookResult{Hook: name, Path: filepath.Join(dir, name), Moved: filepath.Join(dDir, name)},
		dDir:       dDir,
	}
}

func planInstall(dir, name, policy string) (hookPlan, error) {
	p := newPlan(dir, name)
	p.stub = Stub(name, policy)

	if dfi, err := os.Stat(p.dDir); err == nil && !dfi.IsDir() {
		return p, exitcode.Newf(exitcode.CantCreate, "%s: %s exists and is not a directory; hookshim keeps your %s scripts there", name, p.dDir, name).
			WithHint("move %s away, then run the install again", p.dDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return p, fsError(err, exitcode.CantCreate, "%s: cannot use %s", name, p.dDir)
	}

	fi, err := os.Lstat(p.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.Action = StubWritten
	case err != nil:
		return p, fsError(err, exitcode.IOErr, "%s: cannot inspect %s", name, p.Path)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p.Path)
		return p, exitcode.Newf(exitcode.CantCreate, "%s: %s is a symlink (to %s); hookshim does not move links", name, p.Path, target).
			WithHint("replace the link with a copy of its target, or move it into %s/ yourself, then run the install again", p.dDir)
	case fi.IsDir():
		return p, exitcode.Newf(exitcode.CantCreate, "%s: %s is a directory, not a hook", name, p.Path).
			WithHint("Kamal runs the file %s; move the directory away, then run the install again", p.Path)
	case !fi.Mode().IsRegular():
		return p, exitcode.Newf(exitcode.CantCreate, "%s: %s is not a regular file (%s)", name, p.Path, fi.Mode().Type())
	default:
		content, stub, err := readStub(p.Path)
		if err != nil {
			return p, fsError(err, exitcode.IOErr, "%s: cannot read %s", name, p.Path)
		}
		if stub {
			if bytes.Equal(content, p.stub) && fi.Mode().Perm() == 0o755 {
				p.Action = StubUnchanged
				return p, nil
			}
			p.Action = StubUpdated
			break
		}
		// The user's own hook: it goes to NAME.d/NAME, which must be free, or
		// already be this very hook (an interrupted earlier run).
		p.Action = StubMovedHook
		mfi, err := os.Lstat(p.Moved)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return p, fsError(err, exitcode.IOErr, "%s: cannot inspect %s", name, p.Moved)
		case os.SameFile(fi, mfi),
			mfi.Mode().IsRegular() && mfi.Mode() == fi.Mode() && sameContent(p.Path, p.Moved):
			p.haveMoved = true
		default:
			return p, exitcode.Newf(exitcode.CantCreate, "%s: your hook %s would move to %s, but that already exists and differs; hookshim will not overwrite it",
				name, p.Path, p.Moved).
				WithHint("merge the two or rename %s, then run the install again", p.Moved)
		}
	}
	if err := checkWritable(dir, "hooks directory"); err != nil {
		return p, err
	}
	return p, nil
}

func applyInstall(dir string, p hookPlan) error {
	if p.Action == StubUnchanged {
		return nil
	}
	if err := os.Mkdir(p.dDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fsError(err, exitcode.CantCreate, "%s: cannot create %s", p.Hook, p.dDir)
	}
	if p.Action == StubMovedHook && !p.haveMoved {
		if _, err := linkNoClobber(p.Path, p.Moved); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return exitcode.Newf(exitcode.CantCreate, "%s: %s appeared while installing; nothing was changed for this hook", p.Hook, p.Moved)
			}
			return fsError(err, exitcode.CantCreate, "%s: cannot move your hook to %s; nothing was changed for this hook", p.Hook, p.Moved)
		}
		if err := syncDir(p.dDir); err != nil {
			return fsError(err, exitcode.IOErr, "%s: cannot fsync %s", p.Hook, p.dDir)
		}
	}
	tmp, step, err := writeTemp(dir, "."+p.Hook+".hookshim-", bytes.NewReader(p.stub), 0o755)
	if err != nil {
		if step == "create" {
			return fsError(err, exitcode.CantCreate, "%s: cannot create the stub in %s", p.Hook, dir)
		}
		return fsError(err, exitcode.IOErr, "%s: cannot write the stub (%s)", p.Hook, step)
	}
	if p.Action == StubWritten {
		err = placeNew(tmp, p.Path)
	} else {
		err = os.Rename(tmp, p.Path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return exitcode.Newf(exitcode.CantCreate, "%s: %s appeared while installing; it was left alone", p.Hook, p.Path).
				WithHint("run the install again")
		}
		return fsError(err, exitcode.CantCreate, "%s: cannot put the stub at %s", p.Hook, p.Path)
	}
	if err := syncDir(dir); err != nil {
		return fsError(err, exitcode.IOErr, "%s: cannot fsync %s", p.Hook, dir)
	}
	return nil
}

// placeNew gives the temporary file tmp the name path, which must not exist, and
// removes tmp: an atomic create that never replaces a file that appeared in the
// meantime (fs.ErrExist). Without hard links it falls back to an exclusive copy.
func placeNew(tmp, path string) error {
	if _, err := linkNoClobber(tmp, path); err != nil {
		return err
	}
	return os.Remove(tmp)
}
