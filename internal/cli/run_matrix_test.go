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

// TestRunMatrix is issue 3's promise, cell by cell: for every policy, every
// Kamal command that runs post-deploy, and both Kamal generations (2.5.3
// ignores KAMAL_LOCK; 2.12.0 honours it), a post-deploy hook whose scripts call
// `kamal accessory boot all` is run by the Kamal emulator against a real sshd,
// and the script states what the user sees: whether kamal succeeds, whether
// and when the hook ran, whether the lock was held while it ran, whether the
// nested kamal call succeeded, and what hookshim said. Nothing is ever left
// locked. Each cell is a generated testscript, run like testdata/script.
func TestRunMatrix(t *testing.T) {
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, gen := range []string{"2.5.3", "2.12.0"} {
		for _, command := range []string{"setup", "deploy", "redeploy", "rollback"} {
			for _, policy := range []string{"auto", "hold", "defer", "strict"} {
				c := cell{gen: gen, command: command, policy: policy, user: u.Username}
				name := fmt.Sprintf("%s_%s_kamal-%s.txtar", policy, command, gen)
				if err := os.WriteFile(filepath.Join(dir, name), []byte(c.script()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	testscript.Run(t, scriptParams(t, dir))
}

type cell struct{ gen, command, policy, user string }

func (c cell) new() bool   { return c.gen != "2.5.3" }
func (c cell) setup() bool { return c.command == "setup" }

// expect is what the user sees in this cell.
type expect struct {
	decision string // regexp of hookshim's decision line
	deferred bool   // kamal finishes first; the hook runs after, found by `hookshim wait`
	refused  bool   // the hook is refused (exit 75): kamal fails and the hook never runs
	lockHeld bool   // the lock is held while the hook runs
	nestedOK bool   // the nested `kamal accessory boot all` succeeds
}

func (c cell) expect() expect {
	// Under setup Kamal still holds its lock for post-deploy: ours. Under the
	// other commands it was released first: free.
	if c.setup() {
		why := `Kamal < 2\.6 runs post-deploy under its lock during setup, and the lock matches this run`
		if c.new() {
			why = `Kamal 2\.6\+, KAMAL_LOCK=true`
		}
		ours := `is ours \(` + why + `\); `
		switch {
		case c.policy == "strict":
			return expect{decision: ours + `refusing \(policy strict\)`, refused: true}
		case c.policy == "defer" || (c.policy == "auto" && !c.new()):
			// Run after setup releases: under hookshim's hold on 2.6+, where nested
			// kamal honours KAMAL_LOCK; on its own on older Kamal.
			return expect{decision: ours + `deferring until it is released`, deferred: true, lockHeld: c.new(), nestedOK: true}
		default: // hold, or auto on 2.6+: run now inside setup's lock
			return expect{decision: ours + `running now \(policy ` + c.policy + `\)`, lockHeld: true, nestedOK: c.new()}
		}
	}
	if c.policy == "hold" {
		// hookshim takes the lock: no other deploy starts while the hook runs. A
		// nested kamal < 2.6 ignores KAMAL_LOCK and finds the lock.
		return expect{decision: `is free; took it for the hook \(policy hold\)`, lockHeld: true, nestedOK: c.new()}
	}
	return expect{decision: `is free; running now \(policy ` + c.policy + `\)`, nestedOK: true}
}

func (c cell) script() string {
	e := c.expect()
	var b strings.Builder
	args := c.command
	if c.command == "rollback" {
		args = "rollback 5b3a1e0c"
	}
	fmt.Fprintf(&b, "# %s: post-deploy with --policy %s under kamal %s, Kamal %s\n", c.summary(e), c.policy, c.command, c.gen)
	fmt.Fprintf(&b, "env KAMAL_EMU_VERSION=%s\nenv KAMAL_EMU_DEPLOY_VERSION=d018f90b8de4599db01a44090e61eeb581595c52\n", c.gen)
	b.WriteString("env HOOKSHIM_STATE_DIR=$WORK/state\n")
	b.WriteString("chmod 755 repo/.kamal/hooks/post-deploy\nchmod 755 repo/.kamal/hooks/post-deploy.d/10-nested\ncd repo\n")
	switch {
	case e.refused:
		fmt.Fprintf(&b, "status 1 kamal %s\n", args)
		fmt.Fprintf(&b, "stderr 'post-deploy: lock .kamal/lock-app on web %s'\n", e.decision)
		b.WriteString("stderr 'hookshim: error: post-deploy: refused: lock .kamal/lock-app on web is ours'\n")
		b.WriteString("stdout 'Hook `post-deploy` failed'\n")
		b.WriteString("! exists $WORK/hook.log\n")
	case e.deferred:
		fmt.Fprintf(&b, "exec kamal %s\n", args)
		fmt.Fprintf(&b, "stderr 'post-deploy: lock .kamal/lock-app on web %s'\n", e.decision)
		b.WriteString("stderr 'hookshim wait'\n")
		b.WriteString("exec hookshim wait --timeout 60s\n")
		b.WriteString("exec grep -c '^ran' $WORK/hook.log\nstdout '^1$'\n")
	case e.nestedOK:
		fmt.Fprintf(&b, "exec kamal %s\n", args)
		fmt.Fprintf(&b, "stderr 'post-deploy: lock .kamal/lock-app on web %s'\n", e.decision)
	default:
		fmt.Fprintf(&b, "status 1 kamal %s\n", args)
		fmt.Fprintf(&b, "stderr 'post-deploy: lock .kamal/lock-app on web %s'\n", e.decision)
		b.WriteString("stdout 'Hook `post-deploy` failed'\n")
	}
	if !e.refused {
		lock := "free"
		if e.lockHeld {
			lock = "held"
		}
		kamalLock := "unset"
		switch {
		case e.lockHeld:
			kamalLock = "true" // hookshim (or Kamal 2.6+) says the hook holds it
		case c.new():
			kamalLock = "false"
		}
		fmt.Fprintf(&b, "grep '^ran KAMAL_COMMAND=%s KAMAL_LOCK=%s lock=%s$' $WORK/hook.log\n", c.command, kamalLock, lock)
		if e.nestedOK {
			b.WriteString("grep '^nested rc=0$' $WORK/hook.log\n")
		} else {
			b.WriteString("grep '^nested rc=1$' $WORK/hook.log\n")
			b.WriteString("grep 'Deploy lock found' $WORK/nested.out\n")
		}
	}
	b.WriteString("# Nothing is left locked.\n! exists $HOME_web/.kamal/lock-app\n")
	fmt.Fprintf(&b, `-- .hosts --
web
-- .gitconfig --
[user]
	name = Hookshim Tester
	email = tester@example.invalid
-- repo/config/deploy.yml --
service: app
servers:
  - web
ssh:
  user: %s
-- repo/.kamal/hooks/post-deploy --
#!/bin/sh
exec hookshim run --policy %s post-deploy
-- repo/.kamal/hooks/post-deploy.d/10-nested --
#!/bin/sh
if [ -d "$HOME_web/.kamal/lock-app" ]; then lock=held; else lock=free; fi
echo "ran KAMAL_COMMAND=$KAMAL_COMMAND KAMAL_LOCK=${KAMAL_LOCK-unset} lock=$lock" >> "$WORK/hook.log"
kamal accessory boot all >> "$WORK/nested.out" 2>&1
rc=$?
echo "nested rc=$rc" >> "$WORK/hook.log"
exit $rc
`, c.user, c.policy)
	return b.String()
}

func (c cell) summary(e expect) string {
	switch {
	case e.refused:
		return "refused, kamal fails"
	case e.deferred:
		return "deferred until the lock is released, then runs once"
	case !e.nestedOK:
		return "runs, but the nested kamal (< 2.6) finds the lock"
	case e.lockHeld:
		return "runs inside the lock"
	}
	return "runs now, unlocked"
}
