package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/hookshim/hookshim/internal/atomicfile"
	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/internal/metrics"
)

// writeLocksReport writes the report in opts.format to stdout, or atomically
// to opts.output. service splits lock names into the Prometheus service and
// destination labels.
func writeLocksReport(p Process, r *lockreport.Report, opts locksOptions, service string) error {
	write := func(w io.Writer) error {
		switch opts.format {
		case formatJSON:
			return lockreport.WriteJSON(w, r)
		case formatPrometheus:
			return metrics.Write(w, r, service)
		}
		return lockreport.WriteTable(w, r, lockreport.TableOptions{Width: tableWidth(p, opts), Wide: opts.wide})
	}
	if opts.output == "" {
		if err := write(p.Stdout); err != nil {
			return exitcode.New(exitcode.IOErr, fmt.Errorf("writing the lock list: %w", err))
		}
		return nil
	}
	err := atomicfile.Write(absPath(p, opts.output), 0o644, write)
	var ae *atomicfile.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission):
		return exitcode.New(exitcode.NoPerm, fmt.Errorf("--output %s: cannot write there: %w", opts.output, err)).
			WithHint("run as a user who may write to that directory, or name another file")
	case errors.As(err, &ae) && ae.Step == "create":
		return exitcode.New(exitcode.CantCreate, fmt.Errorf("--output %s: cannot create a file in its directory: %w", opts.output, err)).
			WithHint("create the directory first (the file is written next to it, then renamed)")
	}
	return exitcode.New(exitcode.IOErr, fmt.Errorf("--output %s: writing failed, the old file is left as it was: %w", opts.output, err))
}

// tableWidth is how many columns the table may take: lockreport.DefaultWidth
// (120), or the terminal's width when stdout is a narrower terminal, so that
// no line wraps there. A file (--output) or a pipe gets 120 whatever the
// terminal, so that what a script or a log reads does not depend on where it
// ran.
func tableWidth(p Process, opts locksOptions) int {
	if opts.output != "" {
		return lockreport.DefaultWidth
	}
	if cols := terminalColumns(p.Stdout); cols > 0 && cols < lockreport.DefaultWidth {
		return cols
	}
	return lockreport.DefaultWidth
}

// terminalColumns is the width of the terminal w is, or 0 when w is none
// (or reports no width, as a pseudo-terminal never sized does).
func terminalColumns(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}

// absPath resolves a relative path against p's working directory, not the
// real process's.
func absPath(p Process, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(workDir(p), path)
}
