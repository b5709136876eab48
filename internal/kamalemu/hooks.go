package kamalemu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hookOpts are the extra details of one hook call.
type hookOpts struct {
	secrets bool   // Kamal 2 passes .kamal/secrets (pre-connect, pre-deploy, post-deploy)
	hosts   string // KAMAL_HOSTS when not all hosts (app boot batches)
	runtime string // KAMAL_RUNTIME (post-deploy)
}

// maxCaptured bounds how much of a hook's output goes into its error message.
const maxCaptured = 1 << 20

// capBuffer keeps the first maxCaptured bytes written to it.
type capBuffer struct{ bytes.Buffer }

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := maxCaptured - c.Len(); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.Buffer.Write(p[:room])
	}
	return len(p), nil
}

// bestEffort copies to out, ignoring its errors (a closed stdout must not stop
// the emulator from draining the hook's pipe), and keeps a copy in keep.
type bestEffort struct {
	out  io.Writer
	keep *capBuffer
}

func (b bestEffort) Write(p []byte) (int, error) {
	_, _ = b.out.Write(p)
	return b.keep.Write(p)
}

// hookEnv is the hook's environment: the emulator's own, with the KAMAL_*
// variables (and secrets) of this version set over it, as Kamal 2's with_env
// does (ENV.update: what it does not set stays as it was).
func (e *emu) hookEnv(o hookOpts) ([]string, error) {
	env := append([]string(nil), e.env...)
	set := func(k, v string) { env = setenv(env, k, v) }
	set("KAMAL_RECORDED_AT", time.Now().UTC().Format("2006-01-02T15:04:05Z"))
	set("KAMAL_PERFORMER", e.performer)
	set("KAMAL_VERSION", e.hookVersion)
	set("KAMAL_SERVICE_VERSION", e.svc+"@"+abbreviatedVersion(e.hookVersion))
	if e.ver.atLeast(1, 8) {
		set("KAMAL_SERVICE", e.svc)
	}
	if e.dest != "" {
		set("KAMAL_DESTINATION", e.dest)
	}
	hosts := o.hosts
	if hosts == "" {
		hosts = e.hostNames()
	}
	set("KAMAL_HOSTS", hosts)
	if e.ver.atLeast(2, 6) && len(e.roles) > 0 {
		set("KAMAL_ROLES", strings.Join(e.roles, ","))
	}
	set("KAMAL_COMMAND", e.command)
	if e.subcommand != "" {
		set("KAMAL_SUBCOMMAND", e.subcommand)
	}
	if e.ver.atLeast(2, 6) {
		set("KAMAL_LOCK", strconv.FormatBool(e.holdingLock))
	}
	if o.runtime != "" {
		set("KAMAL_RUNTIME", o.runtime)
	}
	if o.secrets && e.ver.atLeast(2, 0) {
		secrets, err := e.loadSecrets()
		if err != nil {
			return nil, err
		}
		for _, kv := range secrets {
			set(kv[0], kv[1])
		}
	}
	return env, nil
}

// runHook is Kamal's run_hook: nothing when the hook does not exist (or with
// -H); else the hook runs with its output read to end-of-file through pipes,
// then its exit status decides.
func (e *emu) runHook(name string, o hookOpts) error {
	if e.opts.skipHooks {
		return nil
	}
	rel := rubyJoin(e.hooksPath(), name)
	abs := rel
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(e.dir, rel)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil
	}
	env, err := e.hookEnv(o)
	if err != nil {
		return err
	}
	if !e.ver.atLeast(2, 11) { // 2.11 dropped the line (Kamal 2.11 lib/kamal/cli/base.rb run_hook)
		e.say("Running the %s hook...", name)
	}
	id := uuid()
	cmdline := "/usr/bin/env " + rel
	e.say("  INFO [%s] Running %s on localhost", id, cmdline)
	start := time.Now()
	code, stdout, stderr, err := e.runPiped(rel, env)
	if err != nil {
		return &kamalError{class: "Kamal::Cli::HookError", msg: fmt.Sprintf("Hook `%s` failed:\n%v", name, err)}
	}
	if code != 0 {
		return &kamalError{class: "Kamal::Cli::HookError",
			msg: fmt.Sprintf("Hook `%s` failed:\n%s", name, failedMessage(rel, code, stdout, stderr))}
	}
	e.say("  INFO [%s] Finished in %s seconds with exit status 0 (successful).", id, elapsed(time.Since(start)))
	return nil
}

// runPiped starts `/usr/bin/env HOOK` in the repository with three pipes, copies
// its stdout and stderr to the emulator's until both reach end-of-file (however
// long that takes: no timeout, as in Kamal), and only then waits for it. code is the raw wait status (see below).
func (e *emu) runPiped(rel string, env []string) (code int, stdout, stderr string, err error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return 0, "", "", err
	}
	defer inW.Close() // Kamal's popen3 keeps the hook's stdin open until it is done
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		return 0, "", "", err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		outR.Close()
		outW.Close()
		return 0, "", "", err
	}
	c := exec.Command("/usr/bin/env", rel)
	c.Dir = e.dir
	c.Env = env
	c.Stdin, c.Stdout, c.Stderr = inR, outW, errW
	err = c.Start()
	// The child has its ends now; ours must go, or end-of-file never comes.
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, "", "", err
	}
	var capOut, capErr capBuffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(bestEffort{e.stdout, &capOut}, outR)
		outR.Close()
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(bestEffort{e.stderr, &capErr}, errR)
		errR.Close()
	}()
	wg.Wait()
	err = c.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		// SSHKit's local backend reports Process::Status#to_i, the raw wait
		// status: exit 3 is "exit status: 768", a SIGTERM 15 (sshkit 1.21-1.25
		// lib/sshkit/backends/local.rb; recorded with Kamal 2.5.3-2.12.0).
		code = 1
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			code = int(ws)
		}
		err = nil
	}
	return code, capOut.String(), capErr.String(), err
}
