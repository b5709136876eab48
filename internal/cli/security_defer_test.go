package cli

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/lockfile"
)

// A deferred hook's job: the state directory and every directory under it
// are 0700, every file 0600 (even under umask 000), and no file, nor the
// waiter's command line, holds a value of the hook's environment, which
// carries Kamal's secrets; yet the hook gets every one of them.
func TestSecurityDeferredJobFilesPrivate(t *testing.T) {
	r := localRig(t)
	state := filepath.Join(filepath.Dir(r.dir), "state")
	secrets := map[string]string{
		"SECRET_TOKEN":            "s3cr3t-" + lockfile.NewToken(),
		"KAMAL_REGISTRY_PASSWORD": "regpw-" + lockfile.NewToken(),
		"DATABASE_URL":            "postgres://u:pw-" + lockfile.NewToken() + "@db/app",
	}
	env := append(append([]string{}, r.env...), deferKamal...)
	check := ""
	for k, v := range secrets {
		env = append(env, k+"="+v)
		check += `[ "$` + k + `" = '` + v + `' ] || ok=no; `
	}
	hook := filepath.Join(filepath.Dir(r.dir), "secret-hook.sh")
	writeExe(t, hook, "#!/bin/sh\nok=yes; "+check+"\necho \"secrets $ok\" > \"$EVENTS\"\necho 'hook output, no secrets'\n")
	r.kamalLock()
	// umask 000: the modes must not depend on the caller's umask.
	args := append([]string{"-c", `umask 000 && exec "$0" "$@"`, faultHookshim(t)},
		r.runArgs("--policy", "defer", "--state-dir", state, "post-deploy", "--", hook)...)
	p := startProgram(t, r.dir, env, "/bin/sh", args...)
	if code := p.exit(); code != 0 {
		t.Fatalf("deferring: exit %d:\n%s", code, p.stderr)
	}
	// The exit is seen before the pipe's last lines may be read: wait for them.
	p.waitLog(deferredRE.String())
	m := deferredRE.FindStringSubmatch(p.stderr.String())
	waiter, _ := strconv.Atoi(m[2])
	killWaiterLater(t, waiter, state)

	checkFiles := func(when string) {
		t.Helper()
		n := 0
		err := filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(path)
			if err != nil {
				return err
			}
			n++
			switch {
			case fi.IsDir() && fi.Mode().Perm() != 0o700:
				t.Errorf("%s: directory %s has mode %v, want 0700", when, path, fi.Mode().Perm())
			case fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600:
				t.Errorf("%s: file %s has mode %v, want 0600", when, path, fi.Mode().Perm())
			case !fi.IsDir() && !fi.Mode().IsRegular():
				t.Errorf("%s: %s is neither a file nor a directory (%v)", when, path, fi.Mode())
			}
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				for k, v := range secrets {
					if bytes.Contains(b, []byte(v)) {
						t.Errorf("%s: %s holds the value of %s", when, path, k)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 4 {
			t.Fatalf("%s: only %d entries in the state dir; the job is not there", when, n)
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(waiter) + "/cmdline"); err == nil {
			for k, v := range secrets {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%s: the waiter's command line holds the value of %s", when, k)
				}
			}
		}
	}
	checkFiles("while the job waits")

	r.kamalReleases()
	if f := r.ev.expect("secrets"); f[1] != "yes" {
		t.Fatal("the deferred hook did not get its environment's secrets")
	}
	waiterGone(t, waiter)
	code, out := r.waitJob(state)
	if code != 0 || !strings.Contains(out, "hook output, no secrets") {
		t.Fatalf("hookshim wait: exit %d:\n%s", code, out)
	}
	lcode, locksOut, lerr := runHookshim(t, r.dir, r.env, append([]string{"locks", "--json"}, r.hookLocksArgs(state)...)...)
	// The secrets are looked for in a listing that really shows the job.
	if lcode != 0 || !strings.Contains(locksOut, `"id": "`+m[1]+`"`) || !strings.Contains(locksOut, `"state": "succeeded"`) {
		t.Fatalf("hookshim locks --json: exit %d, want 0 listing job %s as succeeded:\n%s\n%s", lcode, m[1], locksOut, lerr)
	}
	for k, v := range secrets {
		if strings.Contains(out+locksOut, v) {
			t.Errorf("hookshim wait or locks printed the value of %s", k)
		}
	}
	checkFiles("after the job ran")
}
