package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// gzipBytes compresses b with no name and a zero time in the gzip header, so
// the result depends on b alone.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarEntry is one file of a tarball: its name inside and where to read it.
type tarEntry struct {
	name, src string
	mode      int64
}

// writeTarball writes hookshim_VERSION_OS_ARCH.tar.gz: one directory of that
// name holding the binary, the man page, the README and the completions, all
// owned by root with the release's time.
func writeTarball(dist, root, bin, goos, goarch string, v version, d docs) error {
	base := fmt.Sprintf("hookshim_%s_%s_%s", v.pkgVersion(), goos, goarch)
	entries := []tarEntry{
		{"hookshim", bin, 0o755},
		{manFile, d.path(manFile), 0o644},
		{"README.md", filepath.Join(root, "README.md"), 0o644},
		{"completions/" + bashFile, d.path(bashFile), 0o644},
		{"completions/" + zshFile, d.path(zshFile), 0o644},
		{"completions/" + fishFile, d.path(fishFile), 0o644},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{base + "/", base + "/completions/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: v.MTime, Uname: "root", Gname: "root", Format: tar.FormatUSTAR}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		b, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: base + "/" + e.name, Mode: e.mode, Size: int64(len(b)),
			ModTime: v.MTime, Uname: "root", Gname: "root", Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	gz, err := gzipBytes(buf.Bytes())
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dist, base+".tar.gz"), gz, 0o644)
}

// zshDir is where each distribution's zsh looks for vendor completions.
var zshDir = map[string]string{
	"deb": "/usr/share/zsh/vendor-completions/", // Debian, Ubuntu
	"rpm": "/usr/share/zsh/site-functions/",     // Fedora, RHEL, SUSE
}

// writePackage writes the .deb or .rpm for linux/goarch with nfpm.
func writePackage(dist, format, bin, goarch string, v version, d docs) error {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: files.TypeFile,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: v.MTime}}
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:            "hookshim",
		Arch:            goarch,
		Platform:        "linux",
		Version:         v.Base,
		VersionSchema:   "none",
		Prerelease:      v.Prerelease,
		VersionMetadata: v.Metadata,
		Release:         "1",
		Section:         "devel",
		Priority:        "optional",
		Maintainer:      "hookshim maintainers",
		Homepage:        "https://github.com/hookshim/hookshim",
		Description: "Kamal hooks that behave the same under every Kamal command\n" +
			"hookshim wraps Kamal hooks (run them now, take, wait for or defer Kamal's deploy lock)\n" +
			"and shows Kamal's deploy locks, every layout, on any number of hosts.",
		MTime: v.MTime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				file(bin, "/usr/bin/hookshim", 0o755),
				file(d.path(manGzFile), "/usr/share/man/man1/hookshim.1.gz", 0o644),
				file(d.path(bashFile), "/usr/share/bash-completion/completions/hookshim", 0o644),
				file(d.path(zshFile), zshDir[format]+"_hookshim", 0o644),
				file(d.path(fishFile), "/usr/share/fish/vendor_completions.d/hookshim.fish", 0o644),
			},
			RPM: nfpm.RPM{BuildHost: "hookshim-release", Summary: "Kamal hooks that behave the same under every Kamal command"},
		},
	})
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return err
	}
	name := filepath.Join(dist, pkgr.ConventionalFileName(info))
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Close()
}

// writeSums writes SHA256SUMS (sha256sum -c format) over every file in dist.
func writeSums(dist string, v version) error {
	ents, err := os.ReadDir(dist)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && e.Name() != "SHA256SUMS" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dist, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&sb, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	if err := os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	// Every file in dist/ gets the release's time, so that a copy made with
	// its times (rsync -t, a tarball of dist/) is the same on each run too.
	for _, n := range append(names, "SHA256SUMS") {
		if err := os.Chtimes(filepath.Join(dist, n), v.MTime, v.MTime); err != nil {
			return err
		}
	}
	return nil
}
