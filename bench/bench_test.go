package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchQuick runs the whole benchmark harness once with a handful of
// repetitions (go run ./bench -quick), so that it cannot rot unnoticed. It
// checks that every section produced numbers; it asserts no timing.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 65 sshd hosts and builds hookshim; skipped with -short")
	}
	cfg := quickConfig()
	cfg.Command = "go test ./bench -run TestBenchQuick"
	cfg.Out = filepath.Join(t.TempDir(), "RESULTS.md")
	var out bytes.Buffer
	if err := run(cfg, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, out.Bytes()) {
		t.Error("the file written differs from what was printed")
	}
	text := string(md)
	for _, want := range []string{
		"## Summary", "`uname -a`", "1. Local", "`flock FILE true`", "2. One remote lock check",
		"2b. The wrapped hooks of one deploy", "3. `hookshim locks` over 1, 4, 16 and 64 hosts", "| 16 |", "| 64 |", "find DIR -name details", "4. Local scan of 1,000",
		"5. Release-to-hook-start latency", "Kamal's own `--lock-wait`", "6. Peak RSS", "static binary size",
		"7. Hot functions", "ParseDetails", "LocalScan1000",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("results lack %q:\n%s", want, text)
		}
	}
	// A row that could not be measured says why; only "not built yet" is
	// an acceptable reason.
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "n/a (") && !strings.Contains(line, "n/a (not built yet)") {
			t.Errorf("a measurement failed: %s", line)
		}
	}
}
