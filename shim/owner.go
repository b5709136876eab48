package shim

import (
	"fmt"
	"strings"

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

// Ownership is a lock's state together with the reason it was judged so.
type Ownership struct {
	State  State
	Reason string // for the decision line: why ours or theirs
	Lock   lockfile.Lock
	// ByToken: ours because an enclosing hookshim holds it for us.
	ByToken bool
}

// Caller is what Classify knows of the hook about to run and of who called it.
type Caller struct {
	Hook  string
	Kamal KamalEnv
	Spec  lockfile.Spec // the lock this run is about: service, destination
	// Ref names a lock path as HOOKSHIM_LOCK does (Store.Ref), to match LockRef.
	Ref func(path string) string
	// GitUser is `git config user.name`, as Kamal writes it; called only when a
	// proof needs it.
	GitUser func() string
}

// callersLock reports whether this run is about the calling Kamal's own lock:
// its service (KAMAL_SERVICE, when Kamal passed it) and destination.
func (c Caller) callersLock() bool {
	k := c.Kamal
	return (k.Service == "" || k.Service == c.Spec.Service) && k.Destination == c.Spec.Destination
}

// kamalLockSpeaksFor reports whether KAMAL_LOCK=true speaks for the lock at
// path, and why not. Kamal sets it for its own service and destination only;
// an enclosing hookshim sets it for the one lock named in HOOKSHIM_LOCK.
func (c Caller) kamalLockSpeaksFor(path string) (bool, string) {
	k := c.Kamal
	if k.LockRef != "" && c.Ref != nil {
		if ref := c.Ref(path); ref != k.LockRef {
			return false, fmt.Sprintf("KAMAL_LOCK=true was set for %s, not %s", k.LockRef, ref)
		}
		return true, ""
	}
	if !c.callersLock() {
		return false, fmt.Sprintf("KAMAL_LOCK=true speaks for the lock of %s, not of %s", specName(k.Service, k.Destination), specName(c.Spec.Service, c.Spec.Destination))
	}
	return true, ""
}

// Classify decides whose the observed lock is, strongest proof first:
//   - a hookshim hold whose token is in the environment (HOOKSHIM_LOCK_TOKEN);
//   - KAMAL_LOCK=true, for the caller's own service and destination (or the
//     lock an enclosing hookshim named);
//   - for Kamal < 2.6, a hook the caller runs under its own lock (CallerHolds)
//     and a lock that matches this Kamal run exactly: Kamal's automatic
//     message, KAMAL_VERSION, `git config user.name`, taken before the hook
//     started.
//
// The lock's age is deliberately not bounded by KAMAL_RUNTIME: setup takes its
// lock before bootstrapping servers, which KAMAL_RUNTIME does not count.
func Classify(l lockfile.Lock, c Caller) Ownership {
	o := Ownership{Lock: l}
	if !l.State.IsHeld() {
		o.State, o.Reason = Free, "nobody holds it"
		return o
	}
	k := c.Kamal
	// The token is checked first: it is the more precise proof, since an
	// enclosing hookshim hold also sets KAMAL_LOCK=true.
	if k.Token != "" {
		if h, ok := l.Hold(); ok && h.Token == k.Token {
			o.State, o.Reason, o.ByToken = Ours, "held by the enclosing hookshim, HOOKSHIM_LOCK_TOKEN matches", true
			return o
		}
	}
	notOurs := ""
	if k.Lock == "true" {
		ok, why := c.kamalLockSpeaksFor(l.Path)
		if ok {
			o.State, o.Reason = Ours, "KAMAL_LOCK=true"
			if k.LockRef == "" {
				o.Reason = "Kamal 2.6+, KAMAL_LOCK=true"
			}
			return o
		}
		notOurs = why + "; "
	}
	if l.Details == nil {
		o.State, o.Reason = Unknown, notOurs+"holder unknown: "+l.Problem
		return o
	}
	if !k.HonoursKamalLock() && c.callersLock() && CallerHolds(c.Hook, k) != NotHeld {
		if miss := c.mismatches(*l.Details); len(miss) > 0 {
			o.State, o.Reason = Theirs, notOurs+"not this Kamal run's: "+strings.Join(miss, "; ")
			return o
		}
		o.State = Ours
		o.Reason = fmt.Sprintf("Kamal < 2.6 runs %s under its lock during %s, and the lock matches this run", c.Hook, orDash(k.Command))
		return o
	}
	d := l.Details
	switch _, hold := l.Hold(); {
	case hold:
		o.State, o.Reason = Theirs, notOurs+"another hookshim holds it"
	case d.IsAutomatic():
		o.State, o.Reason = Theirs, notOurs+"another Kamal command holds it"
	default:
		o.State, o.Reason = Theirs, notOurs+"a manual lock (kamal lock acquire)"
	}
	return o
}

// mismatches lists how the lock's details differ from what this Kamal run
// would have written; none means the lock is this run's.
func (c Caller) mismatches(d lockfile.Details) []string {
	k := c.Kamal
	var miss []string
	if !d.IsAutomatic() {
		miss = append(miss, fmt.Sprintf("message is %q, not %q", d.Message, lockfile.AutomaticMessage))
	}
	// Rollback takes its lock before switching to the version it rolls back
	// to, so its hooks see another KAMAL_VERSION than the lock holds
	// (Kamal 2.12 lib/kamal/cli/main.rb rollback).
	if k.Version == "" || (d.Version != k.Version && k.Command != "rollback") {
		miss = append(miss, fmt.Sprintf("version %q is not KAMAL_VERSION %q", d.Version, k.Version))
	}
	if user := c.GitUser(); d.LockedBy != user {
		miss = append(miss, fmt.Sprintf("holder %q is not git user.name %q", d.LockedBy, user))
	}
	if d.At.IsZero() || (!k.RecordedAt.IsZero() && d.At.After(k.RecordedAt)) {
		miss = append(miss, "it was not taken before the hook started")
	}
	return miss
}

// specName names a service's lock for people: "app", or "app -d staging".
func specName(service, destination string) string {
	if destination == "" {
		return orDash(service)
	}
	return orDash(service) + " -d " + destination
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
