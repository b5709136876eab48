package lockfile

import (
	"fmt"
	"path"
	"strings"
)

// Layout is one of the places Kamal has kept its lock over the years.
type Layout string

const (
	// LayoutMRSK is early MRSK's single per-host lock: ~/mrsk_lock.
	LayoutMRSK Layout = "mrsk"
	// LayoutKamal10 is Kamal 1.0-1.4: <run_directory>/lock-<service>, no destination.
	LayoutKamal10 Layout = "kamal-1.0"
	// LayoutKamal15 is Kamal 1.5-1.9: <run_directory>/locks/<service>[-<destination>].
	LayoutKamal15 Layout = "kamal-1.5"
	// LayoutKamal2 is Kamal 2.x: .kamal/lock-<service>[-<destination>].
	LayoutKamal2 Layout = "kamal-2"
)

// DefaultRunDir is Kamal's run directory: the default in 1.x, fixed in 2.x.
const DefaultRunDir = ".kamal"

// Layouts lists every layout, newest first: the order in which a lock for one
// service is looked for.
var Layouts = []Layout{LayoutKamal2, LayoutKamal15, LayoutKamal10, LayoutMRSK}

// ParseLayout reads a layout name as given on the command line. "kamal-1" is
// accepted for Kamal 1.5-1.9, the 1.x layout still in use.
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "mrsk", "mrsk_lock":
		return LayoutMRSK, nil
	case "kamal-1.0", "1.0":
		return LayoutKamal10, nil
	case "kamal-1.5", "kamal-1", "1.5", "1":
		return LayoutKamal15, nil
	case "kamal-2", "2", "":
		return LayoutKamal2, nil
	}
	return "", fmt.Errorf("layout %q is not one of kamal-2, kamal-1.5, kamal-1.0, mrsk", s)
}

// Versions says which Kamal versions use the layout, for people.
func (l Layout) Versions() string {
	switch l {
	case LayoutMRSK:
		return "MRSK 0.x"
	case LayoutKamal10:
		return "Kamal 1.0-1.4"
	case LayoutKamal15:
		return "Kamal 1.5-1.9"
	case LayoutKamal2:
		return "Kamal 2.x"
	}
	return string(l)
}

// Spec names one service's lock: which service, which destination, and where
// Kamal 1.x kept its run directory.
type Spec struct {
	Service     string
	Destination string // "" when no destination (-d) is used
	RunDir      string // Kamal 1.x run_directory; "" means .kamal
}

// Validate checks the names that become part of paths and remote commands.
func (s Spec) Validate() error {
	if err := ValidateName("service", s.Service); err != nil {
		return err
	}
	if s.Destination != "" {
		if err := ValidateName("destination", s.Destination); err != nil {
			return err
		}
	}
	return ValidateRunDir(s.RunDir)
}

// Path is where the lock for s lives under layout l, relative to the SSH user's
// home unless the run directory is absolute. Kamal 1.0-1.4 had no destinations in
// its lock path, so every destination shares that lock.
func (s Spec) Path(l Layout) string {
	runDir := s.RunDir
	if runDir == "" {
		runDir = DefaultRunDir
	}
	name := s.Service
	if s.Destination != "" {
		name += "-" + s.Destination
	}
	switch l {
	case LayoutMRSK:
		return "mrsk_lock"
	case LayoutKamal10:
		return path.Join(runDir, "lock-"+s.Service)
	case LayoutKamal15:
		return path.Join(runDir, "locks", name)
	default:
		return path.Join(DefaultRunDir, "lock-"+name)
	}
}

// Candidates lists, newest layout first and without repeats, every path where a
// lock for s may live.
func (s Spec) Candidates() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range Layouts {
		if p := s.Path(l); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// ValidateName checks a service, destination or hook name: letters, digits and
// ". _ -", not starting with "." or "-". Such a name is safe in a path and in a
// shell word, and covers every name Kamal accepts in practice.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", kind)
	}
	if len(name) > 128 {
		return fmt.Errorf("%s name %q is longer than 128 characters", kind, clip(name, 40))
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%s name %q must not start with %q", kind, name, name[:1])
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%s name %q may only hold letters, digits, '.', '_' and '-' (found %q)", kind, name, r)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%s name %q must not contain \"..\"", kind, name)
	}
	return nil
}

// ValidateRunDir checks a Kamal 1.x run_directory: a plain path with no "..",
// control characters or newlines, not starting with "-" (quoting cannot stop
// a command on the host taking such a word for an option). It is always
// shell-quoted where it is used.
func ValidateRunDir(dir string) error {
	if dir == "" {
		return nil
	}
	if dir[0] == '-' {
		return fmt.Errorf("run directory %q must not start with \"-\" (write ./%s for a directory of that name)", dir, dir)
	}
	for _, r := range dir {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("run directory %q holds a control character", dir)
		}
	}
	for _, part := range strings.Split(dir, "/") {
		if part == ".." {
			return fmt.Errorf("run directory %q must not contain \"..\"", dir)
		}
	}
	return nil
}

// classify tells which layout a path found by a scan belongs to, and the lock's
// name (service[-destination]).
func classify(p string) (Layout, string) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case p == "mrsk_lock":
		return LayoutMRSK, "mrsk_lock"
	case path.Base(dir) == "locks":
		return LayoutKamal15, base
	case strings.HasPrefix(base, "lock-") && dir == DefaultRunDir:
		// Kamal 2.x, or 1.0-1.4 with the default run directory: the same path.
		return LayoutKamal2, strings.TrimPrefix(base, "lock-")
	default:
		return LayoutKamal10, strings.TrimPrefix(base, "lock-")
	}
}
