// Command release writes the release files to dist/ (go run ./release):
//
//   - hookshim_VERSION_OS_ARCH.tar.gz for linux/amd64, linux/arm64,
//     darwin/amd64 and darwin/arm64: the static binary (CGO_ENABLED=0,
//     -trimpath, urfave_cli_no_docs), its man page, the shell completions
//     and the README;
//   - hookshim_VERSION_ARCH.deb and hookshim-VERSION.ARCH.rpm for both Linux
//     architectures, built with nfpm as a library: /usr/bin/hookshim, the man
//     page, and completions for bash, zsh and fish;
//   - SHA256SUMS over every other file in dist/.
//
// The version is `git describe --tags --always --dirty`; every file time is
// the commit's time (or SOURCE_DATE_EPOCH), so two runs on the same commit
// write byte-identical files. The man page and the completion scripts come
// from the command definitions, through a host build of hookshim with
// -tags hookshim_docs (its hidden `man` command and `completion`).
//
// Flags: -dist DIR (default dist), -targets os/arch,... (default all four).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// allTargets are the platforms released by default.
var allTargets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}

func main() {
	dist := flag.String("dist", "dist", "write the release files to `DIR` (emptied first)")
	targets := flag.String("targets", strings.Join(allTargets, ","), "comma-separated `OS/ARCH` list to build")
	flag.Parse()
	if err := run(*dist, strings.Split(*targets, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "release: error:", err)
		os.Exit(1)
	}
}

func run(dist string, targets []string) error {
	for _, t := range targets {
		if !contains(allTargets, t) {
			return fmt.Errorf("-targets: %q is not one of %s", t, strings.Join(allTargets, ", "))
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	v, err := describe(root)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hookshim-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	docs, err := generateDocs(root, tmp)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dist); err != nil {
		return err
	}
	if err := os.MkdirAll(dist, 0o755); err != nil {
		return err
	}
	for _, t := range targets {
		goos, goarch, _ := strings.Cut(t, "/")
		bin := filepath.Join(tmp, goos+"-"+goarch, "hookshim")
		if err := buildBinary(root, bin, goos, goarch, v.Tag); err != nil {
			return err
		}
		if err := writeTarball(dist, root, bin, goos, goarch, v, docs); err != nil {
			return err
		}
		if goos != "linux" {
			continue
		}
		for _, format := range []string{"deb", "rpm"} {
			if err := writePackage(dist, format, bin, goarch, v, docs); err != nil {
				return err
			}
		}
	}
	return writeSums(dist, v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
