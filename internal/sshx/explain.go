package sshx

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// unreachable is the error for an ssh that c started for t and that exited with
// status 255 after elapsed, having written stderr.
func (c *Client) unreachable(t Target, stderr string, elapsed time.Duration) *UnreachableError {
	stderr = strings.TrimSpace(stderr)
	return &UnreachableError{
		Target: t,
		Stderr: stderr,
		Reason: c.explain(t, stderr, elapsed),
		Check:  t.CheckCommand(c),
	}
}

// The patterns are compiled when ssh first fails, not at start-up: every
// hookshim run would pay for them (issue 12, start-up).
var (
	changedKeyRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`Host key for (\S+) has changed`) })
	offendingRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`Offending (\S+) key in (\S+):(\d+)`) })
	badConfigRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^(.+: line \d+: .+)$`) })
	unknownKeyRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`No \S+ host key is known for \S+ and you have requested strict checking\.`)
	})
)

// explain says what went wrong when ssh's last line alone would not: a
// changed host key (ssh ends with "Host key verification failed."), a time
// limit (ssh says "Connection timed out during banner exchange", or, at
// LogLevel=ERROR, nothing at all when the key exchange or a session went
// silent). "" leaves the last line of stderr to speak.
func (c *Client) explain(t Target, stderr string, elapsed time.Duration) string {
	// "FILE: line N: Bad configuration option: x", then "FILE: terminating,
	// 1 bad configuration options" (OpenSSH readconf.c): ssh never tried the
	// network, so say it is the file, not the host.
	if strings.Contains(stderr, ": terminating, ") && strings.Contains(stderr, "bad configuration option") {
		if m := badConfigRe().FindStringSubmatch(stderr); m != nil {
			return "ssh refused its configuration before connecting (" + summarize(m[1]) + "): fix that file, which --ssh-config, HOOKSHIM_SSH_CONFIG or deploy.yml's ssh: config: names"
		}
	}
	if m := changedKeyRe().FindStringSubmatch(stderr); m != nil {
		name := m[1]
		if o := offendingRe().FindStringSubmatch(stderr); o != nil {
			return fmt.Sprintf("the host key of %s has changed: it is not the %s key recorded for it in %s (line %s), and ssh refuses a changed key, as Kamal does; if the host was rebuilt, remove the old key with: ssh-keygen -R %s -f %s",
				name, o[1], o[2], o[3], shellWord(name), shellWord(o[2]))
		}
		return fmt.Sprintf("the host key of %s has changed: it is not the one in known_hosts, and ssh refuses a changed key, as Kamal does", name)
	}
	if m := unknownKeyRe().FindString(stderr); m != "" {
		return m + " (StrictHostKeyChecking in your ssh config; add the host's key to known_hosts, or let hookshim accept it as Kamal does by not setting StrictHostKeyChecking)"
	}
	if strings.Contains(stderr, "Connection timed out during banner exchange") ||
		(strings.Contains(stderr, "connect to host") && strings.HasSuffix(stderr, "Connection timed out")) {
		return fmt.Sprintf("no answer from %s within %ds (ConnectTimeout)", t.where(), c.connectTimeoutSeconds())
	}
	silence := time.Duration(c.serverAliveSeconds()*ServerAliveCountMax) * time.Second
	if summarize(stderr) == noMessage && elapsed >= silence {
		return fmt.Sprintf("no answer from %s for %ds (ServerAliveInterval=%d x ServerAliveCountMax=%d): it connected, then went silent",
			t.where(), c.serverAliveSeconds()*ServerAliveCountMax, c.serverAliveSeconds(), ServerAliveCountMax)
	}
	return ""
}

// where names t's host and port for a sentence: "10.0.0.5 port 2222", or
// just the host when the port is left to ssh.
func (t Target) where() string {
	if t.Port == 0 {
		return t.Host
	}
	return t.Host + " port " + strconv.Itoa(t.Port)
}

// CheckCommand is an ssh command a person can paste into a shell to try what
// hookshim tried on t with c (nil: a bare client): `ssh -p PORT [-F FILE]
// [-J JUMP] [-i KEY]... [-o OPTION]... user@host true`, with the port, config
// file, jump host, identities and options c passes (the host key policy
// included), each word quoted for sh only where it needs it. It leaves out
// BatchMode, so that the person sees any prompt ssh would have needed.
func (t Target) CheckCommand(c *Client) string { return t.Command(c, "true") }

// Command is the ssh command line, as CheckCommand renders it, that runs the
// remote words on t (none: just the ssh invocation, for a hint to complete).
func (t Target) Command(c *Client, remote ...string) string {
	w := []string{"ssh"}
	if t.Port != 0 {
		w = append(w, "-p", strconv.Itoa(t.Port))
	}
	if c != nil {
		if c.ConfigFile != "" {
			w = append(w, "-F", c.ConfigFile)
		}
		if c.ProxyJump != "" {
			w = append(w, "-J", c.ProxyJump)
		}
		for _, o := range c.Options {
			if k, v, ok := strings.Cut(o, "="); ok && strings.EqualFold(k, "IdentityFile") {
				w = append(w, "-i", v)
				continue
			}
			w = append(w, "-o", o)
		}
		for _, o := range c.hostKeyOptions(t) {
			w = append(w, "-o", o)
		}
	}
	dest := t.Host
	if t.User != "" {
		dest = t.User + "@" + t.Host
	}
	w = append(append(w, dest), remote...)
	for i := range w {
		w[i] = shellWord(w[i])
	}
	return strings.Join(w, " ")
}

// shellWord is s as one sh word: as it is when it holds only characters no
// shell treats specially, else single-quoted.
func shellWord(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(isNameByte(r) || strings.ContainsRune("@%+=:,./[]", r)) {
			return Quote(s)
		}
	}
	if strings.ContainsAny(s, "[]") {
		return Quote(s) // a glob to sh
	}
	return s
}

// Unresolved reports whether ssh failed because it could not resolve the
// host's name (OpenSSH 9.x ssh.c resolve_host: "ssh: Could not resolve
// hostname NAME: REASON"): a name no DNS knows, often a Host alias of an ssh
// config file that ssh was not given. With -J it may be the jump host's.
func (e *UnreachableError) Unresolved() bool {
	return strings.Contains(e.Stderr, "Could not resolve hostname ")
}
