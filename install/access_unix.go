//go:build unix

package install

import "syscall"

// canWrite asks the kernel whether this process may create files in dir. It
// reports a read-only file system even for root, which permission bits do not.
func canWrite(dir string) error {
	const wOK, xOK = 0x2, 0x1
	return syscall.Access(dir, wOK|xOK)
}
