package lockfile

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// The details reader the remote scripts use never blocks on what a details
// file may be swapped for between the scripts' type check and the read: a
// fifo (with or without a writer that never writes) or a device.
func TestRemoteDetailsReadNeverBlocks(t *testing.T) {
	h := sshtest.Start(t, sshtest.Options{})
	fifo := filepath.Join(h.Home, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := readDetailsFn + `
readdetails fifo | wc -c
sleep 1000 > fifo & w=$!
readdetails fifo | wc -c
kill $w
readdetails /dev/zero | wc -c
echo done
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Client.Run(ctx, h.Target, script, nil)
	if err != nil {
		t.Fatalf("the read blocked (or failed): %v", err)
	}
	out := strings.Fields(string(res.Stdout))
	if len(out) != 4 || out[0] != "0" || out[1] != "0" || out[3] != "done" {
		t.Fatalf("output %q, want 0 bytes from the fifo twice, a bounded read of the device, done", res.Stdout)
	}
	if out[2] != "65537" {
		t.Fatalf("a device read gave %s bytes, want at most MaxDetailsSize+1", out[2])
	}
}
