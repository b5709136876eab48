package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
)

// remoteHost starts a real sshd on loopback; with installed, `hookshim` on it
// is this test binary (see fakeWatch).
func remoteHost(t *testing.T, installed bool) (*sshtest.Host, *sshx.Conn) {
	t.Helper()
	bin := ""
	if installed {
		bin = t.TempDir()
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		// Through a link named hookshim (TestMain goes by the name), with no
		// race detector's second at exit (GORACE) skewing the figures.
		real := filepath.Join(t.TempDir(), "hookshim")
		if err := os.Symlink(exe, real); err != nil {
			t.Fatal(err)
		}
		script := "#!/bin/sh\nGORACE=atexit_sleep_ms=0 exec " + sshx.Quote(real) + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, "hookshim"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := sshtest.Start(t, sshtest.Options{HostBin: bin})
	conn, err := h.Client.Dial(context.Background(), h.Target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return h, conn
}

func TestRemoteWatchReturnsWhenTheLockGoes(t *testing.T) {
	h, conn := remoteHost(t, true)
	lock := filepath.Join(h.Home, ".kamal", "lock-app")
	watch := RemoteWatch("web1", func() Runner { return conn })
	var lat []time.Duration
	for i := range 5 {
		if err := os.MkdirAll(lock, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(filepath.Join(h.Home, "watch.armed"))
		_ = os.Remove(filepath.Join(h.Home, "watch.ended"))
		done := make(chan error, 1)
		go func() { done <- watch(context.Background(), ".kamal/lock-app") }()
		waitFile(t, filepath.Join(h.Home, "watch.armed"))
		select {
		case err := <-done:
			t.Fatalf("round %d: the watch returned with the lock still there: %v", i, err)
		default:
		}
		start := time.Now()
		if err := os.RemoveAll(lock); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		case <-time.After(20 * time.Second):
			t.Fatal("the remote watch did not return")
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("lock removed -> remote watch returned: median %v (of %v)", lat[len(lat)/2], lat)
	if lat[len(lat)/2] > 500*time.Millisecond {
		t.Errorf("median %v: the watch is not event-driven", lat[len(lat)/2])
	}
	cmds := strings.Join(h.Commands(t), "\n")
	// The script is constant; the path and the timeout are its arguments.
	if strings.Count(cmds, "exec hookshim watch --until-eof --timeout \"$2\" -- \"$1\"\n' sh '.kamal/lock-app' '24h0m0s'") != 5 {
		t.Errorf("remote commands:\n%s", cmds)
	}
}

func TestRemoteWatchEndsWithItsCaller(t *testing.T) {
	h, conn := remoteHost(t, true)
	if err := os.MkdirAll(filepath.Join(h.Home, ".kamal", "lock-app"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RemoteWatch("web1", func() Runner { return conn })(ctx, ".kamal/lock-app") }()
	waitFile(t, filepath.Join(h.Home, "watch.armed"))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled watch = %v", err)
	}
	// The host's watch ends too: its standard input, a pipe only the
	// caller held, reached end-of-file.
	waitFile(t, filepath.Join(h.Home, "watch.ended"))
}

func TestRemoteWatchWithoutHookshimOnTheHost(t *testing.T) {
	h, conn := remoteHost(t, false)
	err := RemoteWatch("web1", func() Runner { return conn })(context.Background(), ".kamal/lock-app")
	var ni *NotInstalledError
	if !errors.As(err, &ni) || ni.Host != "web1" {
		t.Fatalf("watch without hookshim on the host = %v", err)
	}
	// Unreachable host: an error, not "gone".
	h.Stop()
	err = RemoteWatch("web1", func() Runner { return lockfile.OnHost(h.Client, h.Target) })(context.Background(), ".kamal/lock-app")
	if err == nil {
		t.Fatal("a watch on an unreachable host returned nil")
	}
}

// A lock path that is shell syntax reaches the host's hookshim watch as the
// very path (the watch arms on it, so it exists there), and nothing in it runs.
func TestRemoteWatchPathIsAnArgument(t *testing.T) {
	h, conn := remoteHost(t, true)
	rel := ".kamal/lock-$(touch pwned) '`touch pwned`'\"; touch pwned"
	lock := filepath.Join(h.Home, rel)
	if err := os.MkdirAll(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- RemoteWatch("web1", func() Runner { return conn })(context.Background(), rel) }()
	waitFile(t, filepath.Join(h.Home, "watch.armed"))
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("watch = %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.Home, "pwned")); err == nil {
		t.Fatal("the lock path ran as a command: pwned exists")
	}
}
