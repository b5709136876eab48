package install

import "errors"

// darwin has no tmpfs: the tests that need one skip there (see tmpfs_linux_test.go).

var errNoTmpfs = errors.New("tmpfs mounts are Linux-only")

func mountTmpfsAt(dir, opts string) error { return errNoTmpfs }

func remountReadOnly(dir string) error { return errNoTmpfs }

func unmountDetach(dir string) error { return errNoTmpfs }
