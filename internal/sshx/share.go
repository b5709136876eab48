package sshx

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// DefaultPersist is the ControlPersist of a shared master when
// Client.SharePersist is zero: how long it stays after its last session ends.
// It spans the gaps between one deploy's hooks (pre-build, the build,
// pre-deploy, the app boots, post-deploy) without leaving a connection open
// long after the deploy.
const DefaultPersist = 5 * time.Minute

// maxShareDir is the longest socket directory used: the socket's path
// (directory, '/', 16 hex digits) plus the 17 characters ssh appends while it
// sets the socket up must fit in sun_path (104 bytes on BSDs, 108 on Linux).
const maxShareDir = 104 - 1 - 16 - 17

// ShareDir is the default Client.ShareDir for the local user: hookshim-ssh in
// $XDG_RUNTIME_DIR (a private per-user directory) when getenv gives an
// absolute one short enough for a socket path, else /tmp/hookshim-ssh-UID.
func ShareDir(getenv func(string) string) string {
	if d := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		if d = filepath.Join(d, "hookshim-ssh"); len(d) <= maxShareDir {
			return d
		}
	}
	return "/tmp/hookshim-ssh-" + strconv.Itoa(os.Getuid())
}

// privateDir makes dir (mode 0700) unless it exists, and checks it the way
// OpenSSH checks ~/.ssh: a real directory (not a symlink), owned by this user,
// that no one else may enter or write. Anything else is an error, and sharing
// is then not used.
func privateDir(dir string) error {
	if len(dir) > maxShareDir || !filepath.IsAbs(dir) {
		return fmt.Errorf("%s: not an absolute path of at most %d bytes", dir, maxShareDir)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: not a directory of this user's that only this user may use (mode 0700)", dir)
	}
	return nil
}

// shareKey names t's shared master: everything that makes two connections
// differ (the ssh binary, the config file, the proxy, the options, the
// user, host and port). The directory is the local user's own.
func (c *Client) shareKey(t Target) string {
	h := sha256.New()
	for _, s := range append([]string{c.binary(), c.ConfigFile, c.ProxyJump, t.User, t.Host, strconv.Itoa(t.Port)}, c.Options...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// masterAlive reports whether a ControlMaster listens on sock: it connects and
// reads the hello every OpenSSH master sends first (MUX_MSG_HELLO, OpenSSH
// PROTOCOL.mux). stale is true for a socket file that nothing listens on.
func masterAlive(sock string) (alive, stale bool) {
	conn, err := net.DialTimeout("unix", sock, gTimeout)
	if err != nil {
		return false, errors.Is(err, syscall.ECONNREFUSED)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(gTimeout))
	var hello [12]byte // uint32 length, uint32 type, uint32 version
	if _, err := conn.Read(hello[:]); err != nil {
		return false, true
	}
	return binary.BigEndian.Uint32(hello[4:8]) == 1, false
}

// sharedSocket gives the control socket the ssh of a Run or Command for t
// goes through, starting the shared master when none is up, or "" to connect
// directly (sharing is off, or cannot be set up: then nothing is said, the
// connection is just not shared). An error is an *UnreachableError from
// starting the master, or ctx's.
//
// The user's own ControlPath for t (ssh -G) wins over hookshim's directory:
// a master is started there too, unless their ControlMaster is "no".
func (c *Client) sharedSocket(ctx context.Context, t Target) (sock string, live bool, err error) {
	if c.ShareDir == "" {
		return "", false, nil
	}
	sock, start, persist := c.userControlPath(t)
	if sock == "" {
		if err := privateDir(c.ShareDir); err != nil {
			return "", false, nil
		}
		sock = filepath.Join(c.ShareDir, c.shareKey(t))
	}
	if alive, _ := masterAlive(sock); alive || !start {
		return sock, alive, nil
	}
	if err := privateDir(c.ShareDir); err != nil {
		return "", false, nil
	}
	// One master per socket: two hooks starting at once must not both start
	// one (ssh with ControlMaster=yes on a taken socket warns, connects on its
	// own, and with -N would stay for ever).
	release, ok := startLock(ctx, filepath.Join(c.ShareDir, shareKeyOf(sock)+".lock"))
	if !ok {
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("ssh %s: %w", t, ctx.Err())
		}
		return "", false, nil
	}
	defer release()
	alive, stale := masterAlive(sock)
	if alive {
		return sock, true, nil
	}
	if stale {
		os.Remove(sock) // a master that died left it
	}
	if err := c.startMaster(ctx, t, sock, persist); err != nil {
		return "", false, err
	}
	if alive, _ := masterAlive(sock); !alive {
		return "", false, nil
	}
	return sock, true, nil
}

// startLock takes the lock file at path, which lets one process at a time
// start a master, and release removes the file before it lets go, so that the
// directory does not keep a file for every host and port ever reached. A
// process that was waiting on a file that is then removed finds, once it has
// the lock, that the path is gone or another file: it lets go and tries again
// on the path's new file. ok is false when ctx ends first, or the file cannot
// be locked (then the connection is not shared).
func startLock(ctx context.Context, path string) (release func(), ok bool) {
	for ctx.Err() == nil {
		lock := flock.New(path)
		if ok, err := lock.TryLockContext(ctx, 10*time.Millisecond); !ok || err != nil {
			return nil, false
		}
		held, err := lock.Stat()
		if err != nil {
			lock.Unlock()
			return nil, false
		}
		if onDisk, err := os.Stat(path); err == nil && os.SameFile(held, onDisk) {
			return func() { os.Remove(path); lock.Unlock() }, true
		}
		lock.Unlock()
	}
	return nil, false
}

// shareKeyOf names the lock file of a socket path.
func shareKeyOf(sock string) string {
	sum := sha256.Sum256([]byte(sock))
	return hex.EncodeToString(sum[:8])
}

// startMaster starts a ControlMaster for t on sock that outlives this process
// by ControlPersist and holds none of its descriptors: its own session (no
// signal meant for the caller's process group reaches it), stdin and stdout
// /dev/null, stderr a private unlinked file (read here for the error), and no
// other descriptor. With ControlPersist, ssh forks into the background once it
// has logged in and listens on the socket; the foreground ssh then exits 0.
// A master started implicitly by ControlMaster=auto would instead keep the
// invoking ssh's stderr, and with it the hook's pipes, open: Kamal would wait
// for end-of-file for as long as the master stays.
func (c *Client) startMaster(ctx context.Context, t Target, sock, persist string) error {
	errFile, err := os.CreateTemp(c.ShareDir, "master-*.err")
	if err != nil {
		return nil
	}
	os.Remove(errFile.Name())
	defer errFile.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	defer devnull.Close()
	if persist == "" {
		d := c.SharePersist
		if d <= 0 {
			d = DefaultPersist
		}
		persist = strconv.Itoa(int((d + time.Second - 1) / time.Second))
	}
	args := c.args(t,
		[]string{"ControlMaster=yes", "ControlPath=" + sock, "ControlPersist=" + persist},
		[]string{"-f", "-N"}, true)
	cmd := exec.CommandContext(ctx, c.binary(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("ssh %s: %w", t, ctx.Err())
	}
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 255 {
		return nil // not a connection problem: connect directly instead
	}
	b := make([]byte, 64<<10)
	n, _ := errFile.ReadAt(b, 0)
	return c.unreachable(t, string(b[:n]), time.Since(start))
}

// userControlPath is the ControlPath the user's ssh config sets for t ("" when
// none), whether hookshim may start a master there (their ControlMaster is
// not "no"), and their ControlPersist unless it is "no" ("" then). It costs an `ssh -G` only when a config file mentions
// ControlPath.
func (c *Client) userControlPath(t Target) (sock string, start bool, persist string) {
	if !mentionsKeyword(c.configFiles(), 0, "controlpath") {
		return "", true, ""
	}
	g := c.sshG(t)
	path := g["controlpath"]
	if path == "" || path == "none" {
		return "", true, ""
	}
	if p := g["controlpersist"]; p != "" && p != "no" && p != "0" {
		persist = p
	}
	return path, g["controlmaster"] != "false", persist
}

// sshG is what `ssh -G` says about t with c's config and options: each line's
// keyword (lower case) to the rest of it; nil when it fails. Remembered for
// the life of the process (the config files are not expected to change under
// a running hookshim).
func (c *Client) sshG(t Target) map[string]string {
	args := []string{"-G"}
	for _, o := range c.Options {
		args = append(args, "-o", o)
	}
	if c.ConfigFile != "" {
		args = append(args, "-F", c.ConfigFile)
	}
	if t.User != "" {
		args = append(args, "-l", t.User)
	}
	if t.Port != 0 {
		args = append(args, "-p", strconv.Itoa(t.Port))
	}
	args = append(args, "--", t.Host)
	key := "G\x00" + c.binary() + "\x00" + strings.Join(args, "\x00")
	gMemo.Lock()
	defer gMemo.Unlock()
	if m, ok := gMemo.g[key]; ok {
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), gTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.binary(), args...).Output()
	var m map[string]string
	if err == nil {
		m = map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok {
				if _, seen := m[k]; !seen {
					m[k] = v
				}
			}
		}
	}
	gMemo.g[key] = m
	return m
}
