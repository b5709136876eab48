package install

import "testing"

// watchDir: darwin has no inotify; the tests that watch a directory skip there
// (they run on Linux, see dirwatch_linux_test.go).
func watchDir(t *testing.T, dir string) *dirWatch {
	t.Helper()
	t.Skip("no inotify on darwin")
	return nil
}
