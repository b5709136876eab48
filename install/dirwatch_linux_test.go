package install

import (
	"os"
	"syscall"
	"testing"
)

// watchDir watches dir with inotify, which only Linux has (the darwin build
// of the tests skips instead: dirwatch_darwin_test.go).
func watchDir(t *testing.T, dir string) *dirWatch {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Skipf("no inotify: %v", err)
	}
	const mask = syscall.IN_CREATE | syscall.IN_MODIFY | syscall.IN_DELETE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM | syscall.IN_CLOSE_WRITE
	if _, err := syscall.InotifyAddWatch(fd, dir, mask); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	w := &dirWatch{f: os.NewFile(uintptr(fd), "inotify")}
	t.Cleanup(func() { w.f.Close() })
	return w
}
