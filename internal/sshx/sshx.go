// Package sshx runs shell scripts on remote hosts through the system OpenSSH client.
package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DefaultConnectTimeout is the connect timeout when Client.ConnectTimeout is zero.
const DefaultConnectTimeout = 10 * time.Second

// Client describes how to run ssh. The zero value runs "ssh" from PATH with the
// user's own ssh configuration (~/.ssh/config, agent, ProxyJump, an existing
// ControlMaster) and a 10 s connect timeout.
//
// Every ssh it starts gets, in this order, whatever its config says:
//
//	-o BatchMode=yes              never prompt for anything
//	-o ConnectTimeout=N           N = ConnectTimeout in seconds, rounded up
//	-o ControlMaster=no           may use the user's running master, never becomes one
//	                              (a master with ControlPersist would outlive the call);
//	                              a Conn passes its own multiplexing options here
//	-o <each of Options>
//	-o StrictHostKeyChecking=accept-new
//	                              Kamal's host key policy (net-ssh's default): a new
//	                              host's key is accepted and remembered, a changed one
//	                              refused; left out when Options or the ssh config
//	                              for the host set StrictHostKeyChecking
//	-o ClearAllForwardings=yes    a script needs none of the user's port forwards
//	-o RemoteCommand=none         a RemoteCommand in the config would make ssh refuse
//	-o LogLevel=ERROR -o ServerAliveInterval=S -o ServerAliveCountMax=3
//	[-F ConfigFile] [-J ProxyJump] [-l user] [-p port]
//	-T -- host 'exec sh -c ...'   no tty; the host can never be taken as an option
//
// ssh keeps the first value it sees for an option, so Options can change the
// options after them but not the ones before.
//
// Time limits: ConnectTimeout bounds the TCP connect and the wait for the
// server's SSH banner. After the banner, ssh gives up on a server that sends
// nothing for ServerAliveInterval x ServerAliveCountMax (key exchange and login:
// 15 s by default), or, once the session runs, that leaves that many keepalives
// unanswered (20 s). A remote command that runs long while its host still
// answers is not limited: bound it with the context.
type Client struct {
	Binary         string        // default "ssh"
	ConfigFile     string        // passed as -F when non-empty (then ~/.ssh/config is not read); "none" reads no file
	ConnectTimeout time.Duration // default DefaultConnectTimeout
	// ServerAliveInterval is ssh's ServerAliveInterval, rounded up to whole
	// seconds; default DefaultServerAliveInterval.
	ServerAliveInterval time.Duration
	Options             []string // extra options as "Key=Value", each passed after -o
	ProxyJump           string   // passed as -J when non-empty

	// ShareDir, when set, makes Run, Command and Dial share one connection per
	// target across processes: an OpenSSH ControlMaster, started detached the
	// first time (see startMaster), that stays SharePersist (default
	// DefaultPersist) after its last session, its socket in ShareDir (made
	// 0700 and checked like ~/.ssh: see ShareDir()) and named by the user,
	// host, port and the options that change the connection. The user's own
	// ControlPath for the host, when set, is used instead. A master that has
	// gone, or a stale socket, means a new master (a fresh connection), and
	// when sharing cannot be set up at all the ssh connects on its own:
	// neither is an error.
	ShareDir     string
	SharePersist time.Duration

	viaMaster bool // args: through a live master, so no host key policy
}

// DefaultServerAliveInterval is the keepalive interval when
// Client.ServerAliveInterval is zero.
const DefaultServerAliveInterval = 5 * time.Second

// ServerAliveCountMax is ssh's ServerAliveCountMax: keepalives left unanswered
// before ssh gives up (and, times ServerAliveInterval, the silence it allows
// during the key exchange and login).
const ServerAliveCountMax = 3

// Result is what a script produced on the remote host.
type Result struct {
	Stdout, Stderr []byte
	ExitStatus     int // the script's exit status
}

// UnreachableError is returned when ssh itself failed (it exited with status 255):
// connection refused or timed out, authentication or host key failure, a connection
// that dropped. ssh reports a remote command killed by a signal, or exiting with 255,
// the same way, so those also end up here.
type UnreachableError struct {
	Target Target
	Stderr string // ssh's standard error, trimmed
	// Reason, when set, says what happened better than Stderr's last line: a
	// time limit that ran out, or a changed host key.
	Reason string
	// Check is a command a person can paste to try the same connection (see
	// Target.CheckCommand); "" when unknown.
	Check string
}

func (e *UnreachableError) Error() string {
	why := e.Reason
	if why == "" {
		why = summarize(e.Stderr)
	}
	return fmt.Sprintf("cannot reach %s over SSH: %s", e.Target, why)
}

// CheckCommand is Check, or a plain `ssh ... true` for Target when Check is unset.
func (e *UnreachableError) CheckCommand() string {
	if e.Check != "" {
		return e.Check
	}
	return e.Target.CheckCommand(nil)
}

// noMessage is summarize's answer when ssh said nothing.
const noMessage = "ssh exited with status 255 and no message"

// summarize gives the last non-empty line of ssh's stderr, where ssh puts the
// reason, without control characters and at most 400 bytes long.
func summarize(stderr string) string {
	lines := strings.Split(strings.ReplaceAll(stderr, "\r", ""), "\n")
	last := ""
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			last = l
			break
		}
	}
	last = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, last)
	if last == "" {
		return noMessage
	}
	if len(last) > 400 {
		last = strings.ToValidUTF8(last[:400], "") + "..."
	}
	return last
}

func (c *Client) binary() string {
	if c.Binary == "" {
		return "ssh"
	}
	return c.Binary
}

// connectTimeoutSeconds is ConnectTimeout in whole seconds, rounded up, at least 1.
func (c *Client) connectTimeoutSeconds() int {
	d := c.ConnectTimeout
	if d <= 0 {
		d = DefaultConnectTimeout
	}
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// serverAliveSeconds is ServerAliveInterval in whole seconds, rounded up, at least 1.
func (c *Client) serverAliveSeconds() int {
	d := c.ServerAliveInterval
	if d <= 0 {
		d = DefaultServerAliveInterval
	}
	return max(1, int((d+time.Second-1)/time.Second))
}

// Args is the argv after the binary that Run and Command use for script on t,
// with args as the script's positional parameters.
func (c *Client) Args(t Target, script string, args ...string) []string {
	return c.args(t, []string{"ControlMaster=no"}, nil, true, remoteCommand(script, args...))
}

// args builds an ssh argv. first are options that go right after BatchMode and
// ConnectTimeout, before c.Options; flags go just before "-T -- host"; direct
// says the ssh connects by itself, not through a master: it gets -J and the host
// key policy; tail is what follows the host (the remote command, or nothing).
func (c *Client) args(t Target, first, flags []string, direct bool, tail ...string) []string {
	a := []string{
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(c.connectTimeoutSeconds()),
	}
	for _, o := range first {
		a = append(a, "-o", o)
	}
	for _, o := range c.Options {
		a = append(a, "-o", o)
	}
	if direct && !c.viaMaster {
		for _, o := range c.hostKeyOptions(t) {
			a = append(a, "-o", o)
		}
	}
	a = append(a,
		"-o", "ClearAllForwardings=yes",
		"-o", "RemoteCommand=none",
		"-o", "LogLevel=ERROR",
		"-o", "ServerAliveInterval="+strconv.Itoa(c.serverAliveSeconds()),
		"-o", "ServerAliveCountMax="+strconv.Itoa(ServerAliveCountMax),
	)
	if c.ConfigFile != "" {
		a = append(a, "-F", c.ConfigFile)
	}
	if direct && c.ProxyJump != "" {
		a = append(a, "-J", c.ProxyJump)
	}
	if t.User != "" {
		a = append(a, "-l", t.User)
	}
	if t.Port != 0 {
		a = append(a, "-p", strconv.Itoa(t.Port))
	}
	a = append(a, flags...)
	a = append(a, "-T", "--", t.Host)
	return append(a, tail...)
}

// Command returns ssh ready to run script under sh on t, with args as its
// positional parameters, for a long-lived or
// streaming session: the caller sets Stdin, Stdout and Stderr and runs it. It has
// the same argv as Run. ctx kills ssh when done. WaitDelay is set to 2 s, so that
// a process ssh leaves holding its output (a ProxyJump helper) cannot make Wait
// hang once ssh has gone.
func (c *Client) Command(ctx context.Context, t Target, script string, args ...string) *exec.Cmd {
	sock, live, _ := c.sharedSocket(ctx, t)
	return c.command(ctx, t, sock, live, script, args...)
}

// command is the ssh for script on t, through the master on sock when sock is
// not "". It keeps the options of a direct connection: should the master be
// gone by the time it runs, ssh connects on its own. Through a live master
// (live) the host key policy is left out: the master checked the key, and
// finding out whether the config sets StrictHostKeyChecking can cost an
// `ssh -G`, which would be most of a shared run's cost. Should ssh still
// connect on its own, the host's key is in known_hosts by then, and the
// config's own policy applies.
func (c *Client) command(ctx context.Context, t Target, sock string, live bool, script string, scriptArgs ...string) *exec.Cmd {
	var args []string
	if sock == "" {
		args = c.Args(t, script, scriptArgs...)
	} else {
		// Not c.Args first and then this: c.Args would find out the host key
		// policy, an `ssh -G`, for an argv that is thrown away.
		cc := *c
		cc.viaMaster = live
		args = cc.args(t, []string{"ControlMaster=no", "ControlPath=" + sock}, nil, true, remoteCommand(script, scriptArgs...))
	}
	cmd := exec.CommandContext(ctx, c.binary(), args...)
	cmd.WaitDelay = waitDelay
	return cmd
}

// waitDelay bounds how long Wait waits for ssh's output pipes after ssh has exited.
const waitDelay = 2 * time.Second

// Run runs script under POSIX sh on t, in the SSH user's login directory, with stdin
// as its standard input (nil means none) and args as its positional parameters
// ("$1", "$2", ...; "$0" is "sh"): pass every value as an argument, never inside
// the script, and the script's text stays a constant. Whatever the user's login
// shell, the script runs under sh. A script's non-zero exit is not an error: it is in
// Result.ExitStatus. When ssh itself fails, the error is an *UnreachableError; when
// ctx ends first, ssh is killed and the error wraps ctx.Err().
//
// The script and args travel on ssh's command line: keep them well under 100 KB
// together and send bulk data through stdin. None can hold a NUL byte.
func (c *Client) Run(ctx context.Context, t Target, script string, stdin io.Reader, args ...string) (Result, error) {
	if holdsNUL(script, args) {
		return Result{}, fmt.Errorf("ssh %s: the script or an argument holds a NUL byte, which cannot be sent", t)
	}
	sock, live, err := c.sharedSocket(ctx, t)
	if err != nil {
		return Result{}, err
	}
	return run(ctx, c.command(ctx, t, sock, live, script, args...), c, t, stdin)
}

// run runs cmd (an ssh that c built for t) and sorts out its result the way Run
// documents.
func run(ctx context.Context, cmd *exec.Cmd, c *Client, t Target, stdin io.Reader) (Result, error) {
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// If ssh leaves a child holding its pipes (a ProxyCommand, say), do not wait
	// for that child forever once ssh is gone.
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if err == nil {
		return res, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return res, fmt.Errorf("ssh %s: %w", t, ctxErr)
	}
	ps := cmd.ProcessState
	if ps == nil { // ssh did not start
		return res, fmt.Errorf("ssh %s: %w", t, err)
	}
	switch code := ps.ExitCode(); code {
	case 255:
		return res, c.unreachable(t, stderr.String(), time.Since(start))
	case -1:
		return res, fmt.Errorf("ssh %s: %v", t, ps)
	default:
		res.ExitStatus = code
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		// ssh ran but copying failed, e.g. reading stdin: the script may have
		// seen only part of its input.
		return res, fmt.Errorf("ssh %s: %w", t, err)
	}
	return res, nil
}
