package kamalemu

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// hold is the KAMAL_EMU_HOLD_FIFO hold point: announce "held" to a reader of
// the FIFO, then wait for a writer's line (or end-of-file). Once per run.
func (e *emu) hold() error {
	p := e.getenv(EnvHoldFIFO)
	if p == "" || e.held {
		return nil
	}
	e.held = true
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.dir, p)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return errorf("%s=%s is not a FIFO: make it with mkfifo before starting kamal", EnvHoldFIFO, p)
	}
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return errorf("%s: %v", EnvHoldFIFO, err)
	}
	_, err = fmt.Fprintf(w, "held %s %s\n", e.command, e.lockDir())
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errorf("%s: %v", EnvHoldFIFO, err)
	}
	r, err := os.Open(p)
	if err != nil {
		return errorf("%s: %v", EnvHoldFIFO, err)
	}
	defer r.Close()
	if _, err := bufio.NewReader(r).ReadString('\n'); err != nil && err != io.EOF {
		return errorf("%s: %v", EnvHoldFIFO, err)
	}
	return nil
}

// WaitHeld blocks until an emulator run with KAMAL_EMU_HOLD_FIFO=fifo reaches
// its hold point (holding its lock), and returns its announcement, "held
// COMMAND LOCKDIR". The FIFO must exist before the emulator starts.
func WaitHeld(fifo string) (string, error) {
	f, err := os.Open(fifo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return strings.TrimSpace(string(b)), err
}

// Continue lets the emulator waiting at its hold point on fifo go on. It blocks
// until that emulator opens the FIFO to read (right after WaitHeld returned).
func Continue(fifo string) error {
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("go\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Unblock wakes a WaitHeld or Continue stuck on fifo because no emulator will
// come (it failed before its hold point): it opens each end once without
// blocking, so a blocked open of the other end returns (and sees end-of-file, or
// a broken pipe).
func Unblock(fifo string) {
	for _, flag := range []int{os.O_WRONLY, os.O_RDONLY} {
		if f, err := os.OpenFile(fifo, flag|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
}
