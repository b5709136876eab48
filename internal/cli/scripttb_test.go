package cli

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var scriptHostsMu sync.Mutex

// scriptTB lets helpers written for testing.TB (sshtest) serve one testscript
// script: failures fail the script, cleanups run when the script ends, and
// temporary directories live under the script's $WORK.
type scriptTB struct {
	testing.TB
	env *testscript.Env
	ts  *testscript.TestScript
}

func (s scriptTB) Helper() {}

func (s scriptTB) Cleanup(f func()) {
	if s.env != nil {
		s.env.Defer(f)
		return
	}
	s.ts.Defer(f)
}

func (s scriptTB) TempDir() string {
	base := ""
	if s.env != nil {
		base = s.env.WorkDir
	} else {
		base = s.ts.Getenv("WORK")
	}
	d, err := os.MkdirTemp(base, ".tmp")
	if err != nil {
		s.Fatal(err)
	}
	return d
}

func (s scriptTB) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }

func (s scriptTB) Fatalf(format string, args ...any) {
	if s.env != nil {
		s.env.T().Fatal(fmt.Sprintf(format, args...))
		return
	}
	s.ts.Fatalf(format, args...)
}

func (s scriptTB) Logf(format string, args ...any) {
	if s.env != nil {
		s.env.T().Log(fmt.Sprintf(format, args...))
		return
	}
	s.ts.Logf(format, args...)
}

func (s scriptTB) Log(args ...any) { s.Logf("%s", fmt.Sprint(args...)) }

func (s scriptTB) Errorf(format string, args ...any) { s.Fatalf(format, args...) }

func (s scriptTB) Error(args ...any) { s.Fatal(args...) }
