package cli

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookshim/hookshim/lockfile"
)

// cmdKamalLock writes a lock the way Kamal's `mkdir` + base64 details do:
//
//	kamallock PATH HOLDER VERSION AGO MESSAGE...
//
// PATH is relative to $WORK, HOLDER is the "Locked by" name, AGO how long ago
// the lock was taken (a Go duration; a leading "-" dates it in the future),
// and the rest of the words are the message.
func cmdKamalLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 5 {
		ts.Fatalf("usage: kamallock PATH HOLDER VERSION AGO MESSAGE...")
	}
	ago, err := time.ParseDuration(args[3])
	ts.Check(err)
	d := lockfile.Details{
		LockedBy: args[1],
		At:       time.Now().UTC().Add(-ago).Truncate(time.Second),
		Version:  args[2],
		Message:  strings.Join(args[4:], " "),
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	ts.Check(os.WriteFile(filepath.Join(dir, "details"), d.FileContent(), 0o644))
}
