package sshx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ConfigFileFor gives the value of Client.ConfigFile (ssh's -F) that makes ssh
// read files, absolute paths in order, the way Kamal 2.12 has net-ssh read the
// files of deploy.yml's `ssh: config:` (lib/kamal/configuration/ssh.rb; net-ssh 7
// lib/net/ssh/config.rb): a file that cannot be read is skipped, and of the rest
// the first value of an option wins, IdentityFile lines adding up. So: "none"
// when no file can be read, the one file when one can, and for several the file
// IncludeConfig writes in cacheDir (OpenSSH takes a single -F).
func ConfigFileFor(files []string, cacheDir string) (string, error) {
	var readable []string
	for _, f := range files {
		if !filepath.IsAbs(f) {
			return "", fmt.Errorf("ssh config file %q: the path must be absolute", f)
		}
		if fh, err := os.Open(f); err == nil {
			fi, err := fh.Stat()
			fh.Close()
			if err == nil && fi.Mode().IsRegular() {
				readable = append(readable, f)
			}
		}
	}
	switch len(readable) {
	case 0:
		return "none", nil
	case 1:
		return readable[0], nil
	}
	return IncludeConfig(readable, cacheDir)
}

// IncludeConfig writes, once, an ssh_config file that only Includes files
// (absolute paths) in order, and returns its path:
// <cacheDir>/hookshim/ssh_config-<hash of the content> (cacheDir "" means
// os.UserCacheDir(), i.e. $XDG_CACHE_HOME or ~/.cache; directory 0700,
// file 0600; the name comes from the content, so it is written once and may be
// shared by any number of processes, and a hint that names it still works
// after hookshim has exited). OpenSSH checks the owner and permissions of an
// included file as it does ~/.ssh/config's: a file others can write is refused.
func IncludeConfig(files []string, cacheDir string) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by hookshim: OpenSSH takes one -F, and deploy.yml's ssh: config:\n" +
		"# lists several files. ssh reads them in this order; the first value of an\n" +
		"# option wins, as in Kamal.\n")
	for _, f := range files {
		if !filepath.IsAbs(f) || strings.ContainsAny(f, "\"\n\r") {
			return "", fmt.Errorf("ssh config file %q cannot be included: it must be an absolute path without '\"' or a line break", f)
		}
		fmt.Fprintf(&b, "Include \"%s\"\n", f)
	}
	content := b.String()
	sum := sha256.Sum256([]byte(content))

	cache, err := cacheDir, error(nil)
	if cache == "" {
		cache, err = os.UserCacheDir()
	}
	if err != nil {
		return "", fmt.Errorf("writing an ssh config that includes %s: %w (set XDG_CACHE_HOME, or list one file in ssh: config:)", strings.Join(files, ", "), err)
	}
	dir := filepath.Join(cache, "hookshim")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("writing an ssh config that includes several files: %w (set XDG_CACHE_HOME to a writable directory)", err)
	}
	path := filepath.Join(dir, "ssh_config-"+hex.EncodeToString(sum[:8]))
	if have, err := os.ReadFile(path); err == nil && string(have) == content {
		return path, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".ssh_config-*")
	if err != nil {
		return "", fmt.Errorf("writing an ssh config that includes several files: %w", err)
	}
	_, werr := tmp.WriteString(content)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path) // atomic: a reader sees all of it or none
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("writing %s: %w", path, werr)
	}
	return path, nil
}
