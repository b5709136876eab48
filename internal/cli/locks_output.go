package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

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
		return lockreport.WriteTable(w, r)
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

// absPath resolves a relative path against p's working directory, not the
// real process's.
func absPath(p Process, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(workDir(p), path)
}
