package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// version is what the release is stamped with.
type version struct {
	Tag   string    // git describe --tags --always --dirty, e.g. v1.2.0, v1.2.0-3-g1a2b3c4, 1a2b3c4-dirty
	MTime time.Time // every file's time: SOURCE_DATE_EPOCH, else the commit's time
	// The package version, split as nfpm wants it: Base (1.2.0; 0.0.0 before
	// the first tag), Prerelease (sorts before Base: git.HASH without a tag)
	// and Metadata (sorts after it: git3.HASH for commits after a tag; .dirty
	// for uncommitted changes).
	Base, Prerelease, Metadata string
}

// describeRE reads git describe's output.
var describeRE = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)

func describe(root string) (version, error) {
	var v version
	out, err := git(root, "describe", "--tags", "--always", "--dirty", "--abbrev=12")
	if err != nil {
		return v, fmt.Errorf("cannot tell the version (%v): run it in the git checkout", err)
	}
	v.Tag = out
	if m := describeRE.FindStringSubmatch(out); m != nil {
		v.Base = m[1]
		if m[2] != "" {
			v.Metadata = "git" + m[2] + "." + m[3]
		}
		if m[4] != "" {
			v.Metadata = strings.TrimPrefix(v.Metadata+".dirty", ".")
		}
	} else {
		hash, dirty := strings.CutSuffix(out, "-dirty")
		v.Base, v.Prerelease = "0.0.0", "git."+hash
		if dirty {
			v.Metadata = "dirty"
		}
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git(root, "log", "-1", "--format=%ct"); err != nil {
			return v, err
		}
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return v, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", epoch)
	}
	v.MTime = time.Unix(sec, 0).UTC()
	return v, nil
}

// pkgVersion is the version as the file names and package managers show it.
func (v version) pkgVersion() string {
	s := v.Base
	if v.Prerelease != "" {
		s += "~" + v.Prerelease
	}
	if v.Metadata != "" {
		s += "+" + v.Metadata
	}
	return s
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not in the hookshim module: run go run ./release from the checkout")
	}
	return filepath.Dir(gomod), nil
}

// buildBinary builds the static release binary for goos/goarch: no cgo, no
// file paths or build id in it, urfave/cli's docs code left out (it slows
// every start), the version stamped.
func buildBinary(root, out, goos, goarch, tag string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "urfave_cli_no_docs",
		"-ldflags", "-s -w -buildid= -X main.version="+tag, "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s/%s: %v\n%s", goos, goarch, err, stderr.String())
	}
	return nil
}

// docs are the files generated from the command definitions, in Dir.
type docs struct{ Dir string }

// The files in docs.Dir.
const (
	manFile   = "hookshim.1"
	manGzFile = "hookshim.1.gz"
	bashFile  = "hookshim.bash"
	zshFile   = "_hookshim"
	fishFile  = "hookshim.fish"
)

func (d docs) path(name string) string { return filepath.Join(d.Dir, name) }

// generateDocs builds hookshim for this machine with -tags hookshim_docs and
// asks it for the man page and the completion scripts.
func generateDocs(root, tmp string) (docs, error) {
	d := docs{Dir: filepath.Join(tmp, "docs")}
	if err := os.Mkdir(d.Dir, 0o755); err != nil {
		return d, err
	}
	bin := filepath.Join(tmp, "hookshim-docs")
	cmd := exec.Command("go", "build", "-tags", "hookshim_docs", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return d, fmt.Errorf("go build -tags hookshim_docs: %v\n%s", err, out)
	}
	for name, args := range map[string][]string{
		manFile:  {"man"},
		bashFile: {"completion", "bash"},
		zshFile:  {"completion", "zsh"},
		fishFile: {"completion", "fish"},
	} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || len(out) == 0 {
			return d, fmt.Errorf("hookshim %s: %v", strings.Join(args, " "), err)
		}
		if err := os.WriteFile(d.path(name), out, 0o644); err != nil {
			return d, err
		}
		if name == manFile {
			gz, err := gzipBytes(out)
			if err != nil {
				return d, err
			}
			if err := os.WriteFile(d.path(manGzFile), gz, 0o644); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}
