package liveness

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
)

// InSession finds the live process leading a session of its own, not one
// started before a given time, and nothing once it has ended.
func TestInSession(t *testing.T) {
	cmd := exec.Command("sh", "-c", "read x; true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sid := cmd.Process.Pid
	st, err := Read(sid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := InSession(sid, st.Start)
	if err != nil || got.PID != sid || got.SID != sid {
		t.Fatalf("InSession(%d, %d) = %+v, %v; want the session's leader", sid, st.Start, got, err)
	}
	if got, err := InSession(sid, st.Start+1); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("InSession for processes started after the only one = %+v, %v; want ErrNoProcess", got, err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, err := InSession(sid, st.Start); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("InSession of an ended session = %+v, %v; want ErrNoProcess", got, err)
	}
}
