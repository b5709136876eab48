package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// OSProcess is the process hookshim runs as: its arguments, standard
// streams, environment and signals.
func OSProcess() Process {
	return Process{
		Args:   os.Args,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Env:    os.Environ(),
		Signals: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 4)
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			// From here on hookshim may hold a lock: a write to a closed stdout
			// or stderr (its reader killed, `| head -n1`) must fail with EPIPE,
			// never kill it by SIGPIPE before the hook ran or the lock was
			// released. Caught, not ignored: a caught signal is reset to its
			// default in the children (Go's os/exec), so the hook still stops
			// on a closed pipe as it would without hookshim; an ignored one
			// would be inherited. Never stopped: the last line hookshim writes
			// must not kill it either.
			signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
			return ch, func() { signal.Stop(ch) }
		},
	}
}
