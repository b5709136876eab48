package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/jobs"
)

// nobody is the unprivileged user that plants files in the state directory
// tests (they run as root).
const nobody = 65534

// plantedJob is a job record as another user (or a broken waiter) could
// write it: "failed" with exit status 0, for the hook of repo.
func plantedJob(t *testing.T, repo string) (id string, record []byte) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	zero := 0
	j := jobs.Job{
		Version: jobs.SchemaVersion, ID: jobs.NewID(now), Hook: "post-deploy", RepoDir: repo, Service: "app",
		Lock: jobs.LockRef{Host: "local", Path: lockPath}, Policy: "defer", RunPolicy: "hold",
		Created: now, Deadline: now.Add(time.Hour), State: jobs.Failed, ExitStatus: &zero, Started: &now, Ended: &now,
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return j.ID, b
}

// asNobody runs a shell script as the unprivileged user.
func asNobody(t *testing.T, script string, env ...string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
}

// stateWorld is a repository, a state directory and a file only root may
// read, in a base directory the unprivileged user can traverse.
type stateWorld struct {
	repo, state, secretPath, secret string
	env                             []string
}

func newStateWorld(t *testing.T) *stateWorld {
	t.Helper()
	base := t.TempDir()
	// t.TempDir's own parent is 0700: let the other user through.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := &stateWorld{repo: filepath.Join(base, "repo"), state: filepath.Join(base, "state"), secretPath: filepath.Join(base, "root-only"), secret: "ROOT-ONLY-" + jobs.NewID(time.Now())}
	if err := os.Mkdir(w.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.secretPath, []byte(w.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = faultEnv(filepath.Join(base, "home"), "HOOKSHIM_STATE_DIR="+w.state)
	return w
}

// plant writes, as the unprivileged user, a job whose log is a symlink to
// the root-only file and whose record says "failed, exit 0", under a state
// directory that is already there.
func (w *stateWorld) plant(t *testing.T) string {
	t.Helper()
	id, rec := plantedJob(t, w.repo)
	asNobody(t, `mkdir -p "$STATE/jobs/$ID"; printf '%s' "$REC" > "$STATE/jobs/$ID/job.json"
ln -s "$SECRET" "$STATE/jobs/$ID/log"; : > "$STATE/jobs/$ID/lock"`,
		"STATE="+w.state, "ID="+id, "REC="+string(rec), "SECRET="+w.secretPath)
	return id
}

// A state directory another user owns, or may write into, is refused: one
// line naming it, what is wrong and the command that fixes it, exit 77; no
// file in it is opened, so a planted log symlink prints nothing and a planted
// "failed, exit 0" record does not make `hookshim wait` succeed.
func TestSecurityStateDirOfAnotherUser(t *testing.T) {
	for _, tc := range []struct {
		name, problem, fix string
		setup              func(t *testing.T, w *stateWorld)
	}{
		{"writable by others", "is writable by other users (mode 0777)", "chmod -R go-rwx", func(t *testing.T, w *stateWorld) {
			if err := os.Mkdir(w.state, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(w.state, 0o777); err != nil { // past the umask
				t.Fatal(err)
			}
		}},
		{"owned by another user", "is owned by uid 65534, not by you (uid 0)", "chown -R 0", func(t *testing.T, w *stateWorld) {
			if err := os.Mkdir(w.state, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(w.state, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newStateWorld(t)
			tc.setup(t, w)
			id := w.plant(t)
			for _, args := range [][]string{{"wait", id}, {"wait"}, {"locks", "--root", w.repo}} {
				code, out, stderr := runHookshim(t, w.repo, w.env, args...)
				if strings.Contains(out+stderr, w.secret) {
					t.Fatalf("hookshim %s printed the root-only file through the planted log symlink:\n%s%s", args, out, stderr)
				}
				want := exitcode.NoPerm
				if args[0] == "locks" {
					want = exitcode.IOErr // the locks are still shown; the jobs are not
				}
				if code != want {
					t.Fatalf("hookshim %s: exit %d, want %d\n%s%s", args, code, want, out, stderr)
				}
				line := tc.problem + ", so hookshim does not trust it; fix: "
				if !strings.Contains(stderr+out, w.state+" "+line) || !strings.Contains(stderr+out, tc.fix+" "+w.state) {
					t.Fatalf("hookshim %s does not say what is wrong with %s and how to fix it:\n%s%s", args, w.state, out, stderr)
				}
			}
		})
	}
}

// In a state directory that is the user's own, a job file that is a fifo or a
// symlink is not opened (`locks` and `wait` neither hang nor follow it), and
// a record whose state and exit status disagree is not trusted: the job is
// corrupt (wait JOB exits 65), never a success.
func TestSecurityStateDirJobFiles(t *testing.T) {
	w := newStateWorld(t)
	mkjob := func(rec []byte, id string) string {
		t.Helper()
		dir := filepath.Join(w.state, "jobs", id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"log", "lock"} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if rec != nil {
			if err := os.WriteFile(filepath.Join(dir, "job.json"), rec, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	if err := os.MkdirAll(w.state, 0o700); err != nil {
		t.Fatal(err)
	}
	// "failed, exit 0": state and exit status disagree.
	disagree, rec := plantedJob(t, w.repo)
	mkjob(rec, disagree)
	// A fifo as record: opening it for reading would block until a writer came.
	fifo, _ := plantedJob(t, w.repo)
	if err := syscall.Mkfifo(filepath.Join(mkjob(nil, fifo), "job.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A fifo as the waiter's lock: locking it would block too.
	fifoLock, rec := plantedJob(t, w.repo)
	rec = []byte(strings.Replace(string(rec), `"exit_status":0`, `"exit_status":1`, 1))
	dir := mkjob(rec, fifoLock)
	if err := os.Remove(filepath.Join(dir, "lock")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "lock"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlinked log, of an otherwise good record.
	link, rec := plantedJob(t, w.repo)
	rec = []byte(strings.Replace(string(rec), `"exit_status":0`, `"exit_status":1`, 1))
	dir = mkjob(rec, link)
	if err := os.Remove(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(w.secretPath, filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}

	code, out, stderr := runHookshim(t, w.repo, w.env, "locks", "--json", "--root", w.repo)
	if code != 0 {
		t.Fatalf("locks: exit %d\n%s%s", code, out, stderr)
	}
	var doc struct {
		Jobs []struct{ ID, State string } `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("locks --json: %v\n%s", err, out)
	}
	if len(doc.Jobs) != 4 {
		t.Fatalf("locks lists %d jobs, want 4: %s", len(doc.Jobs), out)
	}
	for _, j := range doc.Jobs {
		if j.State != "corrupt" {
			t.Errorf("locks: job %s is %s, want corrupt", j.ID, j.State)
		}
	}
	for _, id := range []string{disagree, fifo, fifoLock, link} {
		code, out, stderr := runHookshim(t, w.repo, w.env, "wait", id)
		if code != exitcode.DataErr || strings.Contains(out+stderr, w.secret) {
			t.Errorf("wait %s: exit %d, want %d, without the symlinked file:\n%s%s", id, code, exitcode.DataErr, out, stderr)
		}
	}
	if strings.Contains(stderr, w.secret) {
		t.Fatal("locks printed the symlinked file")
	}
}
