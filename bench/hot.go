package main

// The hot functions, as testing.B benchmarks: `go test ./bench -bench .`
// runs them (hot_test.go), and `go run ./bench` runs them too, through
// testing.Benchmark, and puts them in its table.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// hotBench is one benchmark of a hot function.
type hotBench struct {
	Name string
	What string
	F    func(b *testing.B)
}

var hotBenches = []hotBench{
	{"ParseDetails", "lockfile.Parse of one Kamal details file", benchParseDetails},
	{"ParseHold", "lockfile.ParseHold of a hookshim hold message", benchParseHold},
	{"ParseScan16", "lockfile.ParseScan of a host's scan output with 16 locks", benchParseScan16},
	{"LocalScan1000", "lockfile.Local.Scan of a tree with 1,000 lock directories", benchLocalScan1000},
}

var benchAt = time.Date(2026, 11, 27, 6, 31, 22, 0, time.UTC)

// sampleDetails returns details of each kind hookshim meets: Kamal's own
// lock, a manual one, and a hookshim hold.
func sampleDetails(i int) lockfile.Details {
	switch i % 3 {
	case 0:
		return lockfile.Details{LockedBy: "Anna Maria Schmidt", At: benchAt, Version: "d018f90b8de4599db01a44090e61eeb581595c52", Message: lockfile.AutomaticMessage}
	case 1:
		return lockfile.Details{LockedBy: "Zoë Ødegård", At: benchAt, Version: "d018f90b8de4599db01a44090e61eeb581595c52", Message: "db maintenance, back at 14:00"}
	}
	h := lockfile.Hold{Hook: "post-deploy", Token: "0123456789abcdef01234567", User: "deploy", Host: "ci-runner-7", PID: 4242}
	return lockfile.Details{LockedBy: "Unknown", At: benchAt, Version: "d018f90b8de4599db01a44090e61eeb581595c52", Message: h.Message()}
}

func benchParseDetails(b *testing.B) {
	raw := sampleDetails(0).FileContent()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := lockfile.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func benchParseHold(b *testing.B) {
	msg := sampleDetails(2).Message
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := lockfile.ParseHold(msg); !ok {
			b.Fatal("not a hold")
		}
	}
}

// scanOutput is what the remote scan script prints for n locks.
func scanOutput(n int) []byte {
	var sb strings.Builder
	sb.WriteString("HOOKSHIM-SCAN 1\n")
	for i := range n {
		fmt.Fprintf(&sb, "D\t%d\t.kamal/lock-svc%d\n", benchAt.Unix(), i)
		// base64 of the details file, in lines (the width does not matter)
		enc := lockfile.Encode64(sampleDetails(i).FileContent())
		sb.WriteString(enc)
		sb.WriteString(".\n")
	}
	sb.WriteString("END\n")
	return []byte(sb.String())
}

func benchParseScan16(b *testing.B) {
	out := scanOutput(16)
	b.ReportAllocs()
	b.SetBytes(int64(len(out)))
	for b.Loop() {
		ls, err := lockfile.ParseScan(out)
		if err != nil || len(ls) != 16 {
			b.Fatalf("%d locks, %v", len(ls), err)
		}
	}
}

// makeLockTree fills root with n Kamal 2 lock directories of every kind.
func makeLockTree(root string, n int) error {
	for i := range n {
		dir := filepath.Join(root, ".kamal", fmt.Sprintf("lock-svc%04d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "details"), sampleDetails(i).FileContent(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func benchLocalScan1000(b *testing.B) {
	root := b.TempDir()
	if err := makeLockTree(root, 1000); err != nil {
		b.Fatal(err)
	}
	s := lockfile.Local{Root: root}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ls, err := s.Scan(ctx)
		if err != nil || len(ls) != 1000 {
			b.Fatalf("%d locks, %v", len(ls), err)
		}
	}
}
