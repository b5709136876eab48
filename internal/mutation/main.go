// Command mutation is a mutation pass over hookshim's lock, hook and job code:
// for each mutation in the list (mutations.go) — a file, an exact piece of its
// text and what to put instead — it changes a copy of the repository, runs the
// tests that cover that code, and reports the mutation killed (a test failed),
// survived (every test passed: a gap, or an equivalent change, said so in the
// list), invalid (it does not build) or not applicable (the text is no longer
// there exactly once, because the code moved on).
//
//	go run ./internal/mutation              every mutation
//	go run ./internal/mutation -only claim  those whose name matches a regexp
//	go run ./internal/mutation -list        check that each still applies
//
// It never touches the working tree: it works in a copy of the files git
// tracks. Exit status 1 when a mutation survived that is not marked
// equivalent.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Mutation is one deliberate bug.
type Mutation struct {
	Name       string   // short, unique
	File       string   // relative to the repository
	Old, New   string   // Old must occur exactly once in File
	Pkgs       []string // the packages whose tests cover it
	Run        string   // go test -run, when only some tests cover it
	Equivalent string   // why no test can tell, for a known survivor
}

func main() {
	only := flag.String("only", "", "run only mutations whose name matches `REGEXP`")
	timeout := flag.Duration("timeout", 4*time.Minute, "go test -timeout for each mutation")
	list := flag.Bool("list", false, "only check that each mutation applies; run no tests")
	flag.Parse()
	re, err := regexp.Compile(*only)
	if err != nil {
		fatal(err)
	}
	copyDir, err := copyRepo()
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(copyDir)
	var killed, survived, invalid, notApplicable int
	var survivors []string
	unexpected := 0
	for _, m := range mutations {
		if !re.MatchString(m.Name) {
			continue
		}
		res, detail := try(copyDir, m, *timeout, *list)
		fmt.Printf("%-16s %-40s %s\n", res, m.Name, detail)
		switch res {
		case "KILLED":
			killed++
		case "SURVIVED":
			survived++
			why := "NOT EQUIVALENT: a test is missing"
			if m.Equivalent != "" {
				why = "equivalent: " + m.Equivalent
			} else {
				unexpected++
			}
			survivors = append(survivors, fmt.Sprintf("  %s (%s): %s", m.Name, m.File, why))
		case "INVALID":
			invalid++
		case "APPLIES":
		default:
			notApplicable++
		}
	}
	applied := killed + survived
	rate := 0.0
	if applied > 0 {
		rate = 100 * float64(killed) / float64(applied)
	}
	fmt.Printf("\n%d of %d mutations killed (%.0f%%); %d survived, %d invalid, %d not applicable\n", killed, applied, rate, survived, invalid, notApplicable)
	if len(survivors) > 0 {
		fmt.Println("survivors:\n" + strings.Join(survivors, "\n"))
	}
	if unexpected > 0 {
		os.Exit(1)
	}
}

// try applies m in the copy, runs its tests and puts the file back.
func try(dir string, m Mutation, timeout time.Duration, dryRun bool) (result, detail string) {
	path := filepath.Join(dir, filepath.FromSlash(m.File))
	orig, err := os.ReadFile(path)
	if err != nil {
		return "NOT APPLICABLE", fmt.Sprintf("mutation not applicable (%v)", err)
	}
	switch n := bytes.Count(orig, []byte(m.Old)); n {
	case 1:
	case 0:
		return "NOT APPLICABLE", "mutation not applicable (text not found in " + m.File + ")"
	default:
		return "NOT APPLICABLE", fmt.Sprintf("mutation not applicable (text found %d times in %s)", n, m.File)
	}
	if dryRun {
		return "APPLIES", m.File
	}
	if err := os.WriteFile(path, bytes.Replace(orig, []byte(m.Old), []byte(m.New), 1), 0o644); err != nil {
		fatal(err)
	}
	defer func() {
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			fatal(err)
		}
	}()
	args := []string{"test", "-count=1", "-timeout", timeout.String()}
	if m.Run != "" {
		args = append(args, "-run", m.Run)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", append(args, m.Pkgs...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	took := time.Since(start).Round(time.Second)
	switch {
	case err == nil:
		return "SURVIVED", fmt.Sprintf("(%s) go %s", took, strings.Join(append(args, m.Pkgs...), " "))
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		return "INVALID", "does not build: " + firstLine(out, regexp.MustCompile(`\.go:\d+:\d+: .*`))
	}
	return "KILLED", fmt.Sprintf("(%s) %s", took, firstLine(out, regexp.MustCompile(`--- FAIL: \S+|panic: .*|FAIL: testdata/\S+`)))
}

func firstLine(out []byte, re *regexp.Regexp) string {
	if m := re.Find(out); m != nil {
		return string(m)
	}
	return "(see go test)"
}

// copyRepo copies the files git tracks (with the working tree's content) to
// a new directory.
func copyRepo() (string, error) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files: %w (run it in the repository)", err)
	}
	dir, err := os.MkdirTemp("", "hookshim-mutation-")
	if err != nil {
		return "", err
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		fi, err := os.Lstat(name)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return dir, err
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return dir, err
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mutation:", err)
	os.Exit(2)
}
