package kamalemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// traceHook appends one line per hook call: its name, whether the lock
// directory ($LOCKDIR under the lock host's home) exists, and what it got.
const traceHook = `#!/bin/sh
if [ -d "$KAMAL_EMU_ROOT/$LOCKDIR" ]; then l=held; else l=free; fi
echo "$(basename "$0") $l KAMAL_LOCK=${KAMAL_LOCK-unset} KAMAL_VERSION=$KAMAL_VERSION KAMAL_COMMAND=$KAMAL_COMMAND" >> "$TRACE"
`

var allHooks = []string{"pre-connect", "pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "pre-proxy-reboot", "post-proxy-reboot", "post-deploy"}

func traceRepo(t *testing.T, ver, lockDir string) (*repo, string) {
	r := newRepo(t, ver, deployYML)
	trace := filepath.Join(r.work, "trace")
	r.setenv("TRACE", trace)
	r.setenv("LOCKDIR", lockDir)
	for _, h := range allHooks {
		r.hook(h, traceHook)
	}
	return r, trace
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestHookOrder checks the order of hooks and lock for every command, per
// version (kamal-locks.md section 3).
func TestHookOrder(t *testing.T) {
	const v = " KAMAL_VERSION=" + fixtureVersion
	const rv = " KAMAL_VERSION=0123456789abcdef"
	cases := []struct {
		ver, lockDir string
		args         []string
		want         []string
	}{
		{"2.12.0", ".kamal/lock-app", []string{"setup"}, []string{
			"pre-connect free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=setup",
			"pre-build held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=setup",
			"pre-deploy held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=setup",
			"pre-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=setup",
			"post-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=setup",
			"post-deploy held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=setup",
		}},
		{"2.12.0", ".kamal/lock-app", []string{"deploy"}, []string{
			"pre-connect free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=deploy",
			"pre-build free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=deploy",
			"pre-deploy held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=deploy",
			"pre-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=deploy",
			"post-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=deploy",
			"post-deploy free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=deploy",
		}},
		{"2.12.0", ".kamal/lock-app", []string{"redeploy"}, []string{
			"pre-connect free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=redeploy",
			"pre-build free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=redeploy",
			"pre-deploy held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=redeploy",
			"pre-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=redeploy",
			"post-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=redeploy",
			"post-deploy free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=redeploy",
		}},
		{"2.12.0", ".kamal/lock-app", []string{"redeploy", "-P"}, []string{
			"pre-connect free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=redeploy",
			"pre-deploy held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=redeploy",
			"pre-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=redeploy",
			"post-app-boot held KAMAL_LOCK=true" + v + " KAMAL_COMMAND=redeploy",
			"post-deploy free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=redeploy",
		}},
		{"2.12.0", ".kamal/lock-app", []string{"rollback", "0123456789abcdef"}, []string{
			"pre-connect free KAMAL_LOCK=false" + v + " KAMAL_COMMAND=rollback",
			"pre-deploy held KAMAL_LOCK=true" + rv + " KAMAL_COMMAND=rollback",
			"pre-app-boot held KAMAL_LOCK=true" + rv + " KAMAL_COMMAND=rollback",
			"post-app-boot held KAMAL_LOCK=true" + rv + " KAMAL_COMMAND=rollback",
			"post-deploy free KAMAL_LOCK=false" + rv + " KAMAL_COMMAND=rollback",
		}},
		{"2.5.3", ".kamal/lock-app", []string{"setup"}, []string{
			"pre-connect free KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=setup",
			"pre-build held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=setup",
			"pre-deploy held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=setup",
			"pre-app-boot held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=setup",
			"post-app-boot held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=setup",
			"post-deploy held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=setup",
		}},
		{"1.9.0", ".kamal/locks/app", []string{"deploy"}, []string{
			"pre-connect free KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
			"pre-build free KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
			"pre-deploy held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
			"post-deploy free KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
		}},
		{"1.4.0", ".kamal/lock-app", []string{"deploy"}, []string{
			"pre-connect free KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
			"pre-build held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
			"pre-deploy held KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
			"post-deploy free KAMAL_LOCK=unset" + v + " KAMAL_COMMAND=deploy",
		}},
	}
	for _, c := range cases {
		t.Run(c.ver+"/"+strings.Join(c.args, "_"), func(t *testing.T) {
			r, trace := traceRepo(t, c.ver, c.lockDir)
			r.mustRun(c.args...)
			if got := readLines(t, trace); !slices.Equal(got, c.want) {
				t.Errorf("hooks:\n%s", diffLines(got, c.want))
			}
			if r.exists(c.lockDir) {
				t.Errorf("%s left behind", c.lockDir)
			}
		})
	}
}

// TestFailingPreDeployReleasesLock: a failing pre-deploy aborts the command
// with Kamal's HookError, and the lock the command took is released.
func TestFailingPreDeployReleasesLock(t *testing.T) {
	for _, command := range []string{"deploy", "setup", "rollback"} {
		t.Run(command, func(t *testing.T) {
			r, trace := traceRepo(t, "2.12.0", ".kamal/lock-app")
			r.hook("pre-deploy", "#!/bin/sh\necho boom-out\necho boom-err >&2\nexit 3\n")
			args := []string{command}
			if command == "rollback" {
				args = append(args, "abc")
			}
			out, errs, code := r.run(args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, out)
			}
			want := "Releasing the deploy lock...\n  Finished all in X seconds\n" +
				"  ERROR (Kamal::Cli::HookError): Hook `pre-deploy` failed:\n" +
				// SSHKit prints the raw wait status (exit 3 is 768), and the
				// message's newline is followed by bin/kamal's (recorded:
				// testdata/real/*/fail-deploy-pre-deploy.txt).
				".kamal/hooks/pre-deploy exit status: 768\n" +
				".kamal/hooks/pre-deploy stdout: boom-out\n" +
				".kamal/hooks/pre-deploy stderr: boom-err\n\n"
			if !strings.HasSuffix(normalizeOutput(out), want) {
				t.Errorf("stdout:\n%s\nwant it to end with:\n%s", out, want)
			}
			if !strings.Contains(out, "boom-out\n") || !strings.Contains(errs, "boom-err\n") {
				t.Errorf("the hook's output was not passed on: stdout %q, stderr %q", out, errs)
			}
			if r.exists(".kamal/lock-app") {
				t.Errorf("lock left behind")
			}
			for _, l := range readLines(t, trace) {
				if strings.HasPrefix(l, "post-deploy") || strings.HasPrefix(l, "pre-app-boot") {
					t.Errorf("hook ran after the failure: %s", l)
				}
			}
			cmds := r.commands()
			if n := len(cmds); n < 3 || !strings.HasPrefix(cmds[n-2], "/usr/bin/env mkdir .kamal/lock-app") || cmds[n-1] != "/usr/bin/env rm .kamal/lock-app/details && rm -r .kamal/lock-app" {
				t.Errorf("commands: %q", cmds)
			}
		})
	}
}

// TestFailingPreConnectTakesNoLock: pre-connect fails before any SSH command.
func TestFailingPreConnectTakesNoLock(t *testing.T) {
	r := newRepo(t, "2.12.0", deployYML)
	r.hook("pre-connect", "#!/bin/sh\nexit 1\n")
	out, _, code := r.run("setup")
	if code != 1 || !strings.Contains(out, "  ERROR (Kamal::Cli::HookError): Hook `pre-connect` failed:\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if cmds := r.commands(); len(cmds) != 0 {
		t.Errorf("commands ran: %q", cmds)
	}
}

// TestFailingPostDeployUnderSetupReleases: setup's lock goes, even when its
// post-deploy fails; under deploy the lock was gone already.
func TestFailingPostDeployUnderSetupReleases(t *testing.T) {
	r := newRepo(t, "2.6.0", deployYML)
	r.hook("post-deploy", "#!/bin/sh\nexit 2\n")
	out, _, code := r.run("setup")
	if code != 1 || !strings.Contains(out, "Releasing the deploy lock...\n") || !strings.Contains(out, "Hook `post-deploy` failed") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if r.exists(".kamal/lock-app") {
		t.Errorf("lock left behind")
	}
}

// TestNestedAccessory checks accessory commands under a held lock: on 2.6+ a
// Kamal started with KAMAL_LOCK=true takes no lock and reaches no host; older
// ones ignore the variable.
func TestNestedAccessory(t *testing.T) {
	for _, c := range []struct {
		ver       string
		args      []string
		takesLock bool
	}{
		{"2.6.0", []string{"accessory", "reboot", "db"}, false},
		{"2.12.0", []string{"accessory", "exec", "db", "bin/rails", "db:migrate"}, false},
		{"2.12.0", []string{"accessory", "boot", "all"}, false},
		{"2.5.3", []string{"accessory", "reboot", "db"}, true},
		{"2.5.3", []string{"accessory", "boot", "all"}, true},
	} {
		t.Run(c.ver+"/"+strings.Join(c.args, "_"), func(t *testing.T) {
			r := newRepo(t, c.ver, deployYML)
			r.setenv("KAMAL_LOCK", "true")
			out := r.mustRun(c.args...)
			cmds := r.commands()
			took := strings.Contains(out, "Acquiring the deploy lock...\nReleasing the deploy lock...\n") && len(cmds) == 3
			if took != c.takesLock {
				t.Errorf("took the lock: %v, want %v\n%s%q", took, c.takesLock, out, cmds)
			}
			if !c.takesLock && len(cmds) != 0 {
				t.Errorf("commands ran: %q", cmds)
			}
		})
	}
	// Without KAMAL_LOCK a held lock makes boot fail, while exec takes no lock
	// and runs (as recorded: testdata/real/*/misc-accessory.txt).
	r := newRepo(t, "2.12.0", deployYML)
	r.mustRun("lock", "acquire", "-m", "Automatic deploy lock")
	out, _, code := r.run("accessory", "boot", "db")
	if code != 1 || !strings.HasSuffix(out, "Message: Automatic deploy lock\n  ERROR (Kamal::Cli::LockError): Deploy lock found. Run 'kamal lock help' for more information\n") {
		t.Errorf("accessory boot: exit %d:\n%s", code, out)
	}
	out, _, code = r.run("accessory", "exec", "db", "true")
	if code != 0 || strings.Contains(out, "deploy lock") {
		t.Errorf("accessory exec: exit %d:\n%s", code, out)
	}
}

// TestSecrets: Kamal 2 passes .kamal/secrets to pre-connect, pre-deploy and
// post-deploy only; Kamal 1 does not read it.
func TestSecrets(t *testing.T) {
	hook := "#!/bin/sh\necho \"$(basename \"$0\") ${SECRET_TOKEN-unset} ${FROM_ENV-unset} ${QUOTED-unset} ${SINGLE-unset}\" >> \"$TRACE\"\n"
	for _, c := range []struct {
		ver  string
		want []string
	}{
		{"2.12.0", []string{
			"pre-connect s3cr3t base-value a b $NOT",
			"pre-build unset unset unset unset",
			"pre-deploy s3cr3t base-value a b $NOT",
			"pre-app-boot unset unset unset unset",
			"post-app-boot unset unset unset unset",
			"post-deploy s3cr3t base-value a b $NOT",
		}},
		{"1.9.0", []string{
			"pre-connect unset unset unset unset",
			"pre-build unset unset unset unset",
			"pre-deploy unset unset unset unset",
			"post-deploy unset unset unset unset",
		}},
	} {
		t.Run(c.ver, func(t *testing.T) {
			r := newRepo(t, c.ver, deployYML)
			trace := filepath.Join(r.work, "trace")
			r.setenv("TRACE", trace)
			r.setenv("BASE_VAR", "base-value")
			for _, h := range allHooks {
				r.hook(h, hook)
			}
			writeFile(t, filepath.Join(r.dir, ".kamal", "secrets"),
				"# secrets\nSECRET_TOKEN=s3cr3t\nFROM_ENV=$BASE_VAR\nexport QUOTED=\"a b\" # comment\nSINGLE='$NOT'\n", 0o600)
			r.mustRun("deploy")
			if got := readLines(t, trace); !slices.Equal(got, c.want) {
				t.Errorf("hooks saw:\n%s", diffLines(got, c.want))
			}
		})
	}
}

// TestVersionThresholds checks the per-version differences not covered by the
// recordings: lock directories with a destination and run_directory, KAMAL_SERVICE
// and the performer.
func TestVersionThresholds(t *testing.T) {
	hook := "#!/bin/sh\necho \"SERVICE=${KAMAL_SERVICE-unset} PERFORMER=$KAMAL_PERFORMER DEST=${KAMAL_DESTINATION-unset}\" >> \"$TRACE\"\n"
	whoami, err := exec.Command("whoami").Output()
	if err != nil {
		t.Fatal(err)
	}
	me := strings.TrimSpace(string(whoami))
	for _, c := range []struct {
		ver, deploy, dest, lockDir, hook string
	}{
		{"1.4.0", deployYML + "run_directory: @WORK@/run\n", "staging", "@WORK@/run/lock-app", ""},
		{"1.4.0", deployYML, "staging", ".kamal/lock-app", "SERVICE=unset PERFORMER=" + me + " DEST=staging"},
		{"1.7.0", deployYML + "run_directory: .run\n", "staging", ".run/locks/app-staging", "SERVICE=unset PERFORMER=" + me + " DEST=staging"},
		{"1.8.0", deployYML, "", ".kamal/locks/app", "SERVICE=app PERFORMER=" + testerEmail + " DEST=unset"},
		{"2.0.0", deployYML + "run_directory: .run\n", "staging", ".kamal/lock-app-staging", "SERVICE=app PERFORMER=" + testerEmail + " DEST=staging"},
	} {
		t.Run(c.ver+"/"+c.lockDir, func(t *testing.T) {
			r := newRepo(t, c.ver, strings.ReplaceAll(c.deploy, "@WORK@", "WORK"))
			writeFile(t, filepath.Join(r.dir, "config", "deploy.yml"), strings.ReplaceAll(c.deploy, "@WORK@", r.work), 0o644)
			lockDir := strings.ReplaceAll(c.lockDir, "@WORK@", r.work)
			writeFile(t, filepath.Join(r.dir, "config", "deploy.staging.yml"), "servers:\n  - 127.0.0.1\n", 0o644)
			trace := filepath.Join(r.work, "trace")
			r.setenv("TRACE", trace)
			r.hook("pre-connect", hook)
			args := []string{"lock", "status"}
			if c.dest != "" {
				args = append(args, "-d", c.dest)
			}
			out := r.mustRun(args...)
			if !strings.HasSuffix(out, "There is no deploy lock\n") {
				t.Errorf("status: %q", out)
			}
			cmds := r.commands()
			want := "/usr/bin/env stat " + lockDir + " > /dev/null && cat " + lockDir + "/details | base64 -d"
			if len(cmds) == 0 || cmds[len(cmds)-1] != want {
				t.Errorf("commands %q, want the last to be %q", cmds, want)
			}
			if c.hook != "" {
				if got := readLines(t, trace); len(got) != 1 || got[0] != c.hook {
					t.Errorf("pre-connect saw %q, want %q", got, c.hook)
				}
			}
		})
	}
}

// TestKamal19LockAcquireOnFreshHost: Kamal 1.9's `lock acquire` makes no
// .kamal/locks (the recording shows none), so on a fresh host its mkdir fails
// with "cannot create directory" and it reports a lock; a deploy makes the
// directory first (ensure_run_and_locks_directory).
func TestKamal19LockAcquireOnFreshHost(t *testing.T) {
	r := newRepo(t, "1.9.0", deployYML)
	out, _, code := r.run("lock", "acquire", "-m", "test")
	if code != 1 || !strings.Contains(out, "Deploy lock already in place!\n") || !strings.Contains(out, "stat") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	r.commands()
	r.mustRun("deploy")
	want := []string{
		"/usr/bin/env mkdir -p .kamal",
		"/usr/bin/env mkdir -p .kamal/locks",
		"/usr/bin/env mkdir .kamal/locks/app && echo \"LOCK\" > .kamal/locks/app/details",
		"/usr/bin/env rm .kamal/locks/app/details && rm -r .kamal/locks/app",
	}
	got := r.commands()
	if len(got) == 4 {
		got[2] = acquireRE.ReplaceAllString(got[2], `${1}LOCK${3}`)
	}
	if !slices.Equal(got, want) {
		t.Errorf("deploy commands:\n%s", diffLines(got, want))
	}
	r.mustRun("lock", "acquire", "-m", "now it works")
}

// TestIdentity: the version comes from git when no knob says, Locked by: from
// git config user.name ("" when git has none).
func TestIdentity(t *testing.T) {
	r := newRepo(t, "2.12.0", deployYML)
	r.unsetenv(EnvDeployVersion)
	r.mustRun("lock", "acquire", "-m", "no git repo")
	d := readDetails(t, r, ".kamal/lock-app")
	if d.Version != FallbackDeployVersion || d.LockedBy != testerName {
		t.Errorf("details %+v", d)
	}
	r.mustRun("lock", "release")

	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-qm", "init"}} {
		c := exec.Command("git", args...)
		c.Dir, c.Env = r.dir, r.env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	c := exec.Command("git", "rev-parse", "HEAD")
	c.Dir, c.Env = r.dir, r.env
	head, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(r.work, "gitconfig"), "", 0o644)
	r.mustRun("lock", "acquire", "-m", "git repo")
	d = readDetails(t, r, ".kamal/lock-app")
	if d.Version != strings.TrimSpace(string(head)) || d.LockedBy != "" || d.Message != "git repo" {
		t.Errorf("details %+v", d)
	}
	r.mustRun("lock", "release")
	r.mustRun("lock", "acquire", "-m", "flag", "--version", "v42")
	if d = readDetails(t, r, ".kamal/lock-app"); d.Version != "v42" {
		t.Errorf("details %+v", d)
	}
}

// TestUsageErrors: Thor's complaints go to stderr with exit status 1.
func TestUsageErrors(t *testing.T) {
	r := newRepo(t, "2.6.0", deployYML)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lock", "acquire"}, "No value provided for required options '--message'"},
		{[]string{"deploy", "--lock-wait"}, `Unknown switches "--lock-wait"`},
		{[]string{"frobnicate"}, `Could not find command "frobnicate".`},
		{[]string{"rollback"}, `"kamal rollback" was called with no arguments`},
	} {
		_, errs, code := r.run(c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("kamal %v: exit %d, stderr %q, want %q", c.args, code, errs, c.want)
		}
	}
	if cmds := r.commands(); len(cmds) != 0 {
		t.Errorf("commands ran: %q", cmds)
	}
}

// TestBuildCommand builds cmd/kamal, the emulator as a program of its own.
func TestBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "kamal")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/kamal").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := newRepo(t, "2.12.0", deployYML)
	c := exec.Command(bin, "lock", "status")
	c.Dir, c.Env = r.dir, r.env
	if out, err := c.Output(); err != nil || string(out) != "There is no deploy lock\n" {
		t.Errorf("built kamal lock status: %q, %v", out, err)
	}
}
