package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
)

// The sandbox's Kamal project, in DIR/app. deploy.yml names web1, which the
// sandbox's ssh_config (DIR/ssh/ssh_config) makes 127.0.0.1 on sshd's port;
// it is named by a path relative to the project, as Kamal and hookshim
// resolve it, so that deploy.yml holds nothing that changes from run to run.
const deployYML = `# The sandbox's Kamal project (hookshim's examples/sandbox): one service on one server.
service: app
image: app
servers:
  - ` + hostName + `
ssh:
  config: ../` + sshDir + `/ssh_config
`

// postDeploy is the project's own hook: what hookshim's README is about.
const postDeploy = `#!/bin/sh
# After every deploy, restart the database accessory.
exec >&2 # one stream, shared with hookshim's lines, so that Kamal shows them in order
echo "post-deploy: kamal accessory reboot db"
kamal accessory reboot db
`

// gitUser is who deploys: git config user.name is Kamal's "Locked by:".
const gitUser, gitEmail = "Ana Lima", "ana@example.com"

// writeProject writes the project and commits it: git HEAD is the version
// Kamal deploys, so with a fixed author and date it is the same on every run.
// A user other than root gets ssh: user: added after the commit, as a local
// change (Kamal's version stays git HEAD with its default builder), so that
// the version is the same for every user too.
func writeProject(app string) error {
	files := []struct {
		name, text string
		mode       os.FileMode
	}{
		{"config/deploy.yml", deployYML, 0o644},
		{".kamal/hooks/post-deploy", postDeploy, 0o755},
	}
	for _, f := range files {
		p := filepath.Join(app, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", gitUser},
		{"config", "user.email", gitEmail},
		{"add", "-A"},
		{"commit", "-q", "--no-verify", "--no-gpg-sign", "-m", "A Kamal app with a post-deploy hook"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = app
		// Nothing of the user's or the system's git configuration (templates,
		// hooks, signing) applies.
		cmd.Env = append(withoutEnv(os.Environ(), "GIT_"), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_DATE=2026-11-27T06:00:00Z", "GIT_COMMITTER_DATE=2026-11-27T06:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	if u := currentUser(); u != "root" {
		// Kamal's default SSH user is root; an sshd run by anyone else lets in
		// only that user.
		f, err := os.OpenFile(filepath.Join(app, "config/deploy.yml"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "  user: %s\n", u)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}

// shellEnv is the shell's environment: this one without any KAMAL_* or
// HOOKSHIM_* setting of the user's (they would change what the README shows),
// plus the sandbox's bin first in PATH, hookshim's state dir in the sandbox,
// and the emulator's ssh_config (real Kamal reads deploy.yml's ssh: config:;
// the emulator is told by KAMAL_EMU_SSH_CONFIG).
func shellEnv(dir string) []string {
	env := withoutEnv(withoutEnv(os.Environ(), "KAMAL_"), "HOOKSHIM_")
	env = withoutEnv(env, "PATH=")
	return append(env,
		"PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOOKSHIM_STATE_DIR="+filepath.Join(dir, stateDir),
		"KAMAL_EMU_SSH_CONFIG="+filepath.Join(dir, sshDir, "ssh_config"),
		"SANDBOX_DIR="+dir,
	)
}

// withoutEnv drops the variables whose KEY=VALUE starts with prefix.
func withoutEnv(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
