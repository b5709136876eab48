package install

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/sshx"
)

// DefaultRemoteDir is where Remote puts the binary on a host.
const DefaultRemoteDir = DefaultBinDir

// DefaultParallel bounds how many hosts Remote works on at once.
const DefaultParallel = 8

// Remote pushes a binary to hosts over the system ssh: for each host, the one of
// Binaries built for that host's platform, so that one call provisions a fleet
// of mixed architectures.
//
// Per host it opens one SSH connection and runs two sessions over it: a probe
// (`uname -s -m`, the target directory, the SHA-256 of the binary there now),
// then, only when one of the binaries matches the host's platform and differs
// from the one installed, the push: the binary streams through the session's stdin into a
// temporary file in the target directory, whose size and SHA-256 the host checks
// before chmod 0755 and the rename. A transfer cut short, a checksum that does
// not match or any failed step removes the temporary file (a trap does it when
// the session is killed) and leaves the old binary in place.
type Remote struct {
	Client   *sshx.Client
	Binaries []BinaryFile  // the binaries to choose from, one per platform
	Dir      string        // target directory on the hosts; default DefaultRemoteDir
	Sudo     bool          // run the privileged steps with `sudo -n`
	Parallel int           // hosts at once; default DefaultParallel
	Timeout  time.Duration // bound for each host; 0 for none

	// open opens Binary for the transfer; tests replace it to cut a transfer short.
	open func(name string) (io.ReadCloser, error)
}

// BinaryFile is a binary to install and the platform it is built for (the
// running one's, or what BinaryPlatform reads from its ELF header).
type BinaryFile struct {
	Path     string
	Platform Platform

	sum  string
	size int64
}

// HostResult is the outcome on one host.
type HostResult struct {
	Target   sshx.Target
	Path     string   // the binary's path on the host
	Platform Platform // the host's, once known
	Binary   string   // the local binary chosen for the host
	SHA256   string
	Changed  bool  // false: the same binary was there already
	Err      error // an *exitcode.Error; nil on success
}

// Code is the exit status this host stands for: 0 on success.
func (r HostResult) Code() int { return exitcode.Code(r.Err) }

// String is the one line shown for the host.
func (r HostResult) String() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: failed: %s", r.Target, oneLine(r.Err.Error()))
	case !r.Changed:
		return fmt.Sprintf("%s: %s is already up to date (%s, sha256 %s); nothing to do", r.Target, r.Path, r.Platform, short(r.SHA256))
	}
	return fmt.Sprintf("%s: installed %s (%s, sha256 %s, verified on the host)", r.Target, r.Path, r.Platform, short(r.SHA256))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runner is one host's SSH connection (an *sshx.Conn): it runs a script with
// args as its positional parameters.
type runner interface {
	Run(ctx context.Context, script string, stdin io.Reader, args ...string) (sshx.Result, error)
}

// Push installs the binary on every target, at most r.Parallel at a time, and
// returns one result per target in the order given. each, when not nil, is
// called with every result in that order as soon as it and all before it are
// known, so a caller can print them as they come.
func (r Remote) Push(ctx context.Context, targets []sshx.Target, each func(HostResult)) []HostResult {
	if r.Dir == "" {
		r.Dir = DefaultRemoteDir
	}
	n := r.Parallel
	if n <= 0 {
		n = DefaultParallel
	}
	results := make([]HostResult, len(targets))
	done := make([]chan struct{}, len(targets))
	for i := range done {
		done[i] = make(chan struct{})
	}

	bins := make([]BinaryFile, len(r.Binaries))
	var err error
	for i, b := range r.Binaries {
		bins[i] = b
		bins[i].sum, bins[i].size, err = fileSum(b.Path)
		if err != nil {
			err = fsError(err, exitcode.NoInput, "cannot read binary %s", b.Path)
			break
		}
	}
	if len(bins) == 0 {
		err = exitcode.Newf(exitcode.Usage, "no binary to install")
	}
	r.Binaries = bins
	// At most n hosts at once; each host's failure is in its result, so no
	// error stops the group. Scheduling runs beside the loop below, which
	// hands out the results in order as they come.
	var g errgroup.Group
	g.SetLimit(n)
	go func() {
		for i, t := range targets {
			res := HostResult{Target: t, Path: remotePath(r.Dir)}
			if err != nil {
				res.Err = err
				results[i] = res
				close(done[i])
				continue
			}
			g.Go(func() error {
				defer close(done[i])
				r.pushOne(ctx, &res)
				results[i] = res
				return nil
			})
		}
	}()
	for i := range targets {
		<-done[i]
		if each != nil {
			each(results[i])
		}
	}
	// Every g.Go has been called (each closed its done) before this Wait.
	g.Wait()
	return results
}

// remotePath is dir/hookshim as the host will see it.
func remotePath(dir string) string {
	return strings.TrimSuffix(dir, "/") + "/" + BinaryName
}

// remoteDir turns the directory as given into what the remote shell should use:
// "~/bin" and "~" mean the SSH user's home, where every session starts.
func remoteDir(dir string) string {
	switch {
	case dir == "~":
		return "."
	case strings.HasPrefix(dir, "~/"):
		return "./" + strings.TrimPrefix(dir, "~/")
	}
	return dir
}

func (r Remote) pushOne(ctx context.Context, res *HostResult) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	conn, err := r.Client.Dial(ctx, res.Target)
	if err != nil {
		res.Err = sshError(ctx, err, res.Target, r.Timeout)
		return
	}
	defer conn.Close()
	res.Err = r.install(ctx, conn, res)
}

// install probes the host over conn and pushes the binary when it is needed.
func (r Remote) install(ctx context.Context, conn runner, res *HostResult) error {
	dir := remoteDir(r.Dir)
	pr, err := r.probe(ctx, conn, dir)
	if err != nil {
		return sshError(ctx, err, res.Target, r.Timeout)
	}
	res.Platform = pr.platform
	bin, err := r.pick(pr)
	if err != nil {
		return err
	}
	res.Binary, res.SHA256 = bin.Path, bin.sum
	if err := r.placeProblem(pr, res); err != nil {
		return err
	}
	if pr.sum == res.SHA256 && pr.exec {
		return nil
	}
	if pr.write != "" && pr.write != "ok" && !r.Sudo {
		if strings.Contains(pr.write, "ead-only file system") {
			return exitcode.Newf(exitcode.CantCreate, "%s on the host is on a read-only file system; nothing was changed", r.Dir).
				WithHint("choose another --bin-dir")
		}
		return exitcode.Newf(exitcode.NoPerm, "the SSH user cannot write to %s on the host (%s); nothing was changed", r.Dir, pr.write).
			WithHint("pass --sudo to write it with 'sudo -n' (needs passwordless sudo), or choose another --bin-dir")
	}

	open := r.open
	if open == nil {
		open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	f, err := open(bin.Path)
	if err != nil {
		return fsError(err, exitcode.NoInput, "cannot read binary %s", bin.Path)
	}
	defer f.Close()
	script, args := pushScript, []string{dir, bin.sum, strconv.FormatInt(bin.size, 10)}
	if r.Sudo {
		script, args = sudoScript, append([]string{pushScript}, args...)
	}
	src := &errReader{r: f}
	out, err := conn.Run(ctx, script, src, args...)
	if err == nil && src.err != nil {
		err = src.err // ssh reports the script's exit, not the failed read
	}
	if err != nil {
		var ue *sshx.UnreachableError
		if errors.As(err, &ue) || ctx.Err() != nil {
			// The connection dropped (69): the host's script removes its
			// temporary file, and renames only a complete, verified binary.
			e := exitcode.New(exitcode.Unavailable, fmt.Errorf("the transfer was interrupted: %w; nothing is half-installed", sshError(ctx, err, res.Target, r.Timeout)))
			return e.WithHint("run the install again: it does nothing on hosts that have the binary already")
		}
		// ssh ran, but sending the binary failed on this side.
		host := ""
		if out.ExitStatus != 0 {
			host = " (on the host: " + stderrText(out.Stderr) + ")"
		}
		return exitcode.Newf(exitcode.IOErr, "the transfer was interrupted: reading %s: %v%s; the old binary is unchanged", bin.Path, errText(err), host)
	}
	if code, ok := pushFailure(out, r.Sudo); ok {
		return code
	}
	got := strings.TrimSpace(string(out.Stdout))
	if got != "ok "+res.SHA256 {
		return exitcode.Newf(exitcode.IOErr, "the host did not confirm the install (exit status %d, output %q, %s)",
			out.ExitStatus, got, stderrText(out.Stderr))
	}
	res.Changed = true
	return nil
}

// placeProblem is what the probe found in the way of res.Path: --bin-dir
// missing or not a directory, a directory or a foreign symlink at the path.
func (r Remote) placeProblem(pr probeResult, res *HostResult) error {
	switch pr.dir {
	case "missing":
		return exitcode.Newf(exitcode.CantCreate, "%s does not exist on the host", r.Dir).
			WithHint("create it there first, or choose another --bin-dir")
	case "notdir":
		return exitcode.Newf(exitcode.CantCreate, "%s on the host is not a directory", r.Dir)
	}
	switch pr.dst {
	case "dir":
		return exitcode.Newf(exitcode.CantCreate, "%s on the host is a directory; hookshim will not replace it", res.Path)
	case "link":
		if pr.sum != res.SHA256 {
			return exitcode.Newf(exitcode.CantCreate, "%s on the host is a symlink; hookshim will not replace a link", res.Path).
				WithHint("remove the link on the host, or choose another --bin-dir")
		}
	}
	return nil
}

// pick chooses the binary built for the host's platform.
func (r Remote) pick(pr probeResult) (BinaryFile, error) {
	var have []string
	for _, b := range r.Binaries {
		if b.Platform == pr.platform {
			return b, nil
		}
		have = append(have, b.Platform.String())
	}
	what := "the binary is " + strings.Join(have, "")
	if len(have) > 1 {
		what = "no binary given is for it (" + strings.Join(have, ", ") + ")"
	}
	return BinaryFile{}, exitcode.Newf(exitcode.DataErr, "host is %s (uname: %s) but %s; nothing was changed",
		pr.platform, pr.uname, what).
		WithHint("add a %s build with --binary (see the README's cross-build)", pr.platform)
}

// probeResult is what the probe learnt about a host.
type probeResult struct {
	uname    string
	platform Platform
	dir      string // ok, missing, notdir
	write    string // "ok", or why no file can be created in dir ("" when not tried)
	dst      string // none, file, dir, link
	exec     bool   // the binary there is executable
	sum      string // its SHA-256, or ""
}

// The scripts run on the hosts, constants with no Go value in them: every
// value reaches them as a positional parameter.
var (
	// probeScript takes DIR and reports the host's platform, the target
	// directory and the binary in it, one "key: value" line each. To learn
	// whether (and why not) a file can be made in the directory, it creates
	// and at once removes an empty temporary file there; it changes nothing
	// else.
	//
	//go:embed probe.sh
	probeScript string

	// pushScript takes DIR SHA256 SIZE, receives the binary on stdin and
	// installs it as DIR/hookshim when its size and SHA-256 are the ones
	// expected. The temporary file is removed on every path out, including
	// signals; on success the script prints "ok SHA256".
	//
	//go:embed push.sh
	pushScript string
)

// sudoScript takes a script and its arguments and runs it under `sudo -n sh -c`.
const sudoScript = `s=$1; shift; exec sudo -n sh -c "$s" sh "$@"
`

func (r Remote) probe(ctx context.Context, conn runner, dir string) (probeResult, error) {
	out, err := conn.Run(ctx, probeScript, nil, dir)
	if err != nil {
		return probeResult{}, err
	}
	if out.ExitStatus != 0 {
		return probeResult{}, exitcode.Newf(exitcode.IOErr, "probing the host failed (exit status %d): %s", out.ExitStatus, stderrText(out.Stderr))
	}
	var pr probeResult
	for _, line := range strings.Split(string(out.Stdout), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "uname":
			pr.uname = strings.TrimSpace(v)
		case "dir":
			pr.dir = v
		case "write":
			pr.write = strings.TrimSpace(v)
		case "dst":
			pr.dst = v
		case "exec":
			pr.exec = v == "yes"
		case "sha256":
			pr.sum = strings.TrimSpace(v)
		}
	}
	p, err := ParseUname(pr.uname)
	if err != nil {
		return pr, exitcode.Newf(exitcode.IOErr, "probing the host: %v", err)
	}
	pr.platform = p
	return pr, nil
}

// Exit statuses of pushScript, each a distinct failure (push.sh holds the
// numbers; TestScriptsAgreeWithGo checks them).
const (
	pushNoDir     = 91 // the target directory is missing or is not one
	pushNoTemp    = 92 // no temporary file could be made in it
	pushShort     = 93 // the stream ended early or could not be written
	pushMismatch  = 94 // the SHA-256 on the host differs
	pushNoSum     = 95 // neither sha256sum nor shasum on the host
	pushNoRename  = 96 // chmod or the rename failed
	pushNotFile   = 97 // a directory or a symlink is where the binary goes
	pushInterrupt = 98 // a signal ended the session
)

// pushFailure maps a failed push's exit status to an error.
func pushFailure(out sshx.Result, sudo bool) (*exitcode.Error, bool) {
	msg := stderrText(out.Stderr)
	switch out.ExitStatus {
	case 0:
		return nil, false
	case pushNoDir, pushNotFile:
		return exitcode.Newf(exitcode.CantCreate, "%s", msg), true
	case pushNoTemp:
		if strings.Contains(msg, "ermission denied") {
			return exitcode.Newf(exitcode.NoPerm, "%s", msg).
				WithHint("pass --sudo to write it with 'sudo -n', or choose another --bin-dir"), true
		}
		return exitcode.Newf(exitcode.CantCreate, "%s", msg), true
	case pushShort:
		return exitcode.Newf(exitcode.IOErr, "%s; the old binary is unchanged", msg), true
	case pushMismatch:
		return exitcode.Newf(exitcode.IOErr, "%s; the old binary is unchanged", msg).
			WithHint("the binary was damaged on its way, or changed while it was sent: run the install again"), true
	case pushNoSum:
		return exitcode.Newf(exitcode.Unavailable, "%s on the host; nothing was changed", msg).
			WithHint("install coreutils (sha256sum) on the host"), true
	case pushNoRename:
		return exitcode.Newf(exitcode.CantCreate, "%s; the old binary is unchanged", msg), true
	case pushInterrupt:
		return exitcode.Newf(exitcode.IOErr, "the session was interrupted on the host; the old binary is unchanged"), true
	}
	if strings.HasPrefix(msg, "sudo:") {
		return exitcode.Newf(exitcode.NoPerm, "%s", msg).
			WithHint("--sudo needs passwordless sudo for the SSH user on the host (sudo -n)"), true
	}
	if out.ExitStatus == 127 && sudo {
		return exitcode.Newf(exitcode.Unavailable, "sudo is not installed on the host").
			WithHint("drop --sudo, or install sudo on the host"), true
	}
	if out.ExitStatus == 127 {
		return exitcode.Newf(exitcode.Unavailable, "a command is missing on the host (exit status 127): %s", msg), true
	}
	return exitcode.Newf(exitcode.IOErr, "installing on the host failed (exit status %d): %s", out.ExitStatus, msg), true
}

// sshError turns an error from ssh into an *exitcode.Error: an unreachable host
// or a timeout is 69.
func sshError(ctx context.Context, err error, t sshx.Target, timeout time.Duration) error {
	var ee *exitcode.Error
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && timeout > 0 {
		return exitcode.Newf(exitcode.Unavailable, "no answer from %s within --timeout %s", t, timeout)
	}
	var ue *sshx.UnreachableError
	if errors.As(err, &ue) {
		return exitcode.New(exitcode.Unavailable, err).
			WithHint("check that `%s` works from here (hookshim runs ssh with BatchMode=yes: no prompts)", ue.CheckCommand())
	}
	if ctx.Err() != nil {
		return exitcode.New(exitcode.Unavailable, fmt.Errorf("ssh %s: %w", t, ctx.Err()))
	}
	return exitcode.New(exitcode.Unavailable, err)
}

// stderrText is a remote command's stderr as one line, at most 400 bytes.
func stderrText(b []byte) string {
	s := oneLine(string(b))
	if s == "" {
		return "no message"
	}
	if len(s) > 400 {
		s = strings.ToValidUTF8(s[:400], "") + "..."
	}
	return s
}

// fileSum returns the hex SHA-256 and the size of the file at path.
func fileSum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// errReader remembers the first error reading r gave, other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
