// Command demo shows hookshim's main job with nothing to set up: a
// post-deploy hook that runs `kamal accessory reboot db`, run by Kamal's
// `kamal setup` and `kamal deploy`, first as a plain hook and then wrapped by
// hookshim (policy hold). Kamal is hookshim's in-repo emulator of Kamal
// 2.12's lock protocol and hook calls (internal/kamalemu), and the "host" is a
// temporary directory standing in for the SSH user's home (KAMAL_EMU_ROOT,
// hookshim --root): no SSH, no Docker.
//
//	go run ./examples/demo        (or examples/demo.sh, which says it is building first)
//
// It prints the same bytes on every machine and every day: what the hook saw
// and the exit statuses, never a time, a path or a pid.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hookshim/hookshim/internal/cli"
	"github.com/hookshim/hookshim/internal/kamalemu"
)

// hookScript is the user's post-deploy hook. It reports into $DEMO_OUT whether
// the deploy lock is held while it runs, and whether a nested kamal works.
const hookScript = `#!/bin/sh
if [ -d "$KAMAL_EMU_ROOT/.kamal/lock-app" ]; then lock=held; else lock="NOT held: another deploy could start now"; fi
echo "  post-deploy: the deploy lock is $lock" >> "$DEMO_OUT"
if kamal accessory reboot db > /dev/null 2>&1; then r=ok; else r=FAILED; fi
echo "  post-deploy: kamal accessory reboot db: $r" >> "$DEMO_OUT"
`

const deployYML = "service: app\nimage: app\nservers:\n  - web\n"

func main() {
	switch filepath.Base(os.Args[0]) {
	case "hookshim":
		os.Exit(cli.Main(cli.OSProcess()))
	case "kamal":
		kamalemu.Main()
		return
	}
	if err := demo(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func demo() error {
	tmp, err := os.MkdirTemp("", "hookshim-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin, host, repo := filepath.Join(tmp, "bin"), filepath.Join(tmp, "host"), filepath.Join(tmp, "repo")
	hooks := filepath.Join(repo, ".kamal", "hooks")
	for _, d := range []string{bin, host, hooks, filepath.Join(repo, "config")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// One binary, two programs, by the name it is called by.
	for _, name := range []string{"hookshim", "kamal"} {
		if err := os.Symlink(self, filepath.Join(bin, name)); err != nil {
			return err
		}
	}
	out := filepath.Join(tmp, "out")
	env := append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KAMAL_EMU_VERSION=2.12.0", "KAMAL_EMU_ROOT="+host, "HOOKSHIM_ROOT="+host,
		"HOOKSHIM_LOG_LEVEL=error", "DEMO_OUT="+out)
	run := func(args ...string) (int, error) {
		cmd := exec.Command(filepath.Join(bin, args[0]), args[1:]...)
		cmd.Dir, cmd.Env = repo, env
		var sink bytes.Buffer // Kamal's own output holds times: left out
		cmd.Stdout, cmd.Stderr = &sink, &sink
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), nil
		}
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(repo, "config", "deploy.yml"), []byte(deployYML), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(hooks, "post-deploy"), []byte(hookScript), 0o755); err != nil {
		return err
	}
	for _, wrapped := range []bool{false, true} {
		if wrapped {
			fmt.Println("$ hookshim install --hooks .kamal/hooks --policy hold")
			if code, err := run("hookshim", "install", "--hooks", ".kamal/hooks", "--policy", "hold"); err != nil || code != 0 {
				return fmt.Errorf("hookshim install: exit %d: %v", code, err)
			}
		}
		for _, command := range []string{"setup", "deploy"} {
			fmt.Printf("$ kamal %s    # post-deploy %s\n", command, map[bool]string{false: "as a plain hook", true: "wrapped by hookshim"}[wrapped])
			if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
				return err
			}
			code, err := run("kamal", command, "-P")
			if err != nil {
				return err
			}
			said, _ := os.ReadFile(out)
			fmt.Printf("%s  kamal %s: exit %d\n", said, command, code)
		}
	}
	return nil
}
