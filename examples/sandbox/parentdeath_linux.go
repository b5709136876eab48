package main

import "syscall"

// endWithSandbox makes the kernel send sig to the child when the sandbox dies,
// however it dies (SIGKILL too), so that a shell is not left reading the
// terminal with its host gone. The signal is tied to the thread that starts the
// child: runShell keeps that thread (runtime.LockOSThread) until the child ends.
func endWithSandbox(attr *syscall.SysProcAttr, sig syscall.Signal) { attr.Pdeathsig = sig }
