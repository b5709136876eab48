package sshtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshtest"
	"github.com/hookshim/hookshim/internal/sshx"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestStartNOwnHomes(t *testing.T) {
	t.Parallel()
	hosts := sshtest.StartN(t, 3)
	var wg sync.WaitGroup
	for i, h := range hosts {
		if want := fmt.Sprintf("127.0.0.%d", i+1); h.Addr != want || h.Target.Host != want || h.Target.Port != h.Port {
			t.Errorf("host %d: Addr %s, Target %v", i, h.Addr, h.Target)
		}
		if h.ConfigFile != hosts[0].ConfigFile {
			t.Errorf("host %d has its own config file %s", i, h.ConfigFile)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One shared client reaches them all.
			res, err := hosts[0].Client.Run(ctx(t), h.Target, "pwd; echo \"$HOME\"", nil)
			if err != nil {
				t.Error(err)
			} else if want := h.Home + "\n" + h.Home + "\n"; string(res.Stdout) != want {
				t.Errorf("host %d: pwd and HOME %q, want %q", i, res.Stdout, want)
			}
		}()
	}
	wg.Wait()

	res, err := hosts[1].Client.Run(ctx(t), hosts[1].Target, "echo two > marker", nil)
	if err != nil || res.ExitStatus != 0 {
		t.Fatalf("%v %d %s", err, res.ExitStatus, res.Stderr)
	}
	for i, h := range hosts {
		_, err := os.Stat(filepath.Join(h.Home, "marker"))
		if (err == nil) != (i == 1) {
			t.Errorf("host %d: marker: %v", i, err)
		}
		if got := len(h.Commands(t)); got != 1+btoi(i == 1) {
			t.Errorf("host %d ran %d commands", i, got)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCommandsLog(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{})
	// Multi-line; no ' or \, so the remote command is "exec sh -c " + Quote(script).
	script := "echo \"a\nb\"\n\nprintf %s \"x y\""
	if _, err := h.Client.Run(ctx(t), h.Target, script, nil); err != nil {
		t.Fatal(err)
	}
	// ssh with no command at all: the host reads the script from stdin, as a
	// login shell would.
	cmd := exec.Command("ssh", "-F", h.ConfigFile, "-o", "BatchMode=yes", "-p", fmt.Sprint(h.Port), "-T", "--", h.Addr)
	cmd.Stdin = strings.NewReader("echo from-stdin\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "from-stdin\n" {
		t.Fatalf("session without a command: %q, %v", out, err)
	}
	got := h.Commands(t)
	want := []string{"exec sh -c " + sshx.Quote(script), ""}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Commands = %q, want %q", got, want)
	}
	if n := h.Logins(t); n != 2 {
		t.Errorf("Logins = %d, want 2", n)
	}
}

func TestHostBin(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "uname"), []byte("#!/bin/sh\necho FakeOS fake64\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sshtest.Start(t, sshtest.Options{HostBin: bin})
	res, err := h.Client.Run(ctx(t), h.Target, "uname -s -m", nil)
	if err != nil || string(res.Stdout) != "FakeOS fake64\n" {
		t.Fatalf("uname: %q, %v", res.Stdout, err)
	}
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	h := sshtest.Start(t, sshtest.Options{Addr: "127.0.0.3"})
	if _, err := h.Client.Run(ctx(t), h.Target, "echo kept > f", nil); err != nil {
		t.Fatal(err)
	}
	// A session in progress drops when the host stops.
	cmd := h.Client.Command(ctx(t), h.Target, "echo started; exec cat")
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := stdout.Read(buf); err != nil || string(buf[:n]) != "started\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if h.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", h.Connections())
	}
	h.Stop()
	h.Stop() // twice is fine
	if err := cmd.Wait(); err == nil {
		t.Error("the session survived Stop")
	}
	if h.Connections() != 0 {
		t.Errorf("Connections = %d after Stop", h.Connections())
	}
	_, err := h.Client.Run(ctx(t), h.Target, "true", nil)
	var ue *sshx.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Connection refused") {
		t.Fatalf("Run on a stopped host: %v", err)
	}

	h.Restart()
	res, err := h.Client.Run(ctx(t), h.Target, "cat f", nil)
	if err != nil || string(res.Stdout) != "kept\n" {
		t.Fatalf("after Restart: %q, %v", res.Stdout, err)
	}
	h.WaitIdle(t, 5*time.Second)
}

func TestClosedTarget(t *testing.T) {
	t.Parallel()
	tg := sshtest.ClosedTarget(t)
	_, err := (&sshx.Client{}).Run(ctx(t), tg, "true", nil)
	if err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Fatalf("got %v", err)
	}
}

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0", "10.0.0.1", "::1", "localhost"} {
		f := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sshtest.Start(f, sshtest.Options{Addr: addr})
		}()
		<-done
		if !strings.Contains(f.msg, "127.0.0.0/8") {
			t.Errorf("Start on %s: %q", addr, f.msg)
		}
	}
}
