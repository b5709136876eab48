package kamalemu

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/lockfile"
)

var lockVersions = []string{"1.9.0", "2.5.3", "2.6.0", "2.12.0"}

// TestLockCommandsMatchFixtures runs `kamal lock acquire/status/release` as each
// recorded Kamal and compares the commands sent to the host, the details file,
// the host tree and the outputs with the recordings.
func TestLockCommandsMatchFixtures(t *testing.T) {
	for _, ver := range lockVersions {
		t.Run(ver, func(t *testing.T) {
			r := newRepo(t, ver, deployYML)
			lockDir := ".kamal/lock-app"
			if ver == "1.9.0" {
				// The recorded 1.9 host already had .kamal/locks (its `lock
				// acquire` makes none: see TestKamal19LockAcquireOnFreshHost).
				lockDir = ".kamal/locks/app"
				if err := os.MkdirAll(filepath.Join(r.home, ".kamal", "locks"), 0o755); err != nil {
					t.Fatal(err)
				}
			}

			// status with no lock
			out := r.mustRun("lock", "status")
			if got, want := normalizeOutput(out), normalizeOutput(readFixture(t, ver, "status-unlocked.out")); got != want {
				t.Errorf("status-unlocked.out:\n got %q\nwant %q", got, want)
			}
			r.commands()

			// acquire
			out = r.mustRun("lock", "acquire", "-m", "test")
			if !strings.Contains(out, "Acquired the deploy lock\n") {
				t.Errorf("acquire output %q", out)
			}
			got := normalizeCommands(t, r.commands())
			want := normalizeCommands(t, fixtureCommands(t, readFixture(t, ver, "acquire.remote-commands.txt")))
			if !slices.Equal(got, want) {
				t.Errorf("acquire commands differ from acquire.remote-commands.txt:\n%s", diffLines(got, want))
			}

			// the details file
			raw, err := os.ReadFile(filepath.Join(r.home, lockDir, "details"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := lockfile.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			fx, err := lockfile.Parse([]byte(readFixture(t, ver, "details-manual-test.raw")))
			if err != nil {
				t.Fatal(err)
			}
			if d.LockedBy != fx.LockedBy || d.Version != fx.Version || d.Message != fx.Message || d.At.IsZero() {
				t.Errorf("details %+v, fixture %+v", d, fx)
			}
			if string(raw) != string(d.FileContent()) || len(raw) != len(readFixture(t, ver, "details-manual-test.raw")) {
				t.Errorf("details file %q is not Kamal's echo of encode64 (fixture is %d bytes)", raw, len(readFixture(t, ver, "details-manual-test.raw")))
			}

			// the host tree while locked
			if got, want := hostTree(t, r.home), treeWithoutSizes(readFixture(t, ver, "host-tree.locked.txt")); got != want {
				t.Errorf("host tree:\n%s\nwant (fixture, directory sizes aside):\n%s", got, want)
			}

			// acquire again: held
			out, _, code := r.run("lock", "acquire", "-m", "test2")
			got2 := normalizeOutput(fmt.Sprintf("%src=%d\n", out, code))
			if want := normalizeOutput(readFixture(t, ver, "acquire-while-locked.out")); got2 != want {
				t.Errorf("acquire-while-locked.out:\n got %q\nwant %q", got2, want)
			}
			r.commands()

			// status while locked
			out = r.mustRun("lock", "status")
			if want := d.Text() + "\n"; !strings.HasSuffix(out, want) {
				t.Errorf("status while locked: %q, want it to end with %q", out, want)
			}
			got = r.commands()
			want = fixtureCommands(t, readFixture(t, ver, "status.remote-commands.txt"))
			if !slices.Equal(got, want) {
				t.Errorf("status commands differ from status.remote-commands.txt:\n%s", diffLines(got, want))
			}

			// release
			out = r.mustRun("lock", "release")
			if !strings.HasSuffix(out, "Released the deploy lock\n") {
				t.Errorf("release output %q", out)
			}
			got = r.commands()
			want = fixtureCommands(t, readFixture(t, ver, "release.remote-commands.txt"))
			if !slices.Equal(got, want) {
				t.Errorf("release commands differ from release.remote-commands.txt:\n%s", diffLines(got, want))
			}
			if r.exists(lockDir) {
				t.Errorf("%s still there after release", lockDir)
			}
			out = r.mustRun("lock", "release")
			if !strings.HasSuffix(out, "There is no deploy lock\n") {
				t.Errorf("release of no lock: %q", out)
			}
		})
	}
}

// hostTree lists everything under home/.kamal as host-tree.locked.txt does,
// without directory sizes (which depend on the file system).
func hostTree(t *testing.T, home string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(filepath.Join(home, ".kamal"), func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		size := fmt.Sprint(info.Size())
		if de.IsDir() {
			size = "DIR"
		}
		fmt.Fprintf(&sb, "%s %s %s\n", info.Mode().String(), size, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func treeWithoutSizes(s string) string {
	var sb strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(f[0], "d") {
			f[1] = "DIR"
		}
		sb.WriteString(strings.Join(f, " ") + "\n")
	}
	return sb.String()
}

// recorderHook is a post-deploy hook that writes what the recordings'
// post-deploy hook wrote (setup-post-deploy-hook.txt, deploy-post-deploy-hook.txt).
const recorderHook = `#!/bin/sh
lockdir="$LOCKHOME/.kamal/lock-app"
{
echo "### hook=post-deploy tag=v$KAMAL_EMU_VERSION cwd=$PWD"
echo "### env | grep ^KAMAL_ | sort"
env | grep ^KAMAL_ | grep -v ^KAMAL_EMU_ | sort
echo "### host-side ~/.kamal listing"
ls -a "$LOCKHOME/.kamal"
if [ -d "$lockdir" ]; then
  echo "### lock held while hook runs: .kamal/lock-app/details (raw copy: \$HS_WORK/logs/hooks/v$KAMAL_EMU_VERSION-$KAMAL_COMMAND-post-deploy.lock-details.raw)"
  base64 -d < "$lockdir/details"; echo
fi
for c in "lock status" "accessory boot all" "lock status"; do
  echo "### nested: kamal $c"
  kamal $c 2>&1
  echo "### rc=$? wall_s=0"
done
echo "### end"
} > "$HOOK_OUT"
`

// normalizeRecording blanks run-to-run values and the recording's paths, and
// drops from the host listing the entries of Docker work the emulator does not do.
func normalizeRecording(s, work string) string {
	s = strings.ReplaceAll(s, work, "$HS_WORK")
	var out []string
	listing := false
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "### ") {
			listing = line == "### host-side ~/.kamal listing"
		} else if listing && line != "." && line != ".." && !strings.HasPrefix(line, "lock") {
			continue // app-audit.log, apps, proxy: Docker work
		}
		if strings.HasPrefix(line, "KAMAL_RECORDED_AT=") {
			line = "KAMAL_RECORDED_AT=X"
		}
		out = append(out, line)
	}
	return normalizeOutput(strings.Join(out, "\n"))
}

// TestPostDeployMatchesFixtures runs setup and deploy as 2.5.3, 2.6.0 and 2.12.0
// with the recordings' post-deploy hook and compares what the hook saw (the
// KAMAL_* environment, the lock, the nested kamal calls and their output) and
// the lock commands sent to the host with the recordings.
func TestPostDeployMatchesFixtures(t *testing.T) {
	for _, ver := range []string{"2.5.3", "2.6.0", "2.12.0"} {
		for _, command := range []string{"setup", "deploy"} {
			t.Run(ver+"/"+command, func(t *testing.T) {
				r := newRepo(t, ver, deployYML)
				hookOut := filepath.Join(r.work, "hook.out")
				r.setenv("HOOK_OUT", hookOut)
				r.setenv("LOCKHOME", r.home)
				r.hook("post-deploy", recorderHook)
				r.mustRun(command)

				data, err := os.ReadFile(hookOut)
				if err != nil {
					t.Fatal(err)
				}
				fixture := readFixture(t, ver, command+"-post-deploy-hook.txt")
				if got, want := normalizeRecording(string(data), r.work), normalizeRecording(fixture, "\x00"); got != want {
					t.Errorf("%s-post-deploy-hook.txt differs:\n%s", command, diffLines(strings.Split(got, "\n"), strings.Split(want, "\n")))
				}

				// The same facts, spelt out.
				names, vals := kamalVars(string(data))
				fnames, _ := kamalVars(fixture)
				if !slices.Equal(names, fnames) {
					t.Errorf("KAMAL_* names %v, fixture %v", names, fnames)
				}
				wantLock := map[string]string{"2.5.3/setup": "", "2.5.3/deploy": "", "2.6.0/setup": "true", "2.6.0/deploy": "false", "2.12.0/setup": "true", "2.12.0/deploy": "false"}[ver+"/"+command]
				if got, ok := vals["KAMAL_LOCK"]; got != wantLock || ok != (wantLock != "") {
					t.Errorf("KAMAL_LOCK=%q (set: %v), want %q", got, ok, wantLock)
				}
				held := strings.Contains(string(data), "### lock held while hook runs")
				if held != (command == "setup") {
					t.Errorf("lock held during post-deploy under %s: %v", command, held)
				}
				nestedFails := strings.Contains(string(data), "### nested: kamal accessory boot all\n") &&
					strings.Contains(string(data), "Deploy lock found") && strings.Contains(string(data), "### rc=1 ")
				if want := ver == "2.5.3" && command == "setup"; nestedFails != want {
					t.Errorf("nested accessory boot all failed: %v, want %v", nestedFails, want)
				}

				got := normalizeCommands(t, r.commands())
				var want []string
				for _, c := range fixtureCommands(t, readFixture(t, ver, command+".remote-commands.txt")) {
					if lockRelated(c) {
						want = append(want, normalizeCommand(t, c))
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("lock commands differ from %s.remote-commands.txt:\n%s", command, diffLines(got, want))
				}
				if r.exists(".kamal/lock-app") {
					t.Errorf("lock left behind")
				}
			})
		}
	}
}

// kamalVars returns the KAMAL_* names (sorted, as env | sort lists them) of a
// recording, and their values.
func kamalVars(s string) ([]string, map[string]string) {
	var names []string
	vals := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "KAMAL_") {
			names = append(names, k)
			vals[k] = v
		}
	}
	return names, vals
}
