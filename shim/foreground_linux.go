package shim

import (
	"io"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// foregroundTerminal returns the terminal on stdin when hookshim's process
// group is that terminal's foreground group, as when an operator runs
// `hookshim run` by hand. The hook runs in a process group of its own (so that
// signals reach everything it starts), and a background group that reads the
// terminal is stopped with SIGTTIN: the hook's group must take the foreground
// while it runs. Under Kamal stdin is a pipe, and nothing changes.
func foregroundTerminal(stdin io.Reader) (fd int, ok bool) {
	f, isFile := stdin.(*os.File)
	if !isFile || f == nil {
		return 0, false
	}
	// Through SyscallConn, not Fd, which would put the file in blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	pgrp := -1
	if err := rc.Control(func(u uintptr) {
		fd = int(u)
		if p, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err == nil {
			pgrp = p
		}
	}); err != nil || pgrp != syscall.Getpgrp() {
		return 0, false // not a terminal, or hookshim is not in its foreground
	}
	return fd, true
}

// takeForeground makes hookshim's process group the terminal's foreground
// group again once the hook has ended. hookshim is in the background then, and
// a background tcsetpgrp raises SIGTTOU unless the calling thread blocks it:
// it is blocked, on this thread only, for that one call.
func takeForeground(fd int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ttou, old unix.Sigset_t
	ttou.Val[(unix.SIGTTOU-1)/64] |= 1 << ((uint(unix.SIGTTOU) - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &ttou, &old); err != nil {
		return
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) //nolint:errcheck // restoring what was there
	_ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, syscall.Getpgrp())
}
