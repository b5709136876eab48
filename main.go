// Command hookshim makes Kamal hooks behave the same whichever Kamal command runs
// them, and makes Kamal's deploy lock visible and safe to work with.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(Main(Process{
		Args:   os.Args,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Env:    os.Environ(),
		Signals: func() (<-chan os.Signal, func()) {
			ch := make(chan os.Signal, 4)
			signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			return ch, func() { signal.Stop(ch) }
		},
	}))
}
