// Command rsswrap runs a command and writes the peak resident set size that
// wait4 reports for it, in KiB, to a file: rsswrap OUTFILE COMMAND [ARG...].
// It exits with the command's status.
//
// The bench harness cannot read a child's peak RSS itself: a process started
// by fork or vfork begins with its parent's high-water mark (the kernel keeps
// the larger of it and the new image's at exec), so every child of the
// harness would report at least the harness's own RSS. This small launcher
// starts the command instead; its own RSS, a floor under what it reports, is
// measured too (rsswrap running `true`).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: rsswrap OUTFILE COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rsswrap:", err)
		os.Exit(127)
	}
	kb := int64(0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		kb = ru.Maxrss
	}
	if werr := os.WriteFile(os.Args[1], []byte(fmt.Sprintf("%d\n", kb)), 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "rsswrap:", werr)
		os.Exit(125)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
