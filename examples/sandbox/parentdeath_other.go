//go:build !linux

package main

import "syscall"

// endWithSandbox does nothing where there is no parent-death signal: a shell
// outlives a sandbox killed with SIGKILL there (web1 and the files still go).
func endWithSandbox(attr *syscall.SysProcAttr, sig syscall.Signal) {}
