package sshx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyMarker is the line the master's remote command prints once its session is
// up, which is after ssh started listening on the control socket.
const readyMarker = "sshx-master-ready"

// closeGrace bounds how long Close waits for the master to leave before killing it.
const closeGrace = 3 * time.Second

// Conn is one multiplexed SSH connection to a host: an OpenSSH ControlMaster owned
// by this process. Runs over it cost no new connection or authentication. It is
// safe for concurrent use (sshd allows 10 sessions at a time per connection by
// default, MaxSessions). Close it when done.
//
// The master runs in its own process group, so a Ctrl-C meant for the caller does
// not end it, and holds none of the caller's descriptors: its stdin and stdout are
// pipes private to the Conn, its stderr a private unlinked file. Its remote command
// reads its stdin until end-of-file, so should this process die without Close, the
// remote side sees end-of-file and the master ends with it (leaving an empty
// directory in TMPDIR). There is no ControlPersist.
//
// If the master dies (the host went away, say), Run returns an *UnreachableError
// at once; a host that goes silent is noticed by ssh's keepalives within 15 s.
//
// With Client.ShareDir set, a Conn is instead a handle on the client's shared
// master (see Client.ShareDir): Run is Client.Run, Close leaves the master for
// the next process, and a master that has gone is started again.
type Conn struct {
	client  Client
	target  Target
	dir     string // private 0700 directory holding the socket
	sock    string
	errFile *os.File // the master's stderr, already unlinked

	cmd     *exec.Cmd
	started time.Time     // when the master was started
	stdinW  *os.File      // the master's stdin; closing it ends the master's session
	done    chan struct{} // closed once the master has exited

	// shared says Runs go through the Client's shared master (Client.ShareDir)
	// instead of one of the Conn's own: then there is no cmd, dir or done.
	shared bool

	mu     sync.Mutex
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// socketDir makes the private directory for a control socket. The socket's path
// must fit in sun_path (104 bytes on BSDs, 108 on Linux) after ssh appends a
// 17-character suffix while it sets up, so the directory comes from a short,
// plain TMPDIR or else /tmp.
func socketDir() (string, error) {
	plain := func(p string) bool {
		for _, r := range p {
			if !isNameByte(r) && r != '/' {
				return false
			}
		}
		return len(p) <= 60
	}
	if tmp := os.TempDir(); plain(tmp) {
		if dir, err := os.MkdirTemp(tmp, "hs"); err == nil {
			return dir, nil
		}
	}
	dir, err := os.MkdirTemp("/tmp", "hs")
	if err != nil {
		return "", fmt.Errorf("making a directory for the SSH control socket: %w", err)
	}
	return dir, nil
}

// Dial opens one multiplexed connection to t and returns once it is ready (one
// SSH connection and login, and a session that runs a tiny command). ctx
// bounds the connecting only, not the life of the Conn. When ssh cannot connect,
// the error is an *UnreachableError.
func (c *Client) Dial(ctx context.Context, t Target) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.ShareDir != "" {
		sock, _, err := c.sharedSocket(ctx, t)
		if err != nil {
			return nil, err
		}
		if sock != "" {
			cn := &Conn{client: *c, target: t, shared: true, done: make(chan struct{})}
			cn.client.Options = append([]string(nil), c.Options...)
			return cn, nil
		}
	}
	dir, err := socketDir()
	if err != nil {
		return nil, err
	}
	cn := &Conn{
		client: *c,
		target: t,
		dir:    dir,
		sock:   filepath.Join(dir, "s"),
		done:   make(chan struct{}),
	}
	cn.client.Options = append([]string(nil), c.Options...)
	if err := cn.start(ctx); err != nil {
		cn.Close()
		return nil, err
	}
	return cn, nil
}

// start starts the master connection (ssh -M on cn.sock, running a remote
// command that says it is ready and then waits on its stdin) and waits until
// it is ready.
func (cn *Conn) start(ctx context.Context) error {
	// The master's stderr is a file unlinked at once: should this process die
	// without Close, the master removes its socket when it ends and leaves just
	// an empty directory.
	errName := filepath.Join(cn.dir, "master.err")
	errFile, err := os.OpenFile(errName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	os.Remove(errName)
	cn.errFile = errFile
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer stdinR.Close()
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinW.Close()
		return err
	}
	defer stdoutW.Close()

	args := cn.client.args(cn.target,
		[]string{"ControlMaster=yes", "ControlPath=" + cn.sock, "ControlPersist=no"},
		nil, true,
		remoteCommand("echo "+readyMarker+"; exec cat >/dev/null"))
	cmd := exec.Command(cn.client.binary(), args...)
	cmd.Stdin = stdinR
	cmd.Stdout = stdoutW
	cmd.Stderr = errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cn.started = time.Now()
	if err := cmd.Start(); err != nil {
		stdinW.Close()
		stdoutR.Close()
		return fmt.Errorf("ssh %s: %w", cn.target, err)
	}
	cn.cmd = cmd
	cn.stdinW = stdinW
	go func() {
		cmd.Wait()
		close(cn.done)
	}()

	return cn.awaitReady(ctx, watchReady(stdoutR))
}

// watchReady reads the master's stdout until the ready marker (true) or its
// end (false), then drains it; the channel gets that one value. The marker
// comes after anything a login shell's startup files print.
func watchReady(stdoutR *os.File) <-chan bool {
	ready := make(chan bool, 1)
	go func() {
		defer stdoutR.Close()
		br := bufio.NewReader(stdoutR)
		for {
			line, err := br.ReadString('\n')
			// Startup noise without a newline runs into the marker's line.
			if strings.HasSuffix(strings.TrimRight(line, "\r\n"), readyMarker) {
				ready <- true
				io.Copy(io.Discard, br)
				return
			}
			if err != nil {
				ready <- false
				return
			}
		}
	}()
	return ready
}

// awaitReady waits for the master to say it is ready, to end, or for ctx;
// a ready master must have made its control socket.
func (cn *Conn) awaitReady(ctx context.Context, ready <-chan bool) error {
	select {
	case ok := <-ready:
		if ok {
			if _, err := os.Stat(cn.sock); err != nil {
				return fmt.Errorf("ssh %s: the master connection is up but made no control socket: %w", cn.target, err)
			}
			return nil
		}
		// Its stdout closed: the master is on its way out.
		select {
		case <-cn.done:
		case <-time.After(closeGrace):
		}
		return cn.masterGone()
	case <-cn.done:
		return cn.masterGone()
	case <-ctx.Done():
		cn.kill()
		return fmt.Errorf("ssh %s: %w", cn.target, ctx.Err())
	}
}

// masterGone is the error for a master that has exited (or is about to).
func (cn *Conn) masterGone() error {
	b := make([]byte, 64<<10)
	n, _ := cn.errFile.ReadAt(b, 0)
	msg := strings.TrimSpace(string(b[:n]))
	status := -1
	select {
	case <-cn.done:
		status = cn.cmd.ProcessState.ExitCode()
	default:
	}
	if status != 255 && status != -1 && msg == "" {
		msg = fmt.Sprintf("the SSH master connection ended (ssh exited with status %d)", status)
	}
	if msg == "" && status == 255 {
		// ssh says nothing at LogLevel=ERROR when it gives up on a silent server.
		return cn.client.unreachable(cn.target, "", time.Since(cn.started))
	}
	if msg == "" {
		msg = "the SSH master connection ended"
	}
	return cn.client.unreachable(cn.target, msg, time.Since(cn.started))
}

// Run runs script under sh on the Conn's host over the master, with args as its
// positional parameters: the same semantics as Client.Run. Once the master has
// gone (the host dropped the connection, say), it returns an *UnreachableError;
// it never opens a connection of its own.
func (cn *Conn) Run(ctx context.Context, script string, stdin io.Reader, args ...string) (Result, error) {
	cn.mu.Lock()
	closed := cn.closed
	cn.mu.Unlock()
	if closed {
		return Result{}, fmt.Errorf("ssh %s: Run on a closed connection", cn.target)
	}
	if holdsNUL(script, args) {
		return Result{}, fmt.Errorf("ssh %s: the script or an argument holds a NUL byte, which cannot be sent", cn.target)
	}
	if cn.shared {
		// A master that has gone is started again: a fresh connection.
		return cn.client.Run(ctx, cn.target, script, stdin, args...)
	}
	select {
	case <-cn.done:
		return Result{}, cn.masterGone()
	default:
	}
	cmd := exec.CommandContext(ctx, cn.client.binary(), cn.clientArgs(nil, remoteCommand(script, args...))...)
	res, err := run(ctx, cmd, &cn.client, cn.target, stdin)
	var ue *UnreachableError
	if errors.As(err, &ue) {
		select {
		case <-cn.done:
			return res, cn.masterGone()
		default:
		}
	}
	return res, err
}

// clientArgs is the argv of an ssh that goes through the master only: should the
// socket be unusable, ProxyCommand=false makes the fallback to a direct connection
// fail at once instead of opening a new connection.
func (cn *Conn) clientArgs(flags []string, tail ...string) []string {
	return cn.client.args(cn.target,
		[]string{"ControlPath=" + cn.sock, "ControlMaster=no", "ProxyCommand=false"},
		flags, false, tail...)
}

// kill kills the master's process group (it and any ProxyCommand or ProxyJump
// ssh it started), unless it has been reaped already.
func (cn *Conn) kill() {
	select {
	case <-cn.done:
	default:
		// Not reaped yet (or only just), so the pid and group id are still its own.
		syscall.Kill(-cn.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Close ends the master (ssh -O exit, then a kill if it does not leave in time)
// and removes the socket directory. Runs still going fail. Calling it again
// returns the first call's result.
func (cn *Conn) Close() error {
	cn.closeOnce.Do(func() {
		cn.mu.Lock()
		cn.closed = true
		cn.mu.Unlock()
		if cn.cmd != nil {
			asked := false
			select {
			case <-cn.done:
			default:
				ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
				exit := exec.CommandContext(ctx, cn.client.binary(), cn.clientArgs([]string{"-O", "exit"})...)
				asked = exit.Run() == nil // stdio is /dev/null
				cancel()
			}
			cn.stdinW.Close()
			if !asked {
				cn.kill()
			}
			timer := time.NewTimer(closeGrace)
			select {
			case <-cn.done:
			case <-timer.C:
				cn.kill()
				<-cn.done
			}
			timer.Stop()
		}
		if cn.errFile != nil {
			cn.errFile.Close()
		}
		if cn.shared {
			return // the shared master stays for the next process
		}
		if err := os.RemoveAll(cn.dir); err != nil {
			cn.closeErr = fmt.Errorf("removing the SSH control socket directory: %w", err)
		}
	})
	return cn.closeErr
}
