package shim

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// State is how the lock stands for the hook about to run.
type State string

const (
	Free    State = "free"    // nobody holds it
	Ours    State = "ours"    // the Kamal run that called this hook holds it, or hookshim on its behalf
	Theirs  State = "theirs"  // anyone else, a manual `kamal lock acquire` included
	Unknown State = "unknown" // held, holder unreadable: counts as theirs unless proven ours
)

// KamalEnv is what the calling Kamal told the hook through its environment.
type KamalEnv struct {
	Command    string    // KAMAL_COMMAND: setup, deploy, redeploy, rollback, ...
	Version    string    // KAMAL_VERSION
	RecordedAt time.Time // KAMAL_RECORDED_AT: when the hook was started
	// Lock is KAMAL_LOCK: "true", "false", or "" when absent (Kamal < 2.6).
	Lock string
	// Token is HOOKSHIM_LOCK_TOKEN: set inside a hook that hookshim holds the lock for.
	Token string
	// Under is true when any KAMAL_* variable is set: a Kamal called this hook.
	Under bool
}

// ReadKamalEnv reads KamalEnv from an environment, checking KAMAL_LOCK.
func ReadKamalEnv(getenv func(string) (string, bool)) (KamalEnv, error) {
	var k KamalEnv
	get := func(key string) string { v, _ := getenv(key); return v }
	k.Command, k.Version, k.Token = get("KAMAL_COMMAND"), get("KAMAL_VERSION"), get("HOOKSHIM_LOCK_TOKEN")
	if v := get("KAMAL_RECORDED_AT"); v != "" {
		k.RecordedAt, _ = time.Parse(time.RFC3339, v)
	}
	for _, key := range []string{"KAMAL_COMMAND", "KAMAL_VERSION", "KAMAL_SERVICE", "KAMAL_HOSTS", "KAMAL_RECORDED_AT"} {
		if _, ok := getenv(key); ok {
			k.Under = true
		}
	}
	// An empty KAMAL_LOCK (a shell's `export KAMAL_LOCK=`) counts as unset.
	if v, ok := getenv("KAMAL_LOCK"); ok && v != "" {
		if v != "true" && v != "false" {
			return k, exitcode.Newf(exitcode.Usage, "KAMAL_LOCK=%q is neither true nor false", v).
				WithHint("Kamal 2.6+ sets it to true or false; unset it, or set it to one of those")
		}
		k.Lock, k.Under = v, true
	}
	return k, nil
}

// HonoursKamalLock reports whether the calling Kamal is 2.6 or newer: only those
// pass KAMAL_LOCK, and only those skip taking a lock they are told they hold.
func (k KamalEnv) HonoursKamalLock() bool { return k.Lock != "" }

// Generation names the Kamal generation for people.
func (k KamalEnv) Generation() string {
	switch {
	case k.HonoursKamalLock():
		return "Kamal 2.6+"
	case k.Under:
		return "Kamal < 2.6"
	}
	return "no Kamal"
}

// Ownership is a lock's state together with the reason it was judged so.
type Ownership struct {
	State  State
	Reason string // for the decision line: why ours or theirs
	Lock   lockfile.Lock
	// ByToken: ours because an enclosing hookshim holds it for us.
	ByToken bool
}

// Classify decides whose the observed lock is: a hookshim hold whose token is
// in the environment; KAMAL_LOCK=true; for
// Kamal < 2.6, a hook Kamal runs under its own lock plus a lock that matches
// this Kamal run exactly (automatic message, version, git user, taken before
// the hook started). gitUser is called only when that last proof is needed.
//
// The lock's age is deliberately not bounded by KAMAL_RUNTIME: setup takes its
// lock before bootstrapping servers, which KAMAL_RUNTIME does not count.
func Classify(l lockfile.Lock, k KamalEnv, hook string, gitUser func() string) Ownership {
	o := Ownership{Lock: l}
	if !l.State.IsHeld() {
		o.State, o.Reason = Free, "nobody holds it"
		return o
	}
	// The token is checked first: it is the more precise proof, since an
	// enclosing hookshim hold also sets KAMAL_LOCK=true.
	if k.Token != "" {
		if h, ok := l.Hold(); ok && h.Token == k.Token {
			o.State, o.Reason, o.ByToken = Ours, "held by the enclosing hookshim, HOOKSHIM_LOCK_TOKEN matches", true
			return o
		}
	}
	if k.Lock == "true" {
		o.State, o.Reason = Ours, "Kamal 2.6+, KAMAL_LOCK=true"
		return o
	}
	if l.Details == nil {
		o.State, o.Reason = Unknown, "holder unknown: "+l.Problem
		return o
	}
	d := l.Details
	if !k.HonoursKamalLock() && k.Under && RunsUnderKamalLock(hook, k.Command) {
		var miss []string
		if !d.IsAutomatic() {
			miss = append(miss, fmt.Sprintf("message is %q, not %q", d.Message, lockfile.AutomaticMessage))
		}
		// Rollback takes its lock before switching to the version it rolls back
		// to, so its hooks see another KAMAL_VERSION than the lock holds.
		if k.Version == "" || (d.Version != k.Version && k.Command != "rollback") {
			miss = append(miss, fmt.Sprintf("version %q is not KAMAL_VERSION %q", d.Version, k.Version))
		}
		if user := gitUser(); d.LockedBy != user {
			miss = append(miss, fmt.Sprintf("holder %q is not git user.name %q", d.LockedBy, user))
		}
		if d.At.IsZero() || (!k.RecordedAt.IsZero() && d.At.After(k.RecordedAt)) {
			miss = append(miss, "it was not taken before the hook started")
		}
		if len(miss) == 0 {
			o.State = Ours
			o.Reason = fmt.Sprintf("Kamal < 2.6 runs %s under its lock during %s, and the lock matches this run", hook, orDash(k.Command))
			return o
		}
		o.State, o.Reason = Theirs, "not this Kamal run's: "+strings.Join(miss, "; ")
		return o
	}
	switch {
	case d.IsAutomatic():
		o.State, o.Reason = Theirs, "another Kamal command holds it"
	case strings.HasPrefix(d.Message, "hookshim "):
		o.State, o.Reason = Theirs, "another hookshim holds it"
	default:
		o.State, o.Reason = Theirs, "a manual lock (kamal lock acquire)"
	}
	return o
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
