// Package exitcode names hookshim's exit statuses and carries them, with hints, inside errors.
package exitcode

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit statuses. They follow BSD sysexits where one fits, so scripts can tell a
// refused hook (75, "try again later") from an unreachable host (69) or a mistake
// in the invocation (64). A hook's own status passes through unchanged.
const (
	OK          = 0  // success
	Failure     = 1  // a generic failure with no better code
	Usage       = 64 // bad flags, arguments or settings (EX_USAGE)
	DataErr     = 65 // bad input data, e.g. a corrupt job record (EX_DATAERR)
	NoInput     = 66 // a named input (hook dir, job id) does not exist (EX_NOINPUT)
	Unavailable = 69 // a host could not be reached over SSH (EX_UNAVAILABLE)
	Software    = 70 // an internal error: a bug in hookshim; wait: an orphaned deferred hook, outcome unknown (EX_SOFTWARE)
	CantCreate  = 73 // a file or directory could not be created (EX_CANTCREAT)
	IOErr       = 74 // reading or writing failed (EX_IOERR)
	Conflict    = 75 // the lock is held by someone else, or a wait timed out (EX_TEMPFAIL)
	NoPerm      = 77 // permission denied (EX_NOPERM)
	Config      = 78 // config/deploy.yml cannot be used (EX_CONFIG)

	CannotExecute = 126 // a hook script exists but is not executable (as in sh)
	NotFound      = 127 // a hook command was not found (as in sh)
	// A hook killed by signal N gives 128+N, as in sh.
	SignalBase = 128
)

// Error is an error that decides the process's exit status and may carry hints
// telling the user what to do next.
type Error struct {
	Code  int
	Err   error
	Hints []string
	// Silent means the message was already shown (e.g. a hook's own failure,
	// whose output the user has seen): only the status is passed on.
	Silent bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given exit status and hints.
func New(code int, err error, hints ...string) *Error {
	return &Error{Code: code, Err: err, Hints: hints}
}

// Newf is New with a formatted message.
func Newf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// WithHint returns e with one more hint; it is meant for chaining.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hints = append(e.Hints, fmt.Sprintf(format, args...))
	return e
}

// Status returns the exit status to pass through without printing anything,
// for a child process that already spoke for itself.
func Status(code int) *Error { return &Error{Code: code, Silent: true} }

// Code returns the exit status err stands for: 0 for nil, the code of the
// outermost *Error in its chain, else Failure.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failure
}

// Report is the one place that prints a user-facing error: a line
// "hookshim: error: ..." and a line "hookshim: hint: ..." for each hint found
// anywhere in err's chain. It returns the exit status for err. Its callers:
// cli.Main for the error that ends a command, jobs.RunDeferred for a
// waiter's (into the job's log), and, for an error that does not decide the
// status (another failed job in `hookshim wait`, a hold that could not be
// released after the hook failed), shim.Runner.Report and `hookshim wait`.
func Report(w io.Writer, err error) int {
	if err == nil {
		return OK
	}
	code := Code(err)
	var e *Error
	if errors.As(err, &e) && e.Silent {
		return code
	}
	fmt.Fprintf(w, "hookshim: error: %s\n", oneLine(err.Error()))
	for ; err != nil; err = errors.Unwrap(err) {
		if x, ok := err.(*Error); ok {
			for _, h := range x.Hints {
				fmt.Fprintf(w, "hookshim: hint: %s\n", oneLine(h))
			}
		}
	}
	return code
}

// oneLine trims the space around a message. A newline inside one (an SSH
// error of several lines, a value from a lock file) is left for the writer
// to escape as \n with every other control character (cli's escapedLines),
// so that it reads like the same character anywhere else in the line, and
// the value in it is not changed (a run of spaces kept, a tab shown as \t).
func oneLine(s string) string {
	return strings.TrimSpace(s)
}
