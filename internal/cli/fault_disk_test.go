package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullTmpfs mounts a one-page tmpfs on dir and fills it, so that creating a
// directory works and writing a file's first byte fails with ENOSPC. It skips
// the test where mounting is not allowed (not root).
func fullTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mountTmpfsAt(dir, "size=4k,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unmountDetach(dir); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 64; i++ {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatalf("the tmpfs on %s never filled up", dir)
}

// assertNoLockDir checks that nothing at all is left at the lock path, not
// even a directory without details.
func assertNoLockDir(t *testing.T, home string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(home, lockPath)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("something is left at %s: %v", lockPath, err)
	}
}

// Disk full where the lock lives (the host's .kamal is a full tmpfs): the
// lock directory can be made but its details cannot be written. hookshim
// takes the directory away again, says so, and never runs the hook; nothing
// is left that would block the next deploy.
func TestFaultDiskFull(t *testing.T) {
	for _, where := range []string{"local", "ssh"} {
		t.Run(where, func(t *testing.T) {
			var r *rig
			if where == "local" {
				r = localRig(t)
			} else {
				r = remoteRig(t, nil)
			}
			fullTmpfs(t, filepath.Join(r.home, ".kamal"))
			code, _, stderr := runHookshim(t, r.dir, r.env, r.runArgs("--policy", "hold", "post-deploy", "--", r.hook, "h1")...)
			if code == 0 || code == 75 {
				t.Fatalf("exit status %d, want an error status; stderr:\n%s", code, stderr)
			}
			// Locally the error is ENOSPC's; on the host, dash's echo says
			// only "I/O error", so the failed take is what is checked.
			want := "no space left on device"
			if r.host != nil {
				want = "taking lock .kamal/lock-app on " + r.host.Addr + " failed"
			}
			if !strings.Contains(stderr, want) {
				t.Fatalf("stderr does not say the lock could not be written:\n%s", stderr)
			}
			r.ev.none()
			assertNoLockDir(t, r.home)
			r.noLocks()
		})
	}
}

// A file-size limit of 0 (ulimit -f 0) on hookshim: writing the details file
// fails with EFBIG (hookshim does not die of SIGXFSZ); as with a full disk,
// the hook never runs and no lock is left.
func TestFaultFileSizeLimit(t *testing.T) {
	r := localRig(t)
	args := append([]string{"-c", `ulimit -f 0 && exec "$0" "$@"`, faultHookshim(t)}, r.runArgs("--policy", "hold", "post-deploy", "--", r.hook, "h1")...)
	p := startProgram(t, r.dir, r.env, "/bin/sh", args...)
	code := p.exit()
	if code == 0 || code == 75 || code == 128+int(syscall.SIGXFSZ) {
		t.Fatalf("exit status %d, want an error status; stderr:\n%s", code, p.stderr)
	}
	p.waitLog(`file too large`)
	r.ev.none()
	assertNoLockDir(t, r.home)
	r.noLocks()
}
