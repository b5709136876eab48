package kamalemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// result is what one command on a host did.
type result struct {
	stdout, stderr string
	code           int
}

// execError is SSHKit's ExecuteError around a Command::Failed (or a connection
// failure, when res is nil): what Kamal rescues and matches on.
type execError struct {
	host    string
	command string // the command's first word, as SSHKit names it ("mkdir")
	res     *result
	connErr string
}

func (x *execError) Error() string {
	if x.res == nil {
		return fmt.Sprintf("Exception while executing on host %s: %s", x.host, x.connErr)
	}
	return fmt.Sprintf("Exception while executing on host %s: %s", x.host, failedMessage(x.command, x.res.code, x.res.stdout, x.res.stderr))
}

func (x *execError) asKamal() *kamalError {
	class := "SSHKit::Command::Failed"
	if x.res == nil {
		class = "SSHKit::Runner::ExecuteError"
	}
	return &kamalError{class: class, msg: x.Error()}
}

// failedMessage is SSHKit's Command::Failed message.
func failedMessage(command string, code int, stdout, stderr string) string {
	nothing := func(s string) string {
		if s = strings.TrimSpace(s); s == "" {
			return "Nothing written"
		}
		return s
	}
	return fmt.Sprintf("%s exit status: %d\n%s stdout: %s\n%s stderr: %s\n",
		command, code, command, nothing(stdout), command, nothing(stderr))
}

// uuid is SSHKit's command id: SecureRandom.hex(4).
func uuid() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// execute runs cmd on h as SSHKit's execute does: at info verbosity it prints
// the Running / Finished lines; a non-zero exit is an *execError.
func (e *emu) execute(h host, cmd string, info bool) error {
	_, err := e.run(h, cmd, info)
	return err
}

// capture runs cmd on h as capture_with_debug does: nothing printed, the
// stripped standard output returned.
func (e *emu) capture(h host, cmd string) (string, error) {
	res, err := e.run(h, cmd, false)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(res.stdout), nil
}

func (e *emu) run(h host, cmd string, info bool) (*result, error) {
	id := uuid()
	if info {
		e.say("  INFO [%s] Running %s on %s", id, cmd, h.name)
	}
	start := time.Now()
	res, connErr := e.remote(h, cmd)
	first := strings.Fields(strings.TrimPrefix(cmd, "/usr/bin/env "))
	word := ""
	if len(first) > 0 {
		word = first[0]
	}
	if connErr != "" {
		return nil, &execError{host: h.name, command: word, connErr: connErr}
	}
	if info {
		status := "successful"
		if res.code != 0 {
			status = "failed"
		}
		e.say("  INFO [%s] Finished in %s seconds with exit status %d (%s).", id, elapsed(time.Since(start)), res.code, status)
	}
	if res.code != 0 {
		return res, &execError{host: h.name, command: word, res: res}
	}
	return res, nil
}

// remote runs cmd on h: in KAMAL_EMU_ROOT, or over ssh. A non-empty connErr is a
// failure to reach the host at all.
func (e *emu) remote(h host, cmd string) (res *result, connErr string) {
	e.logCommand(cmd)
	var c *exec.Cmd
	root := e.getenv(EnvRoot)
	if root != "" {
		c = exec.Command("/bin/sh", "-c", cmd)
		c.Dir = root
		c.Env = setenv(e.env, "HOME", root)
	} else {
		c = exec.Command("ssh", e.sshArgs(h, cmd)...)
		c.Dir = e.dir
		c.Env = e.env
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	res = &result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
		if res.code < 0 {
			res.code = 128 + 9 // killed by a signal
		}
		if root == "" && res.code == 255 {
			msg := strings.TrimSpace(res.stderr)
			if msg == "" {
				msg = "ssh exited with status 255"
			}
			return nil, msg
		}
	default:
		if root != "" {
			return nil, err.Error()
		}
		return nil, "cannot run ssh: " + err.Error()
	}
	return res, ""
}

// sshArgs is the OpenSSH command line for cmd on h.
func (e *emu) sshArgs(h host, cmd string) []string {
	var args []string
	if cfg := e.getenv(EnvSSHConfig); cfg != "" {
		args = append(args, "-F", cfg)
	}
	args = append(args, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5")
	if p := e.cfg.SSHProxy; p != "" {
		if !strings.Contains(p, "@") {
			p = "root@" + p
		}
		args = append(args, "-J", p)
	}
	if pc := e.cfg.SSHProxyCommand; pc != "" {
		args = append(args, "-o", "ProxyCommand="+pc)
	}
	for _, k := range e.cfg.SSHKeys {
		if strings.HasPrefix(k, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				k = filepath.Join(home, k[2:])
			}
		}
		args = append(args, "-i", k)
	}
	if e.cfg.SSHKeysOnly {
		args = append(args, "-o", "IdentitiesOnly=yes")
	}
	args = append(args, "-l", h.user)
	if h.port > 0 {
		args = append(args, "-p", strconv.Itoa(h.port))
	}
	return append(args, "--", h.name, cmd)
}

// logCommand appends cmd, NUL-terminated, to KAMAL_EMU_LOG, in one write.
func (e *emu) logCommand(cmd string) {
	p := e.getenv(EnvLog)
	if p == "" {
		return
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.dir, p)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(e.stderr, "kamal emulator: %s: %v\n", EnvLog, err)
		return
	}
	defer f.Close()
	if _, err := f.Write([]byte(cmd + "\x00")); err != nil {
		fmt.Fprintf(e.stderr, "kamal emulator: %s: %v\n", EnvLog, err)
	}
}

// exitErr is a git that ran and exited non-zero.
type exitErr struct{ code int }

func (x *exitErr) Error() string { return fmt.Sprintf("exit status %d", x.code) }

// git runs git in the repository and returns its stripped output, as Ruby's
// backticks do (a non-zero exit is an *exitErr with the output still returned).
func (e *emu) git(args ...string) (string, error) {
	c := exec.Command("git", args...)
	c.Dir = e.dir
	c.Env = e.env
	c.Stderr = nil
	out, err := c.Output()
	s := strings.TrimSpace(string(out))
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return s, &exitErr{code: ee.ExitCode()}
	}
	return s, err
}

// whoami is `whoami`.strip.
func (e *emu) whoami() string {
	c := exec.Command("whoami")
	c.Env = e.env
	if out, err := c.Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			return s
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
