// Command sandbox starts a throwaway Kamal project with one real SSH host, so
// that hookshim can be tried by hand: the README's "Try it" section.
//
//	examples/sandbox.sh               a shell in the project (says what it builds first)
//	examples/sandbox.sh -c 'COMMANDS' runs COMMANDS with sh there instead, and exits with their status
//
// It builds hookshim (go build .) and Kamal's stand-in, the in-repo emulator of
// Kamal's lock protocol and hook calls (internal/kamalemu/cmd/kamal), starts a
// real OpenSSH sshd on 127.0.0.1 (a free port, throwaway keys) as the server
// web1, and writes a Kamal project: config/deploy.yml (service app on web1,
// ssh: config: a private ssh_config, so nothing in ~/.ssh is read or changed)
// and a .kamal/hooks/post-deploy that runs `kamal accessory reboot db`. The
// shell runs in the project with hookshim and kamal first in PATH and
// hookshim's state dir in the sandbox. When the shell exits, or the sandbox gets
// SIGINT, SIGTERM or SIGHUP, or is killed, sshd is stopped and every file of the
// sandbox removed (by a host process that outlives it: see host.go).
//
// It needs go, git, ssh, ssh-keygen and /usr/sbin/sshd (Debian/Ubuntu:
// apt-get install openssh-server openssh-client git).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == hostArg {
		os.Exit(serveHost(os.Args[2]))
	}
	commands := flag.String("c", "", "run `COMMANDS` with sh in the project instead of an interactive shell, and exit with their status")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: examples/sandbox.sh [-c COMMANDS]\n\n"+
			"A throwaway Kamal project with hookshim, an emulated kamal and a real sshd on loopback (web1).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sandbox: unexpected argument %q; to run commands: -c 'COMMANDS'\n", flag.Arg(0))
		os.Exit(2)
	}
	os.Exit(sandbox(*commands, isSet("c")))
}

// isSet reports whether the flag was given (-c with an empty string runs nothing, it does not
// start an interactive shell).
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sandbox sets everything up, runs the shell and returns its exit status. The
// host process removes the sandbox directory when stop is called, or when this
// process dies first.
func sandbox(commands string, batch bool) int {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	root, err := moduleRoot()
	if err == nil {
		err = requirePrograms()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "hookshim-sandbox-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		return 1
	}
	port, stop, err := startHost(dir)
	defer func() {
		stop()
		status("stopped web1's sshd and removed %s", dir)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		return 1
	}
	status("web1: a real sshd on 127.0.0.1 port %d, throwaway keys in %s", port, filepath.Join(dir, sshDir))
	if err := build(ctx, root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		return 1
	}
	app := filepath.Join(dir, "app")
	if err := writeProject(app); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox: writing the Kamal project:", err)
		return 1
	}
	status("a Kamal project in %s", app)
	env := shellEnv(dir)
	if batch {
		return runShell(ctx, exec.Command("/bin/sh", "-c", commands), app, env, true)
	}
	shell, env, err := interactiveShell(dir, env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		return 1
	}
	banner(port)
	return runShell(ctx, shell, app, env, false)
}

// status prints one line of what the sandbox is doing, on standard error.
func status(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sandbox: "+format+"\n", args...)
}

// moduleRoot finds hookshim's checkout: the working directory or one above it.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/hookshim/hookshim\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a hookshim checkout; run examples/sandbox.sh from the clone")
		}
		dir = parent
	}
}

// requirePrograms names the first missing program and how to get it.
func requirePrograms() error {
	const apt = "Debian/Ubuntu: sudo apt-get install openssh-server openssh-client git"
	if _, err := os.Stat(sshdPath); err != nil {
		return fmt.Errorf("%s not found (the OpenSSH server; it is only run, on 127.0.0.1, never installed as a service); %s", sshdPath, apt)
	}
	for _, p := range []string{"go", "git", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s not found in PATH; %s", p, apt)
		}
	}
	return nil
}

// build builds hookshim and the emulated kamal into DIR/bin, saying so first:
// on a fresh clone that takes a while and prints nothing by itself.
func build(ctx context.Context, root, dir string) error {
	bin := filepath.Join(dir, "bin")
	for _, b := range []struct{ name, pkg, what string }{
		{"hookshim", ".", "hookshim"},
		{"kamal", "./internal/kamalemu/cmd/kamal", "kamal (hookshim's emulator of Kamal 2.12's locks and hooks)"},
	} {
		status("building %s: go build -o %s %s", b.what, filepath.Join(bin, b.name), b.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "urfave_cli_no_docs", "-o", filepath.Join(bin, b.name), b.pkg)
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %v", b.pkg, err)
		}
	}
	return nil
}
