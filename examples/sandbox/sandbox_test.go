package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	sectionTitle = "## Try it: a sandbox with Kamal and a host"
	prompt       = "(hookshim sandbox) $ "
	elided       = "…" // the README's mark for what changes from run to run
)

// TestReadmeTour runs the README's "Try it" section as a newcomer would:
// examples/sandbox.sh (go run included) with exactly the section's commands, in
// its non-interactive mode, and checks everything they print against the
// section's blocks, … standing for what changes from run to run. Then nothing
// of the sandbox is left: no directory, no process.
func TestReadmeTour(t *testing.T) {
	root := moduleDir(t)
	start, session := readmeBlocks(t, root)
	var script strings.Builder
	for _, l := range session {
		if cmd, ok := strings.CutPrefix(l, prompt); ok {
			// The prompt and the command, as the reader sees them, then the command.
			fmt.Fprintf(&script, "printf '%%s\\n' %s\n%s\n", shQuote(l), cmd)
		}
	}
	cmd := exec.Command("sh", "examples/sandbox.sh", "-c", script.String())
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp") // the README shows /tmp
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // one stream, in the order written, as on a terminal
	// A process left holding the output must not hang the test: assertGone names it.
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	// The start block without its command and the empty prompt it ends with.
	want := append(append([]string(nil), start[1:len(start)-1]...), session...)
	if err != nil || !matchLines(want, got) {
		t.Fatalf("examples/sandbox.sh -c (the section's commands): %v; it printed:\n%s\nwhich does not match README.md's section %q:\n%s",
			err, out.String(), sectionTitle, strings.Join(want, "\n"))
	}
	// web1 has the sandbox's hookshim: a deferred hook watches the lock there.
	if strings.Contains(out.String(), "is not installed on web1") {
		t.Errorf("the sandbox's web1 has no hookshim on its PATH:\n%s", out.String())
	}
	dir := removedDir(t, got)
	assertGone(t, dir)
}

// TestSandboxEndsOnSignal: SIGINT or SIGTERM to examples/sandbox.sh's pid, or SIGKILL, while its
// shell runs and a deferred hook's waiter waits for a lock held by hand,
// leaves no directory and no process behind.
func TestSandboxEndsOnSignal(t *testing.T) {
	root := moduleDir(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command("sh", "examples/sandbox.sh", "-c", `
hookshim install --hooks .kamal/hooks >/dev/null 2>&1
kamal lock acquire -m "db maintenance" >/dev/null 2>&1
hookshim run --policy defer post-deploy 2>/dev/null || exit 1
echo "$PPID $SANDBOX_DIR"
read line`)
			cmd.Dir = root
			// read line: the shell would run until the end of the test, if the
			// sandbox's end did not end it. No goroutine copies any of the
			// streams, so that Wait waits for the sandbox only.
			stdin, keep, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer keep.Close()
			cmd.Stdin = stdin
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stdin.Close()
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			f := strings.Fields(line)
			pid := 0
			if len(f) == 2 {
				pid, _ = strconv.Atoi(f[0])
			}
			if pid <= 0 {
				cmd.Wait()
				said, _ := os.ReadFile(stderr.Name())
				t.Fatalf("the sandbox did not start its commands: %q\n%s", line, said)
			}
			dir := f[1]
			if waiters := processesIn(t, filepath.Join(dir, "app")); runtime.GOOS == "linux" && len(waiters) < 2 {
				t.Fatalf("want the shell and the deferred hook's waiter running in the project, got pids %v", waiters)
			}
			// The signal goes to examples/sandbox.sh's own pid, as `kill $!`
			// sends it: that must be the sandbox (the script execs it), not a
			// go run that would die alone and leave the sandbox running.
			if pid != cmd.Process.Pid {
				t.Errorf("the -c shell's parent is pid %d, not examples/sandbox.sh's pid %d", pid, cmd.Process.Pid)
			}
			if err := syscall.Kill(cmd.Process.Pid, sig); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			assertGone(t, dir)
		})
	}
}

// moduleDir is the checkout's root.
func moduleDir(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// readmeBlocks returns the lines of the section's first block (starting the
// sandbox) and those of its other blocks, one after the other (the session).
func readmeBlocks(t *testing.T, root string) (start, session []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+sectionTitle+"\n")
	if i < 0 {
		t.Fatalf("README.md has no section %q", sectionTitle)
	}
	text = text[i+1:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var blocks [][]string
	var cur []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case l == "```" && !in:
			in, cur = true, nil
		case l == "```" && in:
			in = false
			blocks = append(blocks, cur)
		case in:
			cur = append(cur, l)
		}
	}
	if len(blocks) < 2 || len(blocks[0]) < 3 || blocks[0][0] != "$ examples/sandbox.sh" || blocks[0][len(blocks[0])-1] != strings.TrimSpace(prompt) {
		t.Fatalf("README.md's section %q: want a first block from `$ examples/sandbox.sh` to the prompt, then the session's blocks; got %q", sectionTitle, blocks)
	}
	for _, b := range blocks[1:] {
		session = append(session, b...)
	}
	return blocks[0], session
}

// columnGap is the padding between two cells of a table.
var columnGap = regexp.MustCompile(`  +`)

// matchLines reports whether got matches want line for line, where … in a
// line matches any text, a line that is only … matches any lines, none
// included, and two spaces or more match two spaces or more.

func matchLines(want, got []string) bool {
	res := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		parts := strings.Split(w, elided)
		for j := range parts {
			// A table's columns are as wide as their widest value, which
			// changes from run to run (an age of 5s or 1m05s): two spaces or
			// more between cells match two spaces or more.
			parts[j] = columnGap.ReplaceAllString(regexp.QuoteMeta(parts[j]), "  +")
		}
		res[i] = regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	}
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(want) {
			return j == len(got)
		}
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		ok := false
		if want[i] == elided {
			ok = match(i+1, j) || j < len(got) && match(i, j+1)
		} else {
			ok = j < len(got) && res[i].MatchString(got[j]) && match(i+1, j+1)
		}
		memo[key] = ok
		return ok
	}
	return match(0, 0)
}

// removedDir is the sandbox's directory, from its last line.
func removedDir(t *testing.T, lines []string) string {
	t.Helper()
	const said = "sandbox: stopped web1's sshd and removed "
	last := lines[len(lines)-1]
	dir, ok := strings.CutPrefix(last, said)
	if !ok || !strings.Contains(dir, "hookshim-sandbox-") {
		t.Fatalf("last line %q, want %q and the sandbox's directory", last, said)
	}
	return dir
}

// assertGone checks that dir goes, with every process whose command line names
// it or whose working directory is in it (sshd, the shell, hookshim's waiters
// and shared SSH connections), within a generous deadline: after a SIGKILL the
// host process cleans up on its own time.
func assertGone(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := os.Stat(dir)
		procs := processesIn(t, dir)
		if os.IsNotExist(err) && len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox left %s behind (stat: %v), and processes %s", dir, err, describe(procs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesIn lists the processes whose command line mentions dir or whose
// working directory is in it (Linux /proc; elsewhere none are found).
func processesIn(t *testing.T, dir string) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if bytes.Contains(cmdline, []byte(dir)) || cwd == dir || strings.HasPrefix(cwd, dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// describe says what each pid is: its command line and working directory.
func describe(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		p := filepath.Join("/proc", strconv.Itoa(pid))
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		fmt.Fprintf(&b, "\n  pid %d: %s (in %s)", pid, bytes.ReplaceAll(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0}, []byte{' '}), cwd)
	}
	return b.String()
}
