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
