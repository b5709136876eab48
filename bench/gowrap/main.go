// Command gowrap is the least any Go program in hookshim's place must do:
// trap SIGINT, SIGTERM and SIGHUP (to outlive the hook and clean up), run its
// arguments as a command in their own process group, wait, and exit with the
// command's status. Built like hookshim (static, trimmed), it is the bench's
// floor for `hookshim run HOOK -- true` written in Go.
package main

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		os.Exit(127)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
