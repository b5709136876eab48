package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// Exit statuses of install's errors (see internal/exitcode):
//
//	64 Usage        a bad hook name, policy, target or flag combination
//	65 DataErr      the binary does not fit the host (OS or architecture), or is not an executable
//	66 NoInput      the hooks directory or the binary to install does not exist
//	69 Unavailable  a host could not be reached over SSH, the connection dropped or timed out,
//	                or the host lacks a tool the install needs (sha256sum, sudo)
//	73 CantCreate   a file cannot be created where it must go: directory missing or read-only,
//	                a symlink or a directory where a hook or the binary should be, a name clash
//	74 IOErr        reading, writing or syncing failed half-way, or the checksum on a host did not match
//	77 NoPerm       permission denied (locally, on the host, or sudo needs a password)
//	70 Software     anything unexpected
//
// When several hosts fail differently, the exit status is the most severe of
// their codes, in the order of [Severity].

// severityOrder lists codes from most to least severe. A code that needs a
// person to fix something outranks one that may pass when simply run again:
// an unreachable host (69) is the least severe, a bug (70) the most.
var severityOrder = []int{
	exitcode.Software,
	exitcode.IOErr,
	exitcode.NoPerm,
	exitcode.CantCreate,
	exitcode.DataErr,
	exitcode.NoInput,
	exitcode.Usage,
	exitcode.Unavailable,
	exitcode.Failure,
}

// Severity ranks an exit status: higher is more severe. 0 (success) ranks lowest;
// a code not in the list ranks just above success.
func Severity(code int) int {
	if code == exitcode.OK {
		return 0
	}
	for i, c := range severityOrder {
		if c == code {
			return len(severityOrder) - i + 1
		}
	}
	return 1
}

// MostSevere returns the most severe of codes by [Severity], or 0 when there is none.
func MostSevere(codes ...int) int {
	worst := exitcode.OK
	for _, c := range codes {
		if Severity(c) > Severity(worst) {
			worst = c
		}
	}
	return worst
}

// fsError wraps a file-system error in an *exitcode.Error whose code says what
// kind of trouble it is: permission (77), a read-only or full file system or a
// missing directory (73), else the given code.
func fsError(err error, code int, format string, args ...any) *exitcode.Error {
	msg := fmt.Sprintf(format, args...)
	e := exitcode.New(code, fmt.Errorf("%s: %s", msg, errText(err)))
	switch {
	case errors.Is(err, syscall.EROFS):
		e.Code = exitcode.CantCreate
		e.WithHint("the file system is mounted read-only; choose another directory")
	case errors.Is(err, fs.ErrPermission):
		e.Code = exitcode.NoPerm
		e.WithHint("run as a user who may write there (e.g. with sudo)")
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		e.Code = exitcode.CantCreate
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, fs.ErrNotExist):
		e.Code = exitcode.CantCreate
	}
	return e
}

// errText is the bare reason of a path error ("permission denied"), since the
// messages name the path themselves.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
