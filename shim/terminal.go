package shim

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// onForegroundTerminal reports whether stdin is a terminal whose foreground
// process group is hookshim's, as when an operator runs `hookshim run` by hand
// from an interactive shell. The hook then stays in hookshim's process group:
// the terminal and the shell treat the two as one job, so the hook can read
// the terminal (a background group that reads it is stopped with SIGTTIN),
// Ctrl-C reaches both, and Ctrl-Z and `fg` stop and resume both. Under Kamal
// stdin is a pipe, and the hook gets a process group of its own.
func onForegroundTerminal(stdin io.Reader) bool {
	f, isFile := stdin.(*os.File)
	if !isFile || f == nil {
		return false
	}
	// Through SyscallConn, not Fd, which would put the file in blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	pgrp := -1
	if err := rc.Control(func(fd uintptr) {
		if p, err := unix.IoctlGetInt(int(fd), unix.TIOCGPGRP); err == nil {
			pgrp = p
		}
	}); err != nil {
		return false
	}
	return pgrp == syscall.Getpgrp()
}
