//go:build !linux

package shim

import "io"

// foregroundTerminal never hands the terminal to the hook outside Linux: the
// hook runs in a background process group there (see foreground_linux.go).
func foregroundTerminal(io.Reader) (int, bool) { return 0, false }

func takeForeground(int) {}
