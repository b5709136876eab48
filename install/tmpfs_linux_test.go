package install

import "syscall"

// The tmpfs mounts the disk-full and read-only tests use. Linux only: on
// darwin (tmpfs_darwin_test.go) they fail, and the tests that need them skip,
// so that the suite still vets and builds there.

// mountTmpfsAt mounts a tmpfs (nosuid, nodev) with opts (e.g. "size=4k") on dir.
func mountTmpfsAt(dir, opts string) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts)
}

// remountReadOnly makes the file system mounted on dir read-only.
func remountReadOnly(dir string) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
}

// unmountDetach unmounts dir lazily (MNT_DETACH), even while it is in use.
func unmountDetach(dir string) error { return syscall.Unmount(dir, syscall.MNT_DETACH) }
