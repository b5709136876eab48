// Package liveness tells whether a process on this machine is still the one a
// lock names: pid, start time and boot, read from Linux's /proc.
//
// A pid alone proves nothing once its process has ended: the kernel hands the
// number to the next process. A process's start time (clock ticks since boot,
// field 22 of /proc/PID/stat, proc(5)) and the boot it ran in
// (/proc/sys/kernel/random/boot_id) rule that out: a live pid with another
// start time, or any pid after a reboot, is a different process.
package liveness

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Stamp identifies one process for as long as the machine runs.
type Stamp struct {
	PID   int
	Start uint64 // clock ticks since boot when it started (/proc/PID/stat field 22)
	PGID  int    // its process group
	SID   int    // its session
	Comm  string // its command name, as the kernel keeps it (at most 15 bytes)
	State byte   // R, S, D, Z (zombie: ended, not yet waited for), ...
}

// Ended reports whether the process has ended and only its exit status waits
// for its parent: a zombie (Z) or dead (X) process runs nothing any more.
func (s Stamp) Ended() bool { return s.State == 'Z' || s.State == 'X' }

// ErrNoProcess: no process with that pid exists (now).
var ErrNoProcess = errors.New("no such process")

// Root is where procfs is mounted; a variable only so that tests can point it
// at a tree of their own.
var root = "/proc"

// Read returns the stamp of the live process pid, or ErrNoProcess.
func Read(pid int) (Stamp, error) {
	if pid <= 0 {
		return Stamp{}, ErrNoProcess
	}
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "stat"))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return Stamp{}, ErrNoProcess
	}
	if err != nil {
		return Stamp{}, err
	}
	return ParseStat(b)
}

// Self is the stamp of this process.
func Self() (Stamp, error) { return Read(os.Getpid()) }

// ParseStat reads /proc/PID/stat: "PID (COMM) STATE PPID PGRP SESSION ... STARTTIME ...".
// COMM may hold spaces and parentheses: the fields after it start after the
// last ')'.
func ParseStat(b []byte) (Stamp, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return Stamp{}, fmt.Errorf("/proc stat line %q has no (comm)", clip(b))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil || pid <= 0 {
		return Stamp{}, fmt.Errorf("/proc stat line %q has no pid", clip(b))
	}
	// After ") ": state is field 3, so field N is rest[N-3].
	rest := strings.Fields(string(b[end+1:]))
	if len(rest) < 20 {
		return Stamp{}, fmt.Errorf("/proc stat line %q has %d fields after the command, want at least 20", clip(b), len(rest))
	}
	s := Stamp{PID: pid, Comm: string(b[open+1 : end]), State: rest[0][0]}
	if s.PGID, err = strconv.Atoi(rest[2]); err != nil {
		return Stamp{}, fmt.Errorf("/proc stat line %q: process group: %v", clip(b), err)
	}
	if s.SID, err = strconv.Atoi(rest[3]); err != nil {
		return Stamp{}, fmt.Errorf("/proc stat line %q: session: %v", clip(b), err)
	}
	if s.Start, err = strconv.ParseUint(rest[19], 10, 64); err != nil {
		return Stamp{}, fmt.Errorf("/proc stat line %q: start time: %v", clip(b), err)
	}
	return s, nil
}

// BootID names this boot of the machine: the first 8 hex digits of
// /proc/sys/kernel/random/boot_id, "" when it cannot be read. Start times
// count from the boot, so they are only comparable within one.
func BootID() string {
	b, err := os.ReadFile(filepath.Join(root, "sys", "kernel", "random", "boot_id"))
	if err != nil {
		return ""
	}
	return ShortBootID(string(b))
}

// ShortBootID is the first 8 hex digits of a boot_id, "" if it has none.
func ShortBootID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 8 {
		return ""
	}
	for _, c := range s[:8] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return s[:8]
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
