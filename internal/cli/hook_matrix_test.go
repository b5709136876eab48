package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// matrixHooks are the hooks the Kamal emulator runs under setup and deploy,
// each wrapped by a stub `exec hookshim run HOOK` (policy auto).
var matrixHooks = []string{"pre-connect", "docker-setup", "pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"}

// TestHookMatrix is kamal-locks.md section 3, row by row, through the Kamal
// emulator (which replays what the real Kamal 2.5.3 and 2.12.0 were recorded
// doing) against a real sshd: every hook of `kamal setup` and `kamal deploy`,
// on Kamal 2.5 (no KAMAL_LOCK) and 2.12, without and with a destination, is
// wrapped by hookshim with the default policy. In every cell kamal succeeds,
// every hook runs exactly once, in Kamal's order, and sees the lock as the
// table says; hookshim's decision line says why; with a destination,
// production's manual lock is in place all along and blocks nothing; and
// nothing is left locked.
func TestHookMatrix(t *testing.T) {
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, gen := range []string{"2.5.3", "2.12.0"} {
		for _, command := range []string{"setup", "deploy"} {
			for _, dest := range []string{"", "staging"} {
				c := hookCell{gen: gen, command: command, dest: dest, user: u.Username}
				if err := os.WriteFile(filepath.Join(dir, c.name()+".txtar"), []byte(c.script()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	testscript.Run(t, scriptParams(t, dir))
}

type hookCell struct{ gen, command, dest, user string }

func (c hookCell) name() string {
	d := "no-destination"
	if c.dest != "" {
		d = "d-" + c.dest
	}
	return fmt.Sprintf("%s_kamal-%s_%s", c.command, c.gen, d)
}

func (c hookCell) new() bool { return c.gen != "2.5.3" }

// held is section 3's answer: does the calling Kamal hold its lock while it
// runs hook?
func (c hookCell) held(hook string) bool {
	switch hook {
	case "pre-connect":
		return false
	case "pre-build", "post-deploy":
		return c.command == "setup"
	}
	return true
}

// deferred: post-deploy under setup on Kamal < 2.6 runs once setup releases.
func (c hookCell) deferred(hook string) bool {
	return hook == "post-deploy" && c.command == "setup" && !c.new()
}

// line is what the hook's recording script writes when the hook runs.
func (c hookCell) line(hook string) string {
	lock, kamalLock := "free", "unset"
	if c.new() {
		kamalLock = "false"
	}
	if c.held(hook) && !c.deferred(hook) {
		// Kamal 2.6+ says so; on 2.5 hookshim proves it and says so.
		lock, kamalLock = "held", "true"
	}
	return fmt.Sprintf("%s lock=%s KAMAL_LOCK=%s", hook, lock, kamalLock)
}

// decision is a regexp of hookshim's decision line for hook.
func (c hookCell) decision(hook, lockPath string) string {
	if hook == "pre-connect" {
		return `pre-connect: runs before Kamal reaches any host \(it may be what makes SSH work\), so the lock is not looked at; running now \(policy auto\)`
	}
	at := hook + `: lock ` + regexpQuote(lockPath) + ` on web `
	if !c.held(hook) {
		return at + `is free; running now \(policy auto\)`
	}
	why := `Kamal 2\.6\+, KAMAL_LOCK=true`
	if !c.new() {
		why = `Kamal < 2\.6 runs ` + hook + ` under its lock during ` + c.command + `, and the lock matches this run`
	}
	if c.deferred(hook) {
		return at + `is ours \(` + why + `\); deferring until it is released \(policy auto\)`
	}
	return at + `is ours \(` + why + `\); running now \(policy auto\)`
}

func (c hookCell) script() string {
	lockPath, dflag := ".kamal/lock-app", ""
	if c.dest != "" {
		lockPath, dflag = ".kamal/lock-app-"+c.dest, " -d "+c.dest
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# kamal %s%s on Kamal %s: every hook wrapped (kamal-locks.md section 3)\n", c.command, dflag, c.gen)
	fmt.Fprintf(&b, "env KAMAL_EMU_VERSION=%s\nenv KAMAL_EMU_DEPLOY_VERSION=d018f90b8de4599db01a44090e61eeb581595c52\n", c.gen)
	fmt.Fprintf(&b, "env HOOKSHIM_STATE_DIR=$WORK/state\nenv LOCKDIR=$HOME_web/%s\n", lockPath)
	if c.dest != "" {
		b.WriteString("# Production's manual lock: another destination's, so it blocks nothing here.\n")
		b.WriteString("kamallock $HOME_web/.kamal/lock-app 'Ops Person' v1 10m db maintenance\n")
	}
	b.WriteString("exec sh -c 'chmod 755 repo/.kamal/hooks/* repo/.kamal/hooks/*.d/*'\ncd repo\n")
	fmt.Fprintf(&b, "exec kamal %s%s\n", c.command, dflag)
	var want []string
	for _, h := range matrixHooks {
		if h == "docker-setup" && c.command != "setup" {
			continue
		}
		fmt.Fprintf(&b, "stderr '%s'\n", c.decision(h, lockPath))
		if !c.deferred(h) {
			want = append(want, c.line(h))
		}
	}
	if c.deferred("post-deploy") {
		b.WriteString("exec hookshim wait --timeout 60s\n")
		want = append(want, c.line("post-deploy"))
	}
	b.WriteString("cmp $WORK/hooks.log $WORK/want.log\n")
	fmt.Fprintf(&b, "# Nothing is left locked, and production's lock is untouched.\n! exists $HOME_web/%s\n", lockPath)
	if c.dest != "" {
		b.WriteString("exists $HOME_web/.kamal/lock-app/details\n")
	}
	fmt.Fprintf(&b, "-- want.log --\n%s\n", strings.Join(want, "\n"))
	fmt.Fprintf(&b, "-- .hosts --\nweb\n-- .gitconfig --\n[user]\n\tname = Hookshim Tester\n\temail = tester@example.invalid\n")
	fmt.Fprintf(&b, "-- repo/config/deploy.yml --\nservice: app\nservers:\n  - web\nssh:\n  user: %s\n", c.user)
	if c.dest != "" {
		fmt.Fprintf(&b, "-- repo/config/deploy.%s.yml --\nservers:\n  - web\n", c.dest)
	}
	for _, h := range matrixHooks {
		fmt.Fprintf(&b, "-- repo/.kamal/hooks/%s --\n#!/bin/sh\nexec hookshim run %s\n", h, h)
		fmt.Fprintf(&b, "-- repo/.kamal/hooks/%s.d/10-record --\n#!/bin/sh\n", h)
		fmt.Fprintf(&b, "if [ -d \"$LOCKDIR\" ]; then lock=held; else lock=free; fi\n")
		fmt.Fprintf(&b, "echo \"%s lock=$lock KAMAL_LOCK=${KAMAL_LOCK-unset}\" >> \"$WORK/hooks.log\"\n", h)
	}
	return b.String()
}

// regexpQuote escapes the dots of a lock path for a testscript regexp.
func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", `\.`) }
