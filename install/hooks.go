package install

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/hookshim/hookshim/internal/sshx"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hookshim/hookshim/internal/exitcode"
)

// KamalHooks are the hook names Kamal 2 runs, in the order it runs them; `--all`
// installs a stub for each (docker-setup runs under kamal setup and kamal
// server bootstrap: Kamal 2.12 lib/kamal/cli/server.rb).
var KamalHooks = []string{
	"pre-connect", "docker-setup", "pre-build", "pre-deploy", "post-deploy",
	"pre-app-boot", "post-app-boot", "pre-proxy-reboot", "post-proxy-reboot",
}

// Policies are the values `hookshim run --policy` takes.
var Policies = []string{"hold", "defer", "strict", "auto"}

// DefaultHook is the hook a stub is written for when none is named.
const DefaultHook = "post-deploy"

// stubMarker is the second line of every stub hookshim writes, after the
// shebang. A hook file that starts with these two lines is hookshim's own: a
// second install leaves it alone (or refreshes it), and uninstall may remove it.
// Any other file is the user's and is never overwritten or removed.
const stubMarker = "# hookshim-stub v1: written by `hookshim install --hooks`; do not edit (`hookshim install --hooks DIR --uninstall` puts your own hook back)"

const stubShebang = "#!/bin/sh"

// maxStubSize bounds how much of a hook file is read to tell whether it is a stub.
const maxStubSize = 4096

// CheckHookName refuses a hook name that is not letters, digits, '-' and '_', or
// starts with '-', so that a name can never leave the hooks directory, need shell
// quoting or be taken for a flag.
func CheckHookName(name string) error {
	if name == "" {
		return exitcode.Newf(exitcode.Usage, "empty hook name")
	}
	bad := func(why string) error {
		return exitcode.Newf(exitcode.Usage, "hook name %q %s", name, why).
			WithHint("Kamal's hooks are %s", strings.Join(KamalHooks, ", "))
	}
	if len(name) > 128 {
		return bad("is longer than 128 characters")
	}
	if name[0] == '-' {
		return bad("must not start with '-'")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return bad("may hold only letters, digits, '-' and '_'")
		}
	}
	return nil
}

// CheckPolicy refuses a policy `hookshim run` does not know. The empty policy is
// allowed: the stub then passes none, and `hookshim run` uses HOOKSHIM_POLICY
// or its default.
func CheckPolicy(p string) error {
	if p == "" {
		return nil
	}
	for _, q := range Policies {
		if p == q {
			return nil
		}
	}
	return exitcode.Newf(exitcode.Usage, "--policy %q is not a policy", p).
		WithHint("use one of %s", strings.Join(Policies, ", "))
}

// goInstallLine is README's install line, which a stub gives when hookshim
// is not on PATH: the release's static build, without the man page and
// completion generators (install/hooks_test.go checks it against README).
const goInstallLine = "CGO_ENABLED=0 go install -tags urfave_cli_no_docs github.com/hookshim/hookshim@latest"

// Stub returns the content of the stub for hook with policy ("" for none).
// Both must have passed CheckHookName and CheckPolicy: they are written into the
// script unquoted.
func Stub(hook, policy string) []byte {
	run := "hookshim run"
	if policy != "" {
		run += " --policy " + policy
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%s\n", stubShebang, stubMarker)
	fmt.Fprintf(&b, "# Kamal runs this file for the %s hook. hookshim then runs your own %s scripts,\n", hook, hook)
	fmt.Fprintf(&b, "# the executables in %s.d/ beside this file, in lexical order.\n", hook)
	fmt.Fprintf(&b, "command -v hookshim >/dev/null 2>&1 || {\n")
	fmt.Fprintf(&b, "\techo \"hookshim: not found on PATH, but the Kamal hook $0 needs it.\" >&2\n")
	fmt.Fprintf(&b, "\techo \"hookshim: install it: '%s', or copy a release binary to /usr/local/bin and run 'hookshim install'.\" >&2\n", goInstallLine)
	fmt.Fprintf(&b, "\texit 127\n}\n")
	fmt.Fprintf(&b, "exec %s %s \"$@\"\n", run, hook)
	return b.Bytes()
}

// isStub reports whether content is a hookshim stub.
func isStub(content []byte) bool {
	return bytes.HasPrefix(content, []byte(stubShebang+"\n"+stubMarker+"\n"))
}

// Hooks names the stubs to install or uninstall.
type Hooks struct {
	Dir    string   // the Kamal hooks directory, e.g. .kamal/hooks
	Names  []string // hook names; empty means DefaultHook
	Policy string   // written into the stubs; "" for none
}

// HookAction is what happened to one hook.
type HookAction int

const (
	StubWritten   HookAction = iota // a new stub; there was no hook before
	StubMovedHook                   // a new stub; the user's hook was moved into NAME.d/
	StubUpdated                     // the stub was hookshim's already; its content changed (e.g. another policy)
	StubUnchanged                   // the stub was in place already: nothing was written
	HookRestored                    // uninstall: the user's hook is back in place of the stub
	StubRemoved                     // uninstall: the stub is gone, there was no user hook to restore
	NoStub                          // uninstall: there was no stub of hookshim's: nothing was touched
)

// HookResult is the outcome for one hook.
type HookResult struct {
	Hook   string
	Action HookAction
	Path   string // DIR/NAME
	Moved  string // DIR/NAME.d/NAME, where the user's hook was moved to or restored from
	Left   int    // uninstall: scripts left in NAME.d/, which Kamal no longer runs
}

// String is the line shown to the user.
func (r HookResult) String() string {
	d := filepath.Join(filepath.Dir(r.Path), r.Hook+".d") + string(filepath.Separator)
	switch r.Action {
	case StubWritten:
		return fmt.Sprintf("%s: installed stub %s; put your %s scripts in %s", r.Hook, r.Path, r.Hook, d)
	case StubMovedHook:
		return fmt.Sprintf("%s: installed stub %s; your hook moved to %s", r.Hook, r.Path, r.Moved)
	case StubUpdated:
		return fmt.Sprintf("%s: updated stub %s", r.Hook, r.Path)
	case StubUnchanged:
		return fmt.Sprintf("%s: stub %s already in place; nothing to do", r.Hook, r.Path)
	case HookRestored:
		s := fmt.Sprintf("%s: removed stub; your hook is back at %s", r.Hook, r.Path)
		return s + leftNote(r.Left, d)
	case StubRemoved:
		return fmt.Sprintf("%s: removed stub %s", r.Hook, r.Path) + leftNote(r.Left, d)
	case NoStub:
		return fmt.Sprintf("%s: no hookshim stub at %s; nothing to do", r.Hook, r.Path)
	}
	return r.Hook + ": ?"
}

func leftNote(n int, d string) string {
	switch n {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (1 file left in %s, which Kamal does not run)", d)
	}
	return fmt.Sprintf(" (%d files left in %s, which Kamal does not run)", n, d)
}

// hookPlan is what will be done to one hook, decided before anything changes.
type hookPlan struct {
	HookResult
	stub      []byte
	dDir      string // DIR/NAME.d
	haveMoved bool   // install: DIR/NAME.d/NAME is already the user's hook (an interrupted earlier run)
}

// names returns h.Names or the default, checked, without duplicates.
func (h Hooks) names() ([]string, error) {
	names := h.Names
	if len(names) == 0 {
		names = []string{DefaultHook}
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if err := CheckHookName(n); err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// checkHooksDir refuses a hooks directory that is missing or not a directory (66).
// planThenApply is the shape of InstallHooks and UninstallHooks: every hook is
// planned (checked) before anything changes, and any refusal refuses the whole
// call; then the plans are applied in order. The results of the hooks done so
// far are returned with any error.
func planThenApply(dir string, names []string, verb string, plan func(name string) (hookPlan, error), apply func(*hookPlan) error) ([]HookResult, error) {
	if err := checkHooksDir(dir); err != nil {
		return nil, err
	}
	var plans []hookPlan
	var ref refusal
	for _, n := range names {
		p, err := plan(n)
		if err != nil {
			ref.add(err)
			continue
		}
		plans = append(plans, p)
	}
	if err := ref.err(verb); err != nil {
		return nil, err
	}
	var done []HookResult
	for i := range plans {
		if err := apply(&plans[i]); err != nil {
			return done, err
		}
		done = append(done, plans[i].HookResult)
	}
	return done, nil
}

func checkHooksDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return exitcode.Newf(exitcode.NoInput, "hooks directory %s does not exist", dir).
			WithHint("run from the root of the Kamal repository (the hooks are in .kamal/hooks), or create it: mkdir -p %s", sshx.Quote(dir))
	case errors.Is(err, syscall.ENOTDIR):
		return exitcode.Newf(exitcode.NoInput, "hooks directory %s does not exist (a part of the path is a file)", dir)
	case err != nil:
		return fsError(err, exitcode.NoInput, "cannot use hooks directory %s", dir)
	case !fi.IsDir():
		return exitcode.Newf(exitcode.NoInput, "hooks directory %s is not a directory", dir)
	}
	return nil
}

// readStub reads a hook file far enough to tell whether it is a stub.
func readStub(path string) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStubSize+1))
	if err != nil {
		return nil, false, err
	}
	return b, len(b) <= maxStubSize && isStub(b), nil
}

// refusal collects the per-hook reasons a plan is refused, so that all of them
// are reported at once and nothing is changed.
type refusal struct {
	code  int
	msgs  []string
	hints []string
}

func (r *refusal) add(err error) {
	r.code = MostSevere(r.code, exitcode.Code(err))
	r.msgs = append(r.msgs, err.Error())
	var e *exitcode.Error
	if errors.As(err, &e) {
		r.hints = append(r.hints, e.Hints...)
	}
}

func (r *refusal) err(verb string) error {
	if len(r.msgs) == 0 {
		return nil
	}
	e := exitcode.Newf(r.code, "%s; nothing was %s", strings.Join(r.msgs, "; "), verb)
	e.Hints = r.hints
	return e
}
