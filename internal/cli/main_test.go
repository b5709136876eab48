package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookshim/hookshim/internal/kamalemu"
	"github.com/hookshim/hookshim/internal/sshtest"
)

// TestMain lets testscript run hookshim in-process: a script's `hookshim`
// command is this test binary running hookshim as main does.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hookshim": func() { os.Exit(Main(OSProcess())) },
		"kamal":    kamalemu.Main,
	})
}

// TestScripts runs the end-to-end scripts in testdata/script. A script whose
// archive holds a file .hosts gets a real sshd per line of it (see setupHosts).
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

// scriptParams are the testscript settings every end-to-end script runs with.
func scriptParams(t *testing.T, dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOOKSHIM_LOG_LEVEL", "info")
			// Under -race every process exit otherwise sleeps a second.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			env.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(env.WorkDir, ".gitconfig"))
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			return setupHosts(t, env)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hostcmds":  cmdHostCmds,
			"kamallock": cmdKamalLock,
			"status":    cmdStatus,
			"waitfor":   cmdWaitFor,
		},
	}
}

// scriptHosts are the sshd hosts started for one script, by name.
var scriptHosts = map[string]map[string]*sshtest.Host{}

// setupHosts starts one real sshd on loopback for each line "NAME" of
// $WORK/.hosts, and a line "NAME closed" names an address where nothing
// listens. The script reaches them by NAME through $HOOKSHIM_SSH_CONFIG (also
// $KAMAL_EMU_SSH_CONFIG for the Kamal emulator), and sees each host's home as
// $HOME_NAME.
func setupHosts(t *testing.T, env *testscript.Env) error {
	f, err := os.Open(filepath.Join(env.WorkDir, ".hosts"))
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	var names, closed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 0:
		case len(fields) == 2 && fields[1] == "closed":
			closed = append(closed, fields[0])
		case len(fields) == 1:
			names = append(names, fields[0])
		default:
			return fmt.Errorf(".hosts: bad line %q", sc.Text())
		}
	}
	tb := scriptTB{TB: t, env: env}
	hosts := sshtest.StartN(tb, len(names))
	var cfg strings.Builder
	byName := map[string]*sshtest.Host{}
	for i, name := range names {
		h := hosts[i]
		byName[name] = h
		fmt.Fprintf(&cfg, "Host %s\n\tHostName %s\n\tPort %d\n", name, h.Addr, h.Port)
		env.Setenv("HOME_"+name, h.Home)
		env.Setenv("PORT_"+name, fmt.Sprint(h.Port))
	}
	for _, name := range closed {
		ct := sshtest.ClosedTarget(tb)
		fmt.Fprintf(&cfg, "Host %s\n\tHostName %s\n\tPort %d\n", name, ct.Host, ct.Port)
	}
	if len(hosts) > 0 {
		fmt.Fprintf(&cfg, "Host *\n\tInclude %s\n", hosts[0].ConfigFile)
	}
	path := filepath.Join(env.WorkDir, ".ssh_config")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	env.Setenv("HOOKSHIM_SSH_CONFIG", path)
	env.Setenv("KAMAL_EMU_SSH_CONFIG", path)
	scriptHostsMu.Lock()
	scriptHosts[env.WorkDir] = byName
	scriptHostsMu.Unlock()
	env.Defer(func() {
		scriptHostsMu.Lock()
		delete(scriptHosts, env.WorkDir)
		scriptHostsMu.Unlock()
	})
	return nil
}

// cmdHostCmds prints every command host NAME executed over SSH, one per line
// (newlines inside a command shown as \n), so a script can assert on what
// actually ran there.
func cmdHostCmds(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: hostcmds NAME")
	}
	scriptHostsMu.Lock()
	h := scriptHosts[ts.Getenv("WORK")][args[0]]
	scriptHostsMu.Unlock()
	if h == nil {
		ts.Fatalf("no host %q in .hosts", args[0])
	}
	for _, c := range h.Commands(scriptTB{TB: nil, ts: ts}) {
		fmt.Fprintln(ts.Stdout(), strings.ReplaceAll(c, "\n", `\n`))
	}
}

// cmdStatus runs `status N PROGRAM ARGS...`: PROGRAM must exit with exactly N.
// Its output is kept for stdout/stderr checks, as with exec.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %q is not a number", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("status: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// waitForTimeout bounds waitfor: things happen in moments, the bound only
// turns a hang into a failure on a loaded machine.
const waitForTimeout = 60 * time.Second

// cmdWaitFor runs `waitfor file PATH REGEXP` or `waitfor hostcmd NAME REGEXP`:
// it blocks until the file's content (or a command host NAME executed over
// SSH) matches, so that a script acts only once a background process has
// reached the point under test. It looks every 10ms, for up to a minute.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 || (args[0] != "file" && args[0] != "hostcmd") {
		ts.Fatalf("usage: waitfor file PATH REGEXP | waitfor hostcmd NAME REGEXP")
	}
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	var h *sshtest.Host
	if args[0] == "hostcmd" {
		scriptHostsMu.Lock()
		h = scriptHosts[ts.Getenv("WORK")][args[1]]
		scriptHostsMu.Unlock()
		if h == nil {
			ts.Fatalf("no host %q in .hosts", args[1])
		}
	}
	look := func() string {
		if h != nil {
			return strings.Join(h.Commands(scriptTB{ts: ts}), "\n")
		}
		b, _ := os.ReadFile(ts.MkAbs(args[1]))
		return string(b)
	}
	deadline := time.Now().Add(waitForTimeout)
	for !re.MatchString(look()) {
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: %s %s never matched %q within %s; it holds:\n%s", args[0], args[1], args[2], waitForTimeout, look())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
