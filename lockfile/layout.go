package lockfile

import (
	"fmt"
	"path"
	"strings"
)

// Layout is one of the places Kamal has kept its lock over the years
// (kamal-locks.md section 1; read in every tag's lib/{mrsk,kamal}/commands/lock.rb).
type Layout string

const (
	// LayoutMRSK is MRSK 0.10-0.14's single per-host lock: ~/mrsk_lock.
	LayoutMRSK Layout = "mrsk"
	// LayoutMRSK015 is MRSK 0.15: ~/mrsk_lock-<service>.
	LayoutMRSK015 Layout = "mrsk-0.15"
	// LayoutKamal016 is Kamal 0.16, the rename from MRSK: ~/kamal_lock-<service>.
	LayoutKamal016 Layout = "kamal-0.16"
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
var Layouts = []Layout{LayoutKamal2, LayoutKamal15, LayoutKamal10, LayoutKamal016, LayoutMRSK015, LayoutMRSK}

// Version is a Kamal (or MRSK) release as major.minor: all that decides where
// its lock lives and which hooks run under it.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is an older release than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// NoVersion is the zero Version: as the upper end of a range, no bound.
var NoVersion = Version{}

// span is the releases [since, until) that use a layout; until is NoVersion for the current one.
type span struct{ since, until Version }

var layoutSpans = map[Layout]span{
	LayoutMRSK:     {Version{0, 10}, Version{0, 15}},
	LayoutMRSK015:  {Version{0, 15}, Version{0, 16}},
	LayoutKamal016: {Version{0, 16}, Version{1, 0}},
	LayoutKamal10:  {Version{1, 0}, Version{1, 5}},
	LayoutKamal15:  {Version{1, 5}, Version{2, 0}},
	LayoutKamal2:   {Version{2, 0}, NoVersion},
}

// ParseLayout reads a layout name as given on the command line (--layout, or
// HOOKSHIM_LAYOUT). The error names every layout with its versions.
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "mrsk", "mrsk_lock", "mrsk-0.10":
		return LayoutMRSK, nil
	case "mrsk-0.15", "0.15":
		return LayoutMRSK015, nil
	case "kamal-0.16", "0.16":
		return LayoutKamal016, nil
	case "kamal-1.0", "1.0":
		return LayoutKamal10, nil
	case "kamal-1.5", "kamal-1", "1.5", "1":
		return LayoutKamal15, nil
	case "kamal-2", "2":
		return LayoutKamal2, nil
	}
	return "", fmt.Errorf("layout %q is not one of %s", s, LayoutNames())
}

// LayoutNames lists the layout names with the versions that use each, for
// help texts and errors: "kamal-2 (Kamal 2.x), kamal-1.5 (Kamal 1.5-1.9), ...".
func LayoutNames() string {
	names := make([]string, len(Layouts))
	for i, l := range Layouts {
		names[i] = fmt.Sprintf("%s (%s)", l, l.Versions())
	}
	return strings.Join(names, ", ")
}

// Versions says which Kamal versions use the layout, for people.
func (l Layout) Versions() string {
	switch l {
	case LayoutMRSK:
		return "MRSK 0.10-0.14"
	case LayoutMRSK015:
		return "MRSK 0.15"
	case LayoutKamal016:
		return "Kamal 0.16"
	case LayoutKamal10:
		return "Kamal 1.0-1.4"
	case LayoutKamal15:
		return "Kamal 1.5-1.9"
	case LayoutKamal2:
		return "Kamal 2.x"
	}
	return string(l)
}

// Since is the first release that uses the layout.
func (l Layout) Since() Version { return layoutSpans[l].since }

// LayoutOf is the layout release v uses.
func LayoutOf(v Version) Layout {
	for _, l := range Layouts {
		if !v.Less(layoutSpans[l].since) {
			return l
		}
	}
	return LayoutMRSK
}

// LayoutsBetween lists, newest first, the layouts used by any release in
// [min, max); max NoVersion means no upper bound.
func LayoutsBetween(min, max Version) []Layout {
	var out []Layout
	for _, l := range Layouts {
		sp := layoutSpans[l]
		startsBeforeMax := max == NoVersion || sp.since.Less(max)
		endsAfterMin := sp.until == NoVersion || min.Less(sp.until)
		if startsBeforeMax && endsAfterMin {
			out = append(out, l)
		}
	}
	return out
}

// PerDestination reports whether the layout keeps one lock per destination.
// MRSK and Kamal 1.0-1.4 kept one lock for every destination.
func (l Layout) PerDestination() bool { return l == LayoutKamal15 || l == LayoutKamal2 }

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
// home unless the run directory is absolute. Only Kamal 1.5 and later keep a
// lock per destination; before, every destination shares one lock.
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
	case LayoutMRSK015:
		return "mrsk_lock-" + s.Service
	case LayoutKamal016:
		return "kamal_lock-" + s.Service
	case LayoutKamal10:
		return path.Join(runDir, "lock-"+s.Service)
	case LayoutKamal15:
		return path.Join(runDir, "locks", name)
	default:
		return path.Join(DefaultRunDir, "lock-"+name)
	}
}

// Candidates lists, newest layout first and without repeats, every path where a
// lock for s may live under any layout.
func (s Spec) Candidates() []string { return s.PathsFor(Layouts) }

// PathsFor lists, in the order of layouts and without repeats, the paths of s
// under those layouts.
func (s Spec) PathsFor(layouts []Layout) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range layouts {
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
// name (service[-destination]). A path under the default run directory named
// lock-NAME is Kamal 2's, which is also Kamal 1.0-1.4's with the default
// run_directory: the newer reading is given.
func classify(p string) (Layout, string) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case p == "mrsk_lock":
		return LayoutMRSK, "mrsk_lock"
	case dir == "" && strings.HasPrefix(base, "mrsk_lock-"):
		return LayoutMRSK015, strings.TrimPrefix(base, "mrsk_lock-")
	case dir == "" && strings.HasPrefix(base, "kamal_lock-"):
		return LayoutKamal016, strings.TrimPrefix(base, "kamal_lock-")
	case path.Base(dir) == "locks":
		return LayoutKamal15, base
	case strings.HasPrefix(base, "lock-") && dir == DefaultRunDir:
		return LayoutKamal2, strings.TrimPrefix(base, "lock-")
	default:
		return LayoutKamal10, strings.TrimPrefix(base, "lock-")
	}
}
