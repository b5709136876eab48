package kamalemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The recordings of the real Kamal in testdata/real (see its README.md): the
// emulator runs the same scenarios with the same recording hook and must
// produce the same hook blocks (order, KAMAL_* names and values, lock seen at
// each hook) and exit codes.

const realDir = "testdata/real"

var realVersions = []string{"2.5.3", "2.6.0", "2.12.0"}

// realServers are the servers: blocks of testdata/real/harness/mkproj.sh.
var realServers = map[string]string{
	"basic": "servers:\n  - 127.0.0.1\n",
	"roles": "servers:\n  web:\n    - 127.0.0.1\n  job:\n    hosts:\n      - 127.0.0.2\n    cmd: bin/job\n",
	"boot2": "servers:\n  - 127.0.0.1\n  - 127.0.0.2\nboot:\n  limit: 1\n",
}

var realHooks = []string{"pre-connect", "docker-setup", "pre-build", "pre-deploy", "pre-app-boot",
	"post-app-boot", "pre-proxy-reboot", "post-proxy-reboot", "post-deploy"}

// realRepo is a project like mkproj.sh's, in git, with rec-hook as every hook
// and the hosts' home at $HS_WORK/host-home, where rec-hook looks for locks.
type realRepo struct {
	*repo
	hookLog string
	commitA string
	commitB string
}

func newRealRepo(t *testing.T, ver, variant string, extra string) *realRepo {
	t.Helper()
	reg := "localhost:5555"
	if variant == "boot2" {
		reg = "127.0.0.1:5555"
	}
	deploy := "service: app\nimage: x/app\n" + realServers[variant] +
		"ssh:\n  user: root\n  port: 2232\nregistry:\n  server: " + reg + "\n  username: u\n  password: p\nbuilder:\n  arch: amd64\n" + extra
	r := &realRepo{repo: newRepo(t, ver, deploy)}
	r.home = filepath.Join(r.work, "host-home")
	if err := os.MkdirAll(r.home, 0o755); err != nil {
		t.Fatal(err)
	}
	r.setenv(EnvRoot, r.home)
	r.setenv("HS_WORK", r.work)
	r.unsetenv(EnvDeployVersion) // the version is git's, as in the recordings
	r.hookLog = filepath.Join(r.work, "hooks.log")
	r.setenv("REC_LOG", r.hookLog)
	writeFile(t, filepath.Join(r.dir, "config", "deploy.staging.yml"), "env:\n  clear:\n    STAGE: staging\n", 0o644)
	writeFile(t, filepath.Join(r.dir, ".kamal", "secrets"), "REC_SECRET=s3cret\n", 0o644)
	writeFile(t, filepath.Join(r.dir, ".kamal", "secrets.staging"), "REC_SECRET=staging-s3cret\n", 0o644)
	writeFile(t, filepath.Join(r.dir, "Dockerfile"), "FROM scratch\n", 0o644)
	hook, err := os.ReadFile(filepath.Join(realDir, "harness", "rec-hook"))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range realHooks {
		r.hook(h, string(hook))
	}
	r.git("init", "-q")
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "initial")
	r.commitA = r.git("rev-parse", "HEAD")
	return r
}

func (r *realRepo) git(args ...string) string {
	r.t.Helper()
	c := exec.Command("git", args...)
	c.Dir, c.Env = r.dir, r.env
	out, err := c.Output()
	if err != nil {
		r.t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func (r *realRepo) commitSecond() {
	writeFile(r.t, filepath.Join(r.dir, "b.txt"), "b\n", 0o644)
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "b")
	r.commitB = r.git("rev-parse", "HEAD")
}

// record is harness/rec.sh: run kamal, return "# kamal ARGS", the hook blocks,
// "=== after", the lock directories left and "rc=N", normalised; and stdout.
func (r *realRepo) record(args ...string) (string, string) {
	r.t.Helper()
	os.Remove(r.hookLog)
	out, _, code := r.run(args...)
	log, err := os.ReadFile(r.hookLog)
	if err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# kamal " + strings.Join(args, " ") + "\n")
	b.Write(log)
	b.WriteString("=== after\n")
	dirs := r.lockDirs()
	if len(dirs) == 0 {
		b.WriteString("lock-dir: none\n")
	}
	for _, d := range dirs {
		b.WriteString("lock-dir: " + d + "\n")
	}
	b.WriteString("rc=" + itoa(code) + "\n")
	return r.normalize(b.String()), out
}

func itoa(n int) string { return strconv.Itoa(n) }

// lockDirs lists the lock directories under the host's .kamal as rec.sh does.
func (r *realRepo) lockDirs() []string {
	var out []string
	for _, pat := range []string{".kamal/lock-*", ".kamal/locks/*"} {
		m, _ := filepath.Glob(filepath.Join(r.home, pat))
		for _, p := range m {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				rel, _ := filepath.Rel(r.home, p)
				out = append(out, rel)
			}
		}
	}
	sort.Strings(out)
	return out
}

var (
	realTimeRE    = regexp.MustCompile(` at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	realRecAtRE   = regexp.MustCompile(`(?m)^KAMAL_RECORDED_AT=.*$`)
	realRuntimeRE = regexp.MustCompile(`(?m)^KAMAL_RUNTIME=\d+`)
	realEmuRE     = regexp.MustCompile(`(?m)^KAMAL_EMU_[A-Z_]*=.*\n`)
	realFinished  = regexp.MustCompile(`Finished all in [0-9.]+ seconds`)
)

// normalize is rec.sh's normalisation, and drops the emulator's own knobs.
func (r *realRepo) normalize(s string) string {
	for _, c := range []struct{ sha, name string }{{r.commitA, "COMMIT_A"}, {r.commitB, "COMMIT_B"}} {
		if c.sha == "" {
			continue
		}
		s = strings.ReplaceAll(s, c.sha, "<"+c.name+">")
		s = strings.ReplaceAll(s, c.sha[:7], "<"+c.name+"7>")
	}
	s = realEmuRE.ReplaceAllString(s, "")
	s = realRecAtRE.ReplaceAllString(s, "KAMAL_RECORDED_AT=<TIME>")
	s = realTimeRE.ReplaceAllString(s, " at <TIME>")
	return realRuntimeRE.ReplaceAllString(s, "KAMAL_RUNTIME=<N>")
}

func readReal(t *testing.T, ver, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(realDir, "v"+ver, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func compareReal(t *testing.T, ver, name, got string) {
	t.Helper()
	want := readReal(t, ver, name)
	if i := strings.Index(want, "=== output from the lock release on\n"); i >= 0 {
		want = want[:i]
	}
	if got != want {
		t.Errorf("%s/%s differs from the real Kamal:\n%s", ver, name, diffLines(strings.Split(got, "\n"), strings.Split(want, "\n")))
	}
}

// TestRealHookRecordings runs seq.sh's scenarios: setup, deploy, redeploy and
// rollback without and with -d staging, with --roles, and with two hosts in
// boot groups of one.
func TestRealHookRecordings(t *testing.T) {
	for _, ver := range realVersions {
		t.Run(ver, func(t *testing.T) {
			t.Parallel()
			for _, dest := range []string{"", "staging"} {
				r := newRealRepo(t, ver, "basic", "")
				pre, d := "", []string(nil)
				if dest != "" {
					pre, d = "staging-", []string{"-d", "staging"}
				}
				for _, cmd := range []string{"setup", "deploy", "redeploy"} {
					got, _ := r.record(append([]string{cmd, "--skip-push"}, d...)...)
					compareReal(t, ver, pre+cmd+".txt", got)
				}
				r.commitSecond()
				got, _ := r.record(append([]string{"rollback", r.commitA}, d...)...)
				compareReal(t, ver, pre+"rollback.txt", got)
			}
			r := newRealRepo(t, ver, "roles", "")
			for _, c := range []struct{ name, cmd, role string }{
				{"roles-setup.txt", "setup", "web"}, {"roles-deploy.txt", "deploy", "web"},
				{"roles-deploy-job.txt", "deploy", "job"}, {"roles-redeploy.txt", "redeploy", "web"},
			} {
				got, _ := r.record(c.cmd, "--skip-push", "--roles", c.role)
				compareReal(t, ver, c.name, got)
			}
			r.commitSecond()
			got, _ := r.record("rollback", r.commitA, "--roles", "web")
			compareReal(t, ver, "roles-rollback.txt", got)

			r = newRealRepo(t, ver, "boot2", "")
			for _, cmd := range []string{"setup", "deploy"} {
				got, _ := r.record(cmd, "--skip-push")
				compareReal(t, ver, "boot2-"+cmd+".txt", got)
			}
		})
	}
}

// TestRealFailingHooks runs seq-fail.sh's scenarios: a hook exiting 3 under
// deploy or setup; the hooks that ran, the lock (released every time), the
// exit code and the output from the release on must be the real Kamal's.
func TestRealFailingHooks(t *testing.T) {
	for _, ver := range realVersions {
		t.Run(ver, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct{ cmd, hook string }{
				{"deploy", "pre-connect"}, {"deploy", "pre-deploy"}, {"deploy", "post-app-boot"},
				{"deploy", "post-deploy"}, {"setup", "docker-setup"}, {"setup", "pre-deploy"}, {"setup", "post-deploy"},
			} {
				name := "fail-" + c.cmd + "-" + c.hook + ".txt"
				r := newRealRepo(t, ver, "basic", "")
				r.mustRun("setup", "--skip-push")
				r.setenv("REC_FAIL", c.hook)
				got, out := r.record(c.cmd, "--skip-push")
				compareReal(t, ver, name, got)
				want := readReal(t, ver, name)
				_, wantTail, _ := strings.Cut(want, "=== output from the lock release on\n")
				tail := out
				if i := strings.LastIndex(out, "Releasing the deploy lock..."); i >= 0 {
					tail = out[i:]
				} else if i := strings.Index(out, "  ERROR ("); i >= 0 {
					tail = out[i:]
				}
				// The emulator copies a hook's output to its own (doc.go); Kamal
				// shows it only in the error.
				tail = regexp.MustCompile(`(?m)^rec-hook .*\n`).ReplaceAllString(tail, "")
				tail, wantTail = normalizeOutput(tail), normalizeOutput(wantTail)
				if tail != wantTail {
					t.Errorf("%s/%s output:\n%s", ver, name, diffLines(strings.Split(tail, "\n"), strings.Split(wantTail, "\n")))
				}
			}
		})
	}
}

// miscSteps splits a misc-*.txt recording into its commands: the arguments,
// the output lines that are not SSHKit INFO lines, the lock directories left
// and the exit code.
type miscStep struct {
	args  string
	out   []string
	dirs  []string
	rc    string
	first bool
}

func miscSteps(text string) []miscStep {
	var steps []miscStep
	var cur *miscStep
	sect := ""
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "$ kamal "):
			steps = append(steps, miscStep{args: strings.TrimPrefix(l, "$ kamal ")})
			cur, sect = &steps[len(steps)-1], "out"
		case cur == nil:
		case strings.HasPrefix(l, "# rc="):
			cur.rc = strings.TrimPrefix(l, "# rc=")
		case l == "# lock dirs after:":
			sect = "dirs"
		case strings.HasPrefix(l, "# ") && !strings.HasPrefix(l, "#   "):
			sect = ""
		case sect == "dirs" && strings.HasPrefix(l, "#   "):
			cur.dirs = append(cur.dirs, strings.TrimPrefix(l, "#   "))
		case sect == "out" && !strings.HasPrefix(l, "  INFO"):
			cur.out = append(cur.out, l)
		}
	}
	return steps
}

// TestRealLockCommands replays the lock-command recordings (misc.sh,
// legacy.sh): -d staging, a lock directory without details, a Kamal 1.9 lock
// seen by Kamal 2. Output (without INFO lines), lock directories left and exit
// codes must be the real Kamal's.
func TestRealLockCommands(t *testing.T) {
	for _, ver := range realVersions {
		t.Run(ver, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				file  string
				setup func(r *realRepo)
			}{
				{"misc-lock-staging.txt", nil},
				{"misc-lock-no-details.txt", func(r *realRepo) {
					if err := os.MkdirAll(filepath.Join(r.home, ".kamal", "lock-app"), 0o755); err != nil {
						t.Fatal(err)
					}
				}},
				{"misc-legacy19.txt", func(r *realRepo) {
					if err := os.MkdirAll(filepath.Join(r.home, ".kamal", "locks"), 0o755); err != nil {
						t.Fatal(err)
					}
				}},
			} {
				r := newRealRepo(t, ver, "basic", "")
				if c.setup != nil {
					c.setup(r)
				}
				steps := miscSteps(readReal(t, ver, c.file))
				for i, st := range steps {
					if strings.Contains(st.args, "--lock-wait") || strings.HasPrefix(st.args, "deploy") {
						continue // TestLockWait and TestRealHookRecordings cover these
					}
					// legacy19: steps 0, 4 and 5 are Kamal 1.9.0's.
					if c.file == "misc-legacy19.txt" {
						v := ver
						if i == 0 || i >= 4 {
							v = "1.9.0"
						}
						r.setenv(EnvVersion, v)
					}
					out, _, code := r.run(strings.Fields(st.args)...)
					var got []string
					for _, l := range strings.Split(r.normalize(out), "\n") {
						// The 1.9 project of legacy.sh has no hooks.
						skip := r.getenv(EnvVersion) == "1.9.0" && l == "Running the pre-connect hook..."
						if !skip && !strings.HasPrefix(l, "  INFO") && !strings.HasPrefix(l, "rec-hook") {
							got = append(got, l)
						}
					}
					// misc.sh's $(...) dropped the output's trailing newlines.
					got, want := trimEmpty(got), trimEmpty(st.out)
					dirs := r.lockDirsAndDetails()
					if strconv.Itoa(code) != st.rc || strings.Join(got, "\n") != strings.Join(want, "\n") || strings.Join(dirs, "\n") != strings.Join(st.dirs, "\n") {
						t.Errorf("%s/%s: kamal %s: exit %d (want %s), lock dirs %q (want %q):\n%s", ver, c.file, st.args, code, st.rc, dirs, st.dirs,
							diffLines(got, want))
					}
				}
			}
		})
	}
}

// lockDirsAndDetails is misc.sh's listing: lock directories and their files.
func (r *realRepo) lockDirsAndDetails() []string {
	var out []string
	for _, d := range r.lockDirs() {
		out = append(out, d)
		if _, err := os.Stat(filepath.Join(r.home, d, "details")); err == nil {
			out = append(out, d+"/details")
		}
	}
	return out
}

func trimEmpty(ls []string) []string {
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

func (r *repo) getenv(key string) string {
	for i := len(r.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(r.env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}
