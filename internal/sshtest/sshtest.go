// Package sshtest starts real OpenSSH servers on loopback addresses for tests, each
// host with its own stand-in home directory and a log of the commands it ran.
//
// In a test:
//
//	h := sshtest.Start(t, sshtest.Options{})          // or hosts := sshtest.StartN(t, 3)
//	res, err := h.Client.Run(ctx, h.Target, "mkdir .kamal", nil)
//	// the directory is now h.Home/.kamal; h.Commands(t) lists what ran
//
// Code under test that builds its own sshx.Client uses h.ConfigFile as its
// ConfigFile, and h.Target (or h.Target.String()) as the host. Everything stops
// and is removed when the test ends.
//
// Each Host listens on a loopback port this package holds, and every connection
// is served by its own `sshd -i` (inetd mode) with the host's sshd_config. Holding
// the listener means no free-port race and no waiting for sshd to come up, and it
// makes Stop exact: it closes the listener (new connections are refused) and kills
// the sshd serving every open connection (they drop).
//
// Every session runs a ForceCommand script (through the user's login shell, with
// HOME already set to Host.Home, so no startup file of the real home is read): it
// logs the command, then runs it with /bin/sh -c in Host.Home (Options.HostBin
// first in PATH). The SSH user is the one running the tests: root in CI, where
// sshd runs with privilege separation; any other user with a POSIX login shell
// works too (sshd then lets in only that user).
package sshtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/sshx"
)

const sshdPath = "/usr/sbin/sshd"

// installHint ends every message about a missing OpenSSH program.
const installHint = "run ./test.sh, which installs openssh-server and openssh-client"

// Options configures Start.
type Options struct {
	// Addr is the loopback address to listen on: default 127.0.0.1; it must be in
	// 127.0.0.0/8.
	Addr string
	// RejectKey makes the server accept no key, so authentication fails.
	RejectKey bool
	// HostBin, when set, is put first in PATH for the commands run on the host
	// (a fake uname, say).
	HostBin string
	// FreshClient makes the client side what a fresh CI runner has: ConfigFile
	// sets no StrictHostKeyChecking (OpenSSH's default applies, unless the
	// client passes one) and KnownHosts starts empty.
	FreshClient bool
	// User, when set, is the SSH user instead of the one running the tests: a
	// user with a POSIX login shell (see UnprivilegedUser). Home is then owned
	// by it, and the host's own files readable by it. Only root can do this.
	User string
	// Noise, when set, is printed on stdout by every session before its
	// command runs, as a login shell's rc file or motd may do; no newline is
	// added.
	Noise string
}

// Host is one running SSH server.
type Host struct {
	Addr string
	Port int
	// Home stands in for the SSH user's home: the working directory and $HOME of
	// every session on this host.
	Home string
	// Target is Addr and Port with the current user.
	Target sshx.Target
	// ConfigFile is a client ssh_config for this host (for StartN, for all of
	// them): identity, known host key, strict host key checking, nothing else.
	ConfigFile string
	// Client is ready to use: ConfigFile set, ConnectTimeout 5s.
	Client *sshx.Client
	// KnownHosts is the known_hosts file ConfigFile names (UserKnownHostsFile).
	// It holds this host's key, unless Options.FreshClient.
	KnownHosts string

	t          testing.TB
	keys       *keySet
	dir        string // this host's private files
	sshdConfig string
	cmdLog     string
	sshdLog    *os.File // shared stderr of every sshd of this host, O_APPEND

	mu    sync.Mutex
	ln    net.Listener       // nil while stopped
	procs map[*exec.Cmd]bool // sshd processes serving connections
	idle  chan struct{}      // closed while procs is empty
	wg    sync.WaitGroup     // the accept loop and one per connection
}

// keySet is what hosts started together share: one client key, one host key, one
// known_hosts and one client config.
type keySet struct {
	dir        string
	userKey    string // private key file; .pub beside it
	hostKey    string
	hostPub    string // "ssh-ed25519 AAAA..."
	knownHosts string
	config     string
	user       string
	fresh      bool // Options.FreshClient
}

// Start starts one SSH server. It is stopped and its files removed when the test
// ends. Anything wrong fails the test.
func Start(t testing.TB, opts Options) *Host {
	t.Helper()
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1"
	}
	checkLoopback(t, addr)
	ks := newKeySet(t)
	ks.fresh = opts.FreshClient
	if opts.User != "" {
		ks.user = opts.User
	}
	h := newHost(t, ks, addr, opts)
	ks.writeClientConfig(t, []*Host{h})
	return h
}

// StartN starts n SSH servers on 127.0.0.1, 127.0.0.2, ... 127.0.0.n, each with
// its own Home, all reachable with one client config file (every Host.ConfigFile
// is that file).
func StartN(t testing.TB, n int) []*Host {
	t.Helper()
	if n < 1 || n > 254 {
		t.Fatalf("sshtest.StartN: n = %d, want 1 to 254", n)
	}
	ks := newKeySet(t)
	hosts := make([]*Host, n)
	for i := range hosts {
		hosts[i] = newHost(t, ks, fmt.Sprintf("127.0.0.%d", i+1), Options{})
	}
	ks.writeClientConfig(t, hosts)
	return hosts
}

func checkLoopback(t testing.TB, addr string) {
	t.Helper()
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() || a.As4()[0] != 127 {
		t.Fatalf("sshtest: address %q is not in 127.0.0.0/8; tests listen on loopback only", addr)
	}
}

// requireOpenSSH fails the test when an OpenSSH program it needs is missing.
func requireOpenSSH(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("sshtest: %s not found; %s", sshdPath, installHint)
	}
	for _, prog := range []string{"ssh-keygen", "ssh"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("sshtest: %s not found in PATH; %s", prog, installHint)
		}
	}
}

// tempDir makes a directory under the system temp dir (short paths with no odd
// characters, unlike t.TempDir's, which go into sshd_config lines), removed when
// the test ends.
func tempDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, r := range dir {
		if !(r == '/' || r == '.' || r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			t.Fatalf("sshtest: temp dir %q has characters sshd_config cannot take; set TMPDIR to a plain path", dir)
		}
	}
	return dir
}

func newKeySet(t testing.TB) *keySet {
	t.Helper()
	requireOpenSSH(t)
	u, err := user.Current()
	name := ""
	if err == nil {
		name = u.Username
	} else {
		name = os.Getenv("USER")
	}
	if name == "" {
		t.Fatalf("sshtest: cannot tell the current user's name: %v", err)
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation needs this directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	dir := tempDir(t, "sshtest")
	ks := &keySet{
		dir:        dir,
		userKey:    filepath.Join(dir, "id_ed25519"),
		hostKey:    filepath.Join(dir, "host_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts"),
		config:     filepath.Join(dir, "ssh_config"),
		user:       name,
	}
	for _, key := range []string{ks.userKey, ks.hostKey} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshtest", "-f", key).CombinedOutput()
		if err != nil {
			t.Fatalf("sshtest: ssh-keygen: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	pub, err := os.ReadFile(ks.hostKey + ".pub")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	f := strings.Fields(string(pub))
	if len(f) < 2 {
		t.Fatalf("sshtest: odd host public key %q", pub)
	}
	ks.hostPub = f[0] + " " + f[1]
	return ks
}

// writeClientConfig writes known_hosts and the client config covering hosts.
func (ks *keySet) writeClientConfig(t testing.TB, hosts []*Host) {
	t.Helper()
	var kh strings.Builder
	for _, h := range hosts {
		if !ks.fresh {
			fmt.Fprintf(&kh, "[%s]:%d %s\n", h.Addr, h.Port, ks.hostPub)
		}
	}
	writeFile(t, ks.knownHosts, kh.String(), 0o600)
	strict := "StrictHostKeyChecking yes\n"
	if ks.fresh {
		strict = ""
	}
	cfg := fmt.Sprintf(`# written by sshtest for a test's own sshd
Host *
	IdentityFile %s
	IdentitiesOnly yes
	IdentityAgent none
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	UpdateHostKeys no
	CheckHostIP no
	%s`, ks.userKey, ks.knownHosts, strict)
	writeFile(t, ks.config, cfg, 0o600)
	for _, h := range hosts {
		h.ConfigFile = ks.config
		h.KnownHosts = ks.knownHosts
		h.Client = &sshx.Client{ConfigFile: ks.config, ConnectTimeout: 5 * time.Second}
	}
}

func writeFile(t testing.TB, name, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), perm); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}

func newHost(t testing.TB, ks *keySet, addr string, opts Options) *Host {
	t.Helper()
	dir := tempDir(t, "sshhost")
	h := &Host{
		Addr:       addr,
		Home:       filepath.Join(dir, "home"),
		t:          t,
		keys:       ks,
		dir:        dir,
		sshdConfig: filepath.Join(dir, "sshd_config"),
		cmdLog:     filepath.Join(dir, "commands"),
		procs:      map[*exec.Cmd]bool{},
		idle:       make(chan struct{}),
	}
	close(h.idle)
	if err := os.Mkdir(h.Home, 0o700); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	writeFile(t, h.cmdLog, "", 0o600)

	authorized := writeAuthorizedKeys(t, ks, dir, opts.RejectKey)
	if opts.User != "" {
		ownForUser(t, opts.User, h.Home, dir, authorized, h.cmdLog)
	}
	hostshell := writeHostShell(t, h, opts)
	writeSSHDConfig(t, h, ks, authorized, hostshell)
	if out, err := exec.Command(sshdPath, "-t", "-f", h.sshdConfig).CombinedOutput(); err != nil {
		t.Fatalf("sshtest: sshd rejects its config: %v: %s", err, bytes.TrimSpace(out))
	}

	logf, err := os.OpenFile(filepath.Join(dir, "sshd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	h.sshdLog = logf

	ln, err := net.Listen("tcp4", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("sshtest: listening on %s: %v", addr, err)
	}
	h.Port = ln.Addr().(*net.TCPAddr).Port
	h.Target = sshx.Target{User: ks.user, Host: addr, Port: h.Port}
	h.serve(ln)

	t.Cleanup(func() {
		h.Stop()
		logf.Close()
		if t.Failed() {
			t.Logf("sshtest: sshd log of %s:\n%s", h.Target, h.log())
		}
	})
	return h
}

// writeAuthorizedKeys writes the host's authorized_keys (the user key, or
// nothing when the host is to reject it) and returns its path.
func writeAuthorizedKeys(t testing.TB, ks *keySet, dir string, reject bool) string {
	authorized := filepath.Join(dir, "authorized_keys")
	keys := ""
	if !reject {
		pub, err := os.ReadFile(ks.userKey + ".pub")
		if err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		keys = string(pub)
	}
	writeFile(t, authorized, keys, 0o600)
	return authorized
}

// ownForUser opens the host's files to another login user: sshd reads
// authorized_keys, and the session runs the hostshell and logs to cmdLog, as
// that user.
func ownForUser(t testing.TB, user, home, dir, authorized, cmdLog string) {
	uid, gid := lookupIDs(t, user)
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{dir, 0o755}, {authorized, 0o644}, {cmdLog, 0o666}} {
		if err := os.Chmod(f.name, f.mode); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatalf("sshtest: a host for user %s needs root: %v", user, err)
	}
}

// writeHostShell writes the ForceCommand every session runs and returns its
// path. The command goes to the log NUL-terminated, so that commands spanning
// lines survive. No command at all (ssh without one) reads a script from
// stdin, as a login shell would.
func writeHostShell(t testing.TB, h *Host, opts Options) string {
	path := ""
	if opts.HostBin != "" {
		path = `PATH=` + sshx.Quote(opts.HostBin) + `:"$PATH"; export PATH` + "\n"
	}
	noise := ""
	if opts.Noise != "" {
		noise = "printf '%s' " + sshx.Quote(opts.Noise) + "\n"
	}
	hostshell := filepath.Join(h.dir, "hostshell")
	writeFile(t, hostshell, `#!/bin/sh
printf '%s\0' "${SSH_ORIGINAL_COMMAND-}" >>`+sshx.Quote(h.cmdLog)+`
cd `+sshx.Quote(h.Home)+` || exit 1
HOME=`+sshx.Quote(h.Home)+`; export HOME
`+path+noise+`if [ -z "${SSH_ORIGINAL_COMMAND-}" ]; then exec /bin/sh; fi
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
`, 0o755)
	return hostshell
}

// writeSSHDConfig writes the sshd_config every `sshd -i` of this host reads.
func writeSSHDConfig(t testing.TB, h *Host, ks *keySet, authorized, hostshell string) {
	writeFile(t, h.sshdConfig, SSHDConfig("written by sshtest", ks.hostKey, authorized, ks.user, h.Home, hostshell), 0o600)
}

// SSHDConfig is the sshd_config of a throwaway loopback host served by
// `sshd -i` (one per connection): key authentication only, for user alone,
// with home as HOME and every session running forceCommand. who goes into its
// first comment line. The examples' sandbox uses it too.
func SSHDConfig(who, hostKey, authorizedKeys, user, home, forceCommand string) string {
	return fmt.Sprintf(`# %s; each connection is served by sshd -i with this file
HostKey %s
AuthorizedKeysFile %s
AuthorizedPrincipalsFile none
AllowUsers %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PermitUserRC no
PermitUserEnvironment no
PrintMotd no
PrintLastLog no
UseDNS no
MaxSessions 100
PidFile none
LogLevel VERBOSE
# HOME for the login shell too, so it reads no startup files from the real home
# (bash reads ~/.bashrc when run by sshd).
SetEnv HOME=%s
# A classic key exchange: the post-quantum default costs ~100 ms of CPU a connection.
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
ForceCommand %s
`, who, hostKey, authorizedKeys, user, home, forceCommand)
}

// serve starts accepting connections on ln.
func (h *Host) serve(ln net.Listener) {
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed by Stop
			}
			h.handle(ln, conn.(*net.TCPConn))
		}
	}()
}

// handle starts an sshd -i for conn, unless the host was stopped meanwhile.
func (h *Host) handle(ln net.Listener, conn *net.TCPConn) {
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		fmt.Fprintf(h.sshdLog, "sshtest: %v\n", err)
		return
	}
	defer f.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln != ln {
		return
	}
	cmd := exec.Command(sshdPath, "-i", "-e", "-f", h.sshdConfig)
	cmd.Stdin = f
	cmd.Stdout = f
	cmd.Stderr = h.sshdLog
	// Its own process group: Stop kills the connection's monitor and its
	// privilege-separated child together (sessions are in sessions of their own).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(h.sshdLog, "sshtest: starting sshd: %v\n", err)
		return
	}
	if len(h.procs) == 0 {
		h.idle = make(chan struct{})
	}
	h.procs[cmd] = true
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		cmd.Wait()
		h.mu.Lock()
		delete(h.procs, cmd)
		if len(h.procs) == 0 {
			close(h.idle)
		}
		h.mu.Unlock()
	}()
}

// Stop stops the server: new connections are refused and open ones drop. It
// returns once every sshd of this host has exited. Stopping a stopped host does
// nothing.
func (h *Host) Stop() {
	h.mu.Lock()
	ln := h.ln
	h.ln = nil
	if ln != nil {
		ln.Close()
		for cmd := range h.procs {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// Restart starts a stopped server again on the same address and port, with the
// same keys and Home. It fails the test that started the host if the port cannot
// be had again. Restarting a running host does nothing.
func (h *Host) Restart() {
	h.t.Helper()
	h.mu.Lock()
	running := h.ln != nil
	h.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(h.Addr, fmt.Sprint(h.Port)))
	if err != nil {
		h.t.Fatalf("sshtest: restarting %s: %v", h.Target, err)
	}
	h.serve(ln)
}

// Connections is the number of connections open to this host right now (the sshd
// processes serving them that have not exited).
func (h *Host) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.procs)
}

// WaitIdle waits until no connection to this host is left open (every sshd serving
// one has exited: the clients are gone), and fails t if that takes longer than
// timeout. It shows that a client left nothing behind.
func (h *Host) WaitIdle(t testing.TB, timeout time.Duration) {
	t.Helper()
	h.mu.Lock()
	idle := h.idle
	h.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
		t.Fatalf("sshtest: %d connection(s) to %s still open after %v", h.Connections(), h.Target, timeout)
	}
}

// Commands returns every command this host's sessions ran so far, in order: the
// exact SSH_ORIGINAL_COMMAND strings ("" for a session without one).
func (h *Host) Commands(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(h.cmdLog)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if len(b) == 0 {
		return nil
	}
	cmds := strings.Split(string(b), "\x00")
	return cmds[:len(cmds)-1] // the last NUL ends the last command
}

// Logins counts the successful logins (sshd's "Accepted publickey" lines) on this
// host so far: one per SSH connection, however many sessions went over it.
func (h *Host) Logins(t testing.TB) int {
	t.Helper()
	return strings.Count(h.log(), "Accepted publickey for ")
}

// Log returns what this host's sshd processes logged so far.
func (h *Host) Log(t testing.TB) string {
	t.Helper()
	return h.log()
}

func (h *Host) log() string {
	b, err := os.ReadFile(filepath.Join(h.dir, "sshd.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("(cannot read the sshd log: %v)", err)
	}
	return string(b)
}

// ClosedTarget returns a loopback address and port where nothing listens: a
// connection is refused at once. The port stays bound (never listening) until the
// test ends, so nothing else can take it meanwhile.
func ClosedTarget(t testing.TB) sshx.Target {
	t.Helper()
	// Darwin has no SOCK_CLOEXEC: set close-on-exec under ForkLock, as the net
	// package does there, so that no child started meanwhile inherits the port.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return sshx.Target{User: currentUser(), Host: "127.0.0.1", Port: sa.(*syscall.SockaddrInet4).Port}
}

// SilentTarget returns a loopback address and port that accepts TCP connections
// and never says a word, as a host behind a broken network path would: ssh gives
// up after its connect timeout ("Connection timed out during banner exchange").
func SilentTarget(t testing.TB) sshx.Target {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	// Never accepted: the kernel completes the handshakes into the backlog.
	t.Cleanup(func() { ln.Close() })
	return sshx.Target{User: currentUser(), Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
}

// BannerThenSilentTarget returns a loopback address and port that accepts a
// connection, sends an SSH banner and then never says another word, as a
// server that hangs in the key exchange would: ssh gives up after
// ServerAliveInterval x ServerAliveCountMax, not after its ConnectTimeout.
func BannerThenSilentTarget(t testing.TB) sshx.Target {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			c.Write([]byte("SSH-2.0-OpenSSH_9.2 sshtest-silent\r\n"))
			wg.Add(1)
			go func() { // read and drop what the client sends, until it leaves
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return sshx.Target{User: currentUser(), Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
}

// unprivilegedName is the user UnprivilegedUser makes.
const unprivilegedName = "hookshim-test"

var unprivilegedMu sync.Mutex

// UnprivilegedUser returns the name of a user that is not root and has /bin/sh
// as its login shell (nobody has none) and a login sshd allows (password "*",
// not locked "!"), creating the system user
// "hookshim-test" (no home) if it does not exist. It needs root.
func UnprivilegedUser(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("sshtest: another user is needed, and only root can make one and log in as it (./test.sh runs as root in CI)")
	}
	unprivilegedMu.Lock()
	defer unprivilegedMu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := user.Lookup(unprivilegedName); err == nil {
			return unprivilegedName
		}
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/bin/sh", "--user-group", "--password", "*", unprivilegedName).CombinedOutput()
		if err == nil {
			return unprivilegedName
		}
		// 9: made meanwhile by another test process; 10: /etc/passwd is
		// locked by one: look again.
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 9 && ee.ExitCode() != 10 || time.Now().After(deadline) {
			t.Fatalf("sshtest: useradd %s: %v: %s", unprivilegedName, err, bytes.TrimSpace(out))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lookupIDs(t testing.TB, name string) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
