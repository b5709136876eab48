package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// benchTB lets sshtest, written for tests, start hosts for this program: a
// failure ends the program (after the cleanups ran), cleanups run at the end.
type benchTB struct {
	testing.TB // nil: any method not below is not used by sshtest

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (b *benchTB) Helper()      {}
func (b *benchTB) Name() string { return "bench" }
func (b *benchTB) Failed() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.failed }

func (b *benchTB) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// cleanup runs the cleanups, last registered first.
func (b *benchTB) cleanup() {
	b.mu.Lock()
	fs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (b *benchTB) Fatalf(format string, args ...any) {
	b.mu.Lock()
	b.failed = true
	b.mu.Unlock()
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	b.cleanup()
	os.Exit(1)
}

func (b *benchTB) Fatal(args ...any)                 { b.Fatalf("%s", fmt.Sprint(args...)) }
func (b *benchTB) Errorf(format string, args ...any) { b.Fatalf(format, args...) }
func (b *benchTB) Error(args ...any)                 { b.Fatal(args...) }
func (b *benchTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
func (b *benchTB) Log(args ...any) { b.Logf("%s", fmt.Sprint(args...)) }

func (b *benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "hsbench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}
