package lockfile

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookshim/hookshim/internal/sshx"
)

// Runner runs a POSIX sh script on one host, with args as its positional
// parameters ("$1", ...): an *sshx.Conn, or a client bound to a target with
// OnHost.
type Runner interface {
	Run(ctx context.Context, script string, stdin io.Reader, args ...string) (sshx.Result, error)
}

// OnHost binds an SSH client to one target, as a Runner.
func OnHost(c *sshx.Client, t sshx.Target) Runner { return hostRunner{c, t} }

type hostRunner struct {
	c *sshx.Client
	t sshx.Target
}

func (h hostRunner) Run(ctx context.Context, script string, stdin io.Reader, args ...string) (sshx.Result, error) {
	return h.c.Run(ctx, h.t, script, stdin, args...)
}

// Remote is the lock tree in the SSH user's home on a host. Every operation is
// one SSH round trip and needs nothing but POSIX sh and coreutils on the host.
// Its scripts are constants (the .sh files beside this one); lock paths and
// everything else reach them as positional parameters, never as script text.
type Remote struct {
	Host string // for people: the host as it was named
	// SSH is how a person reaches the host by hand, for hints: an ssh command
	// line without the remote command ("ssh -p 2222 deploy@web1"); nil means
	// "ssh HOST". Its String is called only when a hint needs it: rendering
	// the command line can cost an `ssh -G` (the host key policy), which a
	// hook whose lock is free would pay for nothing. (A Stringer, not a func:
	// a Remote stays comparable, and Stores are compared.)
	SSH    fmt.Stringer
	Runner Runner
}

// Where implements Store.
func (s Remote) Where() string { return s.Host }

// Ref implements Store.
func (s Remote) Ref(p string) string { return s.Host + ":" + p }

// RemoveCommand implements Store: rm -r of the lock directory, over ssh as
// SSH says (rm -r, not Kamal's rm details && rm -r, which stops at a lock
// without details).
func (s Remote) RemoveCommand(p string) string {
	ssh := "ssh " + sshx.Quote(s.Host)
	if s.SSH != nil {
		ssh = s.SSH.String()
	}
	return ssh + " " + sshx.Quote("rm -r -- "+sshx.Quote(p))
}

// Exit statuses of the acquire and release scripts.
const (
	statusHeld     = 3 // acquire: the lock exists; release: not ours
	statusGone     = 4 // release: no lock
	statusNotOurs  = 5 // release: held with another token or unreadable details
	scanHeaderLine = "HOOKSHIM-SCAN 1"
)

// Scan implements Store.
func (s Remote) Scan(ctx context.Context, runDirs ...string) ([]Lock, error) {
	locks, err := s.run(ctx, scanArgs(scanDirs(runDirs), []string{"mrsk_lock"}))
	// In path order, as Local.Scan gives them.
	sort.Slice(locks, func(i, j int) bool { return locks[i].Path < locks[j].Path })
	return locks, err
}

// Read implements Store.
func (s Remote) Read(ctx context.Context, paths ...string) ([]Lock, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	found, err := s.run(ctx, scanArgs(nil, paths))
	if err != nil {
		return nil, err
	}
	byPath := map[string]Lock{}
	for _, l := range found {
		byPath[l.Path] = l
	}
	out := make([]Lock, len(paths))
	for i, p := range paths {
		if l, ok := byPath[p]; ok {
			out[i] = l
		} else {
			layout, name := classify(p)
			out[i] = Lock{Path: p, Layout: layout, Name: name, State: Free}
		}
	}
	return out, nil
}

func (s Remote) run(ctx context.Context, args []string) ([]Lock, error) {
	res, err := s.Runner.Run(ctx, scanScript, nil, args...)
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return nil, fmt.Errorf("reading locks on %s failed (exit %d): %s", s.Host, res.ExitStatus, firstLine(res.Stderr))
	}
	return ParseScan(res.Stdout)
}

// The scripts, kept in .sh files so that they are plain shell text with no Go
// value in them.
var (
	//go:embed readdetails.sh
	readDetailsFn string
	//go:embed scanlib.sh
	scanLib string
	//go:embed scan.sh
	scanMain string
	//go:embed acquire.sh
	acquireMain string
	//go:embed release.sh
	releaseMain string
	//go:embed audit.sh
	auditFn string

	// scanScript reports what is at each literal path and at every entry of
	// each scan dir that starts with its prefix, as scanArgs lists them, one
	// record each: a header line "KIND<TAB>MTIME<TAB>PATH" where KIND is D
	// (details follow as base64 lines and a line "."), N (no details), U
	// (details unreadable), L (symlink), F (not a directory), X (directory
	// not searchable), or B (a directory on the way cannot be searched or
	// listed by the SSH user, so what is there cannot be told: that directory
	// follows on a line of its own; PATH is the literal path, or DIR/PREFIX*
	// for a scan dir). Paths holding a newline are skipped.
	//
	// Nothing it opens can block: details are read only when they are a
	// regular file, with O_NONBLOCK|O_NOFOLLOW (dd), so a fifo or device
	// swapped in meanwhile gives an error or garbage, not a hang.
	scanScript = readDetailsFn + scanLib + scanMain
	// acquireScript takes the arguments LOCK PARENT BASE64 AUDITFILE
	// AUDITLINE (see acquire.sh, audit.sh).
	acquireScript = readDetailsFn + scanLib + auditFn + acquireMain
	// releaseScript takes the arguments LOCK PATTERN AUDITFILE AUDITLINE
	// (see release.sh, audit.sh).
	releaseScript = readDetailsFn + auditFn + releaseMain
)

// scanArgs are scanScript's arguments for the literal paths, then the scan
// dirs: "lit PATH" for each path, "dir DIR PREFIX" for each scan dir.
func scanArgs(dirs []scanDir, paths []string) []string {
	args := make([]string, 0, 2*len(paths)+3*len(dirs))
	for _, p := range paths {
		args = append(args, "lit", p)
	}
	for _, sd := range dirs {
		args = append(args, "dir", sd.dir, sd.prefix)
	}
	return args
}

// ParseScan reads the output of the scan script. Output before the header (a
// login banner, say, with or without its newline) is ignored; a missing END
// means the output was cut.
func ParseScan(out []byte) ([]Lock, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	started, ended := false, false
	var locks []Lock
	for sc.Scan() {
		line := sc.Text()
		if !started {
			// Noise before the header (a login banner, an rc file's output)
			// may lack its newline and run into the header's line.
			started = strings.HasSuffix(line, scanHeaderLine)
			continue
		}
		if line == "END" {
			ended = true
			break
		}
		kind, rest, ok1 := strings.Cut(line, "\t")
		mtime, p, ok2 := strings.Cut(rest, "\t")
		if !ok1 || !ok2 || p == "" {
			return nil, fmt.Errorf("unexpected line in lock scan output: %q", clip(line, 80))
		}
		layout, name := classify(p)
		l := Lock{Path: p, Layout: layout, Name: name}
		if sec, err := strconv.ParseInt(mtime, 10, 64); err == nil && sec > 0 {
			l.ModTime = time.Unix(sec, 0).UTC()
		}
		switch kind {
		case "D":
			var b64 strings.Builder
			for sc.Scan() && sc.Text() != "." {
				b64.WriteString(sc.Text())
			}
			raw, err := base64.StdEncoding.DecodeString(b64.String())
			if err != nil {
				l.State, l.Problem = Unreadable, "details could not be transferred: "+err.Error()
			} else {
				l.fromDetails(raw)
			}
		case "N":
			l.State, l.Problem = NoDetails, "lock directory has no details file"
		case "U":
			l.State, l.Problem = Unreadable, "cannot read details (permission denied or not a regular file)"
		case "L":
			l.State, l.Problem = Unreadable, "lock path is a symlink (not followed)"
		case "F":
			l.State, l.Problem = Unreadable, "lock path is a file, not a directory"
		case "X":
			l.State, l.Problem = Unreadable, "lock directory is not searchable (permission denied)"
		case "B":
			if !sc.Scan() {
				return nil, fmt.Errorf("lock scan output was cut short")
			}
			l.State, l.Problem = Unreadable, fmt.Sprintf("%s cannot be searched or listed (permission denied): whether a lock is there cannot be told", sc.Text())
		default:
			return nil, fmt.Errorf("unexpected record %q in lock scan output", kind)
		}
		locks = append(locks, l)
	}
	if !started || !ended {
		return nil, fmt.Errorf("lock scan output was cut short (is POSIX sh with coreutils on the host?)")
	}
	return locks, nil
}

// Acquire implements Store with Kamal's own commands, in one round trip:
// `mkdir -p <parent>`, then `mkdir <lock> && echo "<base64>" > <lock>/details`.
// When the lock is already there, the same round trip reports its holder.
func (s Remote) Acquire(ctx context.Context, p string, d Details) error {
	args := append([]string{p, parentDir(p), Encode64([]byte(d.Text()))}, auditArgs(ctx)...)
	res, err := s.Runner.Run(ctx, acquireScript, nil, args...)
	if err != nil {
		return err
	}
	switch res.ExitStatus {
	case 0:
		return nil
	case statusHeld:
		locks, perr := ParseScan(res.Stdout)
		if perr != nil || len(locks) == 0 {
			layout, name := classify(p)
			return &HeldError{Lock: Lock{Path: p, Layout: layout, Name: name, State: NoDetails, Problem: "lock appeared and vanished while being read"}}
		}
		return &HeldError{Lock: locks[0]}
	}
	return fmt.Errorf("taking lock %s on %s failed: %s", p, s.Host, firstLine(res.Stderr))
}

// Release implements Store: Kamal's `rm <lock>/details && rm -r <lock>`, run
// only when the details decode to a hookshim hold with this token.
func (s Remote) Release(ctx context.Context, p, token string) error {
	if !ValidToken(token) {
		return fmt.Errorf("%s on %s: token %q is not a hookshim token: %w", p, s.Host, token, ErrNotOurs)
	}
	// Only the first Message: line counts, matched whole: a token that merely
	// appears in the name, the version or a later line proves nothing.
	pattern := "Message: ?(" + AutomaticMessage + " \\()?hookshim [A-Za-z0-9._-]+ hold " + token + "( .*)?"
	res, err := s.Runner.Run(ctx, releaseScript, nil, append([]string{p, pattern}, auditArgs(ctx)...)...)
	if err != nil {
		return err
	}
	switch res.ExitStatus {
	case 0:
		return nil
	case statusGone:
		return fmt.Errorf("%s on %s: %w", p, s.Host, ErrGone)
	case statusNotOurs:
		return fmt.Errorf("%s on %s: %w", p, s.Host, ErrNotOurs)
	}
	return fmt.Errorf("releasing lock %s on %s failed: %s", p, s.Host, firstLine(res.Stderr))
}

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "."
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "no error output"
	}
	return clip(s, 200)
}
