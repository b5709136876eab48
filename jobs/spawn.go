package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ReadyFD is the descriptor on which a waiter says it has picked up its job:
// it writes ReadyWord and closes it. Pass it to the waiter with --ready-fd.
const ReadyFD = 3

// ReadyWord is what a waiter writes on ReadyFD once it holds its job.
const ReadyWord = "ok\n"

// Waiter is how to start a job's waiter.
type Waiter struct {
	Path string   // the executable
	Args []string // argv, Args[0] included
	Env  []string // the hook's environment: it lives only in the waiter's memory
	Dir  string   // working directory: the repository
}

// StartWaiter starts w detached for job j and returns once the waiter has
// picked the job up (Claim), or with an error saying why it did not. The
// waiter gets its own session, /dev/null as stdin, the job's log as stdout and
// stderr, and no other descriptor but the readiness pipe it closes at once:
// whatever called the hook (Kamal reads a hook's output to end-of-file) is not
// kept waiting by it. It is never waited for.
func StartWaiter(j Job, w Waiter, timeout time.Duration) (pid int, err error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	logf, err := os.OpenFile(j.LogPath(), os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening the job log: %w", err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer readyR.Close()

	// Descriptors this process inherited without close-on-exec (a leaky
	// parent's pipes) would reach the waiter too: mark them all.
	closeInheritedOnExec()
	cmd := &exec.Cmd{
		Path:        w.Path,
		Args:        w.Args,
		Env:         w.Env,
		Dir:         w.Dir,
		Stdin:       devnull,
		Stdout:      logf,
		Stderr:      logf,
		ExtraFiles:  []*os.File{readyW}, // becomes ReadyFD
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return 0, fmt.Errorf("starting the waiter %s: %w", w.Path, err)
	}
	pid = cmd.Process.Pid
	_ = cmd.Process.Release()

	_ = readyR.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(io.LimitReader(readyR, 64))
	if string(b) == ReadyWord {
		return pid, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return pid, fmt.Errorf("the waiter (pid %d) did not pick the job up within %s", pid, timeout)
	}
	why := lastLines(j.LogPath(), 3)
	if why == "" {
		why = "it said nothing"
	}
	return pid, fmt.Errorf("the waiter (pid %d) exited before picking the job up: %s", pid, why)
}

// Ready tells the process that started this waiter that the job is picked up.
func Ready(fd int) error {
	if fd <= 0 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "ready")
	if f == nil {
		return fmt.Errorf("readiness descriptor %d is not open", fd)
	}
	_, err := f.WriteString(ReadyWord)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// CloseReadyFD closes the readiness descriptor without saying ready, so the
// starter learns at once that the waiter gives up.
func CloseReadyFD(fd int) {
	if fd > 0 {
		if f := os.NewFile(uintptr(fd), "ready"); f != nil {
			f.Close()
		}
	}
}

// closeInheritedOnExec sets close-on-exec on every descriptor above stderr.
// Go opens its own that way; this catches those inherited from the parent.
func closeInheritedOnExec() {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
		return
	}
}

// lastLines returns up to n last non-empty lines of a file, joined by "; ".
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 8192 {
		b = b[len(b)-8192:]
	}
	var lines []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
