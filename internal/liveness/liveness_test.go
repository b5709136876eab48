package liveness

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	line := "4242 (my (odd) hook) S 1 4240 4200 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100 18446744073709551615\n"
	st, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stamp{PID: 4242, PGID: 4240, SID: 4200, Start: 98765, Comm: "my (odd) hook", State: 'S'}); st != want {
		t.Fatalf("ParseStat = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "4242", "x (a) S 1 2 3", "4242 (a) S 1 2", "4242 (a) S 1 x 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0", ")(", "4242 (a) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) accepted it", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 (a) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0"))
	f.Add([]byte("1 ()) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && st.PID <= 0 {
			t.Fatalf("accepted pid %d", st.PID)
		}
	})
}

func TestShortBootID(t *testing.T) {
	if got := ShortBootID("6f1c2a3b-1111-2222-3333-444455556666\n"); got != "6f1c2a3b" {
		t.Errorf("got %q", got)
	}
	for _, bad := range []string{"", "6f1c", "6F1C2A3B-", "$(x)1234-"} {
		if got := ShortBootID(bad); got != "" {
			t.Errorf("ShortBootID(%q) = %q", bad, got)
		}
	}
}

// startChild starts a process that runs until the test kills it, with env
// added to this process's environment.
func startChild(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read x")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// ended starts a process, reads its stamp, and waits for it to end: a pid
// that is gone, with the start time it had.
func ended(t *testing.T) Stamp {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read x")
	w, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	_ = cmd.Wait()
	return st
}

func TestCheck(t *testing.T) {
	boot := BootID()
	if boot == "" {
		t.Fatal("cannot read this machine's boot id")
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	gone := ended(t)
	token := "0123456789abcdef" + strings.Repeat("0", 8)
	hold := Hold{Token: token, PID: gone.PID, Start: gone.Start, SID: self.SID, Boot: boot}

	t.Run("hookshim and hook gone", func(t *testing.T) {
		if v := Check(hold); v.Liveness != Dead {
			t.Fatalf("Check = %+v, want Dead", v)
		}
	})
	t.Run("hookshim runs", func(t *testing.T) {
		c := startChild(t)
		st, _ := Read(c.Process.Pid)
		h := hold
		h.PID, h.Start = st.PID, st.Start
		if v := Check(h); v.Liveness != Alive || !strings.Contains(v.Why, "still runs") {
			t.Fatalf("Check = %+v, want Alive", v)
		}
	})
	t.Run("its pid is another process now", func(t *testing.T) {
		c := startChild(t)
		st, _ := Read(c.Process.Pid)
		h := hold
		h.PID, h.Start = st.PID, st.Start-1 // the hold's process started earlier: another one
		if v := Check(h); v.Liveness != Dead || !strings.Contains(v.Why, "now another process") {
			t.Fatalf("Check = %+v, want Dead (pid reused)", v)
		}
	})
	t.Run("hookshim gone, its hook runs on", func(t *testing.T) {
		c := startChild(t, "HOOKSHIM_LOCK_TOKEN="+token)
		v := Check(hold)
		if v.Liveness != Alive || !strings.Contains(v.Why, "its hook still runs: pid "+strconv.Itoa(c.Process.Pid)) {
			t.Fatalf("Check = %+v, want Alive naming pid %d", v, c.Process.Pid)
		}
	})
	t.Run("hookshim killed, not yet waited for by its parent", func(t *testing.T) {
		cmd := exec.Command("sh", "-c", "read x")
		cmd.Env = append(os.Environ(), "HOOKSHIM_LOCK_TOKEN="+token)
		w, _ := cmd.StdinPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { w.Close(); _ = cmd.Wait() }()
		st, _ := Read(cmd.Process.Pid)
		_ = cmd.Process.Kill()
		for deadline := time.Now().Add(30 * time.Second); ; {
			if z, err := Read(st.PID); err != nil || z.Ended() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the killed process never became a zombie")
			}
			time.Sleep(time.Millisecond) // polling for the kernel's state change
		}
		h := hold
		h.PID, h.Start = st.PID, st.Start
		if v := Check(h); v.Liveness != Dead || !strings.Contains(v.Why, "not yet collected") {
			t.Fatalf("Check = %+v, want Dead", v)
		}
	})
	t.Run("another hold's hook runs", func(t *testing.T) {
		startChild(t, "HOOKSHIM_LOCK_TOKEN="+token+"ff")
		if v := Check(hold); v.Liveness != Dead {
			t.Fatalf("Check = %+v, want Dead", v)
		}
	})
	t.Run("another boot", func(t *testing.T) {
		h := hold
		h.Boot = "00000000"
		if v := Check(h); v.Liveness != Dead || !strings.Contains(v.Why, "restarted") {
			t.Fatalf("Check = %+v, want Dead (rebooted)", v)
		}
	})
	t.Run("an older hold without a start time", func(t *testing.T) {
		h := hold
		h.Start, h.Boot = 0, ""
		if v := Check(h); v.Liveness != Unknown {
			t.Fatalf("Check = %+v, want Unknown", v)
		}
	})
}
