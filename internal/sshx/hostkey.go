package sshx

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// acceptNew is the option that gives OpenSSH the host key policy of Kamal's
// net-ssh: Kamal 2.12 passes no verify_host_key, so net-ssh 7 uses
// :accept_new_or_local_tunnel: a host never seen is accepted and its key
// remembered in known_hosts, a changed key is refused.
const acceptNew = "StrictHostKeyChecking=accept-new"

// maxIncludeDepth is OpenSSH's limit on nested Include (READCONF_MAX_DEPTH).
const maxIncludeDepth = 16

// hostKeyOptions is what the host key policy adds for t: acceptNew, unless the
// caller's Options or the ssh config in effect for t set StrictHostKeyChecking
// themselves (ssh keeps the first value it reads, and -o comes before every
// file, so passing it would override the user's own setting).
//
// Finding out costs nothing in the common case: when no config file ssh reads
// (nor any file they Include) has a StrictHostKeyChecking line, none can set it.
// Only when one has, `ssh -G` asks ssh itself for t, once per process and
// target (see setsHostKeyChecking).
func (c *Client) hostKeyOptions(t Target) []string {
	for _, o := range c.Options {
		if k, _, _ := strings.Cut(o, "="); strings.EqualFold(strings.TrimSpace(k), "StrictHostKeyChecking") {
			return nil
		}
	}
	files := c.configFiles()
	if !mentionsKeyword(files, 0, "stricthostkeychecking") {
		return []string{acceptNew}
	}
	if c.setsHostKeyChecking(t, files) {
		return nil
	}
	return []string{acceptNew}
}

// configRef is one ssh_config file; system says it is read as the system-wide
// file (relative Include paths are then under /etc/ssh, else under ~/.ssh).
type configRef struct {
	path   string
	system bool
}

// configFiles are the files ssh reads for c: ~/.ssh/config and
// /etc/ssh/ssh_config by default, ConfigFile when set, none for "none".
func (c *Client) configFiles() []configRef {
	switch c.ConfigFile {
	case "":
		var refs []configRef
		if home := sshHome(); home != "" {
			refs = append(refs, configRef{path: filepath.Join(home, ".ssh", "config")})
		}
		return append(refs, configRef{path: "/etc/ssh/ssh_config", system: true})
	case "none":
		return nil
	default:
		return []configRef{{path: c.ConfigFile}}
	}
}

// sshHome is the home directory ssh uses for ~: the password database's, not $HOME.
func sshHome() string {
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return os.Getenv("HOME")
}

// mentionsKeyword reports whether any of files, or any file they Include, has
// a line with keyword (lower case), or might have one: a file that
// exists but cannot be read, an Include it cannot follow (tokens, environment
// variables, a bad pattern) or one nested too deep all count as "yes", which
// only costs an `ssh -G`. Missing files count as "no": ssh skips them too (a
// missing -F file makes ssh fail whatever is passed).
func mentionsKeyword(files []configRef, depth int, keyword string) bool {
	if depth > maxIncludeDepth {
		return true
	}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return true
		}
		if scanConfig(b, f.system, depth, keyword) {
			return true
		}
	}
	return false
}

// scanConfig looks through one file's lines for keyword, following its
// Include lines.
func scanConfig(b []byte, system bool, depth int, keyword string) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), len(b)+1)
	for sc.Scan() {
		key, rest := configKeyword(sc.Text())
		switch strings.ToLower(key) {
		case keyword:
			return true
		case "include":
			included, ok := includedFiles(rest, system)
			if !ok || mentionsKeyword(included, depth+1, keyword) {
				return true
			}
		}
	}
	return sc.Err() != nil
}

// configKeyword splits an ssh_config line into its keyword and the rest, the
// way OpenSSH does: leading blanks skipped, the keyword ends at a blank or '=',
// and one '=' may separate it from the arguments. A comment or blank line gives "".
func configKeyword(line string) (key, rest string) {
	line = strings.TrimLeft(line, " \t\r")
	if line == "" || line[0] == '#' {
		return "", ""
	}
	i := strings.IndexAny(line, " \t\r=")
	switch {
	case i < 0:
		return line, ""
	case i == 0:
		return "", "" // "=value" names no keyword: OpenSSH rejects the line
	}
	key, rest = line[:i], strings.TrimLeft(line[i:], " \t\r")
	rest = strings.TrimPrefix(rest, "=")
	return key, strings.TrimSpace(rest)
}

// includedFiles expands an Include line's arguments to files: "~/" is the
// home directory, a relative path is under ~/.ssh (or /etc/ssh for the system
// file), and globs are expanded. ok is false when it cannot tell: an argument
// with a % token or ${VAR}, or a quote it cannot parse.
func includedFiles(args string, system bool) (refs []configRef, ok bool) {
	words, ok := configWords(args)
	if !ok {
		return nil, false
	}
	for _, w := range words {
		if strings.ContainsAny(w, "%$") {
			return nil, false
		}
		switch {
		case strings.HasPrefix(w, "~/"):
			w = filepath.Join(sshHome(), w[2:])
		case strings.HasPrefix(w, "~"):
			return nil, false // ~user
		case !filepath.IsAbs(w) && system:
			w = filepath.Join("/etc/ssh", w)
		case !filepath.IsAbs(w):
			w = filepath.Join(sshHome(), ".ssh", w)
		}
		matches, err := filepath.Glob(w)
		if err != nil {
			return nil, false
		}
		for _, m := range matches {
			refs = append(refs, configRef{path: m, system: system})
		}
	}
	return refs, true
}

// configWords splits ssh_config arguments at blanks, with "double quotes"
// around an argument that holds blanks. ok is false for an unclosed quote.
func configWords(s string) (words []string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t\r")
		if s == "" {
			return words, true
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, false
			}
			words = append(words, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t\r")
		if end < 0 {
			end = len(s)
		}
		words = append(words, s[:end])
		s = s[end:]
	}
}

// gMemo remembers `ssh -G` answers for the life of the process: the config
// files are not expected to change under a running hookshim.
var gMemo = struct {
	sync.Mutex
	m map[string]bool
	g map[string]map[string]string
}{m: map[string]bool{}, g: map[string]map[string]string{}}

// gTimeout bounds one `ssh -G`: it reads files and may run a Match exec.
const gTimeout = 10 * time.Second

// setsHostKeyChecking asks ssh itself whether the config files set
// StrictHostKeyChecking for t. `ssh -G` alone cannot tell an explicit "ask" from
// the default, so it reads a config given on its stdin that Includes the files
// in order and then sets accept-new for every host: ssh keeps the first value,
// so accept-new comes out only when the files set nothing (or accept-new
// itself). When ssh -G fails, the answer is "set": then nothing is added.
func (c *Client) setsHostKeyChecking(t Target, files []configRef) bool {
	var cfg strings.Builder
	for _, f := range files {
		if strings.ContainsAny(f.path, "\"\n\r") {
			return true
		}
		cfg.WriteString("Include \"" + f.path + "\"\n")
	}
	cfg.WriteString("Host *\n\tStrictHostKeyChecking accept-new\n")
	args := []string{"-G", "-F", "/dev/stdin"}
	if t.User != "" {
		args = append(args, "-l", t.User)
	}
	if t.Port != 0 {
		args = append(args, "-p", strconv.Itoa(t.Port))
	}
	args = append(args, "--", t.Host)
	key := c.binary() + "\x00" + strings.Join(args, "\x00") + "\x00" + cfg.String()

	gMemo.Lock()
	defer gMemo.Unlock()
	if v, ok := gMemo.m[key]; ok {
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), gTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.binary(), args...)
	cmd.Stdin = strings.NewReader(cfg.String())
	out, err := cmd.Output()
	set := true
	if err == nil {
		set = !bytes.Contains(append([]byte("\n"), out...), []byte("\nstricthostkeychecking accept-new\n"))
	}
	gMemo.m[key] = set
	return set
}
