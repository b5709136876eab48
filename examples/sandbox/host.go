package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hookshim/hookshim/internal/sshtest"
)

// The host process: a real OpenSSH sshd on loopback standing in for the
// project's one server, web1, done as internal/sshtest does it (which needs a
// testing.TB). It holds a listener on 127.0.0.1, port 0 (so no free-port race
// and nothing to wait for), and serves every connection with its own
// `sshd -i` (inetd mode) and sshd_config.
//
// It runs as a process of its own, in its own process group, so that it can
// clean up whatever happens to the sandbox: it serves until its standard input
// (a pipe whose only writer is the sandbox) reaches end-of-file, which it does
// when the sandbox closes it and when the sandbox dies, SIGKILL included; or
// until it gets SIGINT, SIGTERM or SIGHUP itself. Then it stops the deferred
// hooks' waiters, kills every sshd it started (so the SSH connections that
// hookshim shares between hooks drop and their masters exit) and removes the
// sandbox's whole directory.

const sshdPath = "/usr/sbin/sshd"

// hostArg is the hidden first argument that makes the sandbox binary the host
// process: sandbox hostArg DIR.
const hostArg = "--serve-host"

// Paths inside the sandbox directory DIR.
const (
	sshDir   = "ssh"      // keys, client and server configs, sshd's log
	hostHome = "host"     // web1's home: the SSH user's home on the server
	stateDir = "state"    // hookshim's state dir (deferred hooks)
	hostBin  = "host-bin" // web1's own bin directory: hookshim only
)

// hostName is the server's name in deploy.yml and in the client ssh_config.
const hostName = "web1"

// serveHost is the host process's main: it prints "ready PORT\n" on standard
// output once sshd can be reached, then serves until told to stop, and cleans
// up. It returns the process's exit status.
func serveHost(dir string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	h := &host{dir: dir, procs: map[*exec.Cmd]bool{}}
	defer h.cleanup()
	if err := h.setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox: web1:", err)
		return 1
	}
	fmt.Printf("ready %d\n", h.port)
	os.Stdout.Close()
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-stop:
	}
	return 0
}

type host struct {
	dir  string
	port int
	log  *os.File // every sshd's stderr

	mu    sync.Mutex
	ln    net.Listener
	procs map[*exec.Cmd]bool
	wg    sync.WaitGroup
}

// setUp makes the keys and configs and starts listening.
func (h *host) setUp() error {
	ssh := filepath.Join(h.dir, sshDir)
	for _, d := range []string{ssh, filepath.Join(h.dir, hostHome), filepath.Join(h.dir, hostBin)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	// The hookshim the sandbox builds into DIR/bin, once it has.
	if err := os.Symlink(filepath.Join("..", "bin", "hookshim"), filepath.Join(h.dir, hostBin, "hookshim")); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation needs it.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return err
		}
	}
	for _, key := range []string{"id_ed25519", "host_ed25519"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hookshim-sandbox", "-f", filepath.Join(ssh, key)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ssh-keygen: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	if err := copyFile(filepath.Join(ssh, "id_ed25519.pub"), filepath.Join(ssh, "authorized_keys")); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening on 127.0.0.1: %v", err)
	}
	h.ln = ln
	h.port = ln.Addr().(*net.TCPAddr).Port
	if err := h.writeConfigs(ssh); err != nil {
		return err
	}
	if out, err := exec.Command(sshdPath, "-t", "-f", filepath.Join(ssh, "sshd_config")).CombinedOutput(); err != nil {
		return fmt.Errorf("sshd rejects its config: %v: %s", err, bytes.TrimSpace(out))
	}
	if h.log, err = os.OpenFile(filepath.Join(ssh, "sshd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return err
	}
	h.wg.Add(1)
	go h.accept(ln)
	return nil
}

// writeConfigs writes known_hosts, the client's ssh_config (web1 is
// 127.0.0.1 on h.port; nothing of ~/.ssh is read or written), the session
// script and sshd_config.
func (h *host) writeConfigs(ssh string) error {
	pub, err := os.ReadFile(filepath.Join(ssh, "host_ed25519.pub"))
	if err != nil {
		return err
	}
	f := strings.Fields(string(pub))
	if len(f) < 2 {
		return fmt.Errorf("odd host key %q", pub)
	}
	home := filepath.Join(h.dir, hostHome)
	files := []struct {
		name, text string
		mode       os.FileMode
	}{
		{"known_hosts", fmt.Sprintf("[127.0.0.1]:%d %s %s\n", h.port, f[0], f[1]), 0o600},
		{"ssh_config", fmt.Sprintf(`# web1 is the sandbox's sshd on loopback (examples/sandbox)
Host %s
	HostName 127.0.0.1
	Port %d
	IdentityFile %s
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	CheckHostIP no
	PasswordAuthentication no
	KbdInteractiveAuthentication no
`, hostName, h.port, filepath.Join(ssh, "id_ed25519"), filepath.Join(ssh, "known_hosts")), 0o600},
		// Every session starts in web1's home with HOME set to it, and runs its
		// command with /bin/sh, as on a server whose login shell is sh. The
		// sandbox's hookshim is on its PATH (web1 is this machine), as after
		// `hookshim install --ssh`, so that a deferred hook's waiter watches
		// the lock with `hookshim watch` there instead of polling; kamal is
		// not, as on a real server.
		{"session", `#!/bin/sh
cd ` + shQuote(home) + ` || exit 1
HOME=` + shQuote(home) + `; export HOME
PATH=` + shQuote(filepath.Join(h.dir, hostBin)) + `:$PATH; export PATH
if [ -z "${SSH_ORIGINAL_COMMAND-}" ]; then exec /bin/sh -l; fi
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
`, 0o755},
		{"sshd_config", sshtest.SSHDConfig("the sandbox's web1", filepath.Join(ssh, "host_ed25519"), filepath.Join(ssh, "authorized_keys"), currentUser(), home, filepath.Join(ssh, "session")), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(ssh, f.name), []byte(f.text), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func (h *host) accept(ln net.Listener) {
	defer h.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return // closed by cleanup
		}
		h.handle(conn.(*net.TCPConn))
	}
}

// handle starts an sshd -i for conn, unless the host is stopping.
func (h *host) handle(conn *net.TCPConn) {
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		fmt.Fprintf(h.log, "sandbox: %v\n", err)
		return
	}
	defer f.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return
	}
	cmd := exec.Command(sshdPath, "-i", "-e", "-f", filepath.Join(h.dir, sshDir, "sshd_config"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, h.log
	// Its own process group, so that cleanup kills the connection's monitor and
	// its privilege-separated child together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(h.log, "sandbox: starting sshd: %v\n", err)
		return
	}
	h.procs[cmd] = true
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		cmd.Wait()
		h.mu.Lock()
		delete(h.procs, cmd)
		h.mu.Unlock()
	}()
}

// cleanup stops the waiters, then sshd, then removes the sandbox directory.
// The waiters go first: one that outlived the removal could write its job's
// files again.
func (h *host) cleanup() {
	stopWaiters(filepath.Join(h.dir, stateDir))
	h.mu.Lock()
	if h.ln != nil {
		h.ln.Close()
		h.ln = nil
	}
	for cmd := range h.procs {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	h.mu.Unlock()
	h.wg.Wait()
	if h.log != nil {
		h.log.Close()
	}
	if err := os.RemoveAll(h.dir); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox: removing", h.dir+":", err)
	}
	// examples/sandbox.sh's build of the sandbox itself (this binary).
	if build := os.Getenv("HOOKSHIM_SANDBOX_BUILD"); strings.Contains(filepath.Base(build), "hookshim-sandbox-build.") {
		os.RemoveAll(build)
	}
}

// startHost starts the host process for dir and waits until it is ready. stop
// ends it (and the sandbox directory with it) and waits for it; it is safe to
// call when startHost failed.
func startHost(dir string) (port int, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return 0, func() { os.RemoveAll(dir) }, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, func() { os.RemoveAll(dir) }, err
	}
	cmd := exec.Command(self, hostArg, dir)
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, func() { os.RemoveAll(dir) }, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // no Ctrl-C from the terminal
	if err := cmd.Start(); err != nil {
		return 0, func() { os.RemoveAll(dir) }, err
	}
	w.Close()
	stop = func() {
		in.Close()
		cmd.Wait()
	}
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if n, ok := strings.CutPrefix(strings.TrimSpace(line), "ready "); ok {
		if port, err = strconv.Atoi(n); err == nil {
			return port, stop, nil
		}
	}
	return 0, stop, errors.New("web1 (sshd on 127.0.0.1) did not start; see the line above")
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
