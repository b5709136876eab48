package shim

import (
	"fmt"
	"time"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/lockfile"
)

// EnvCallerKamalLock is what the calling Kamal itself passed in KAMAL_LOCK
// (true, false, or "none" when it passed nothing), kept by the first hookshim
// that sets KAMAL_LOCK=true for a hook it holds the lock for. A nested hookshim
// reads the caller's Kamal release from it, not from hookshim's own KAMAL_LOCK.
const EnvCallerKamalLock = "HOOKSHIM_CALLER_KAMAL_LOCK"

// KamalEnv is what the calling Kamal told the hook through its environment
// (kamal-locks.md section 4), plus what hookshim knows of its release.
type KamalEnv struct {
	Command    string // KAMAL_COMMAND: setup, deploy, redeploy, rollback, app, proxy, ...
	Subcommand string // KAMAL_SUBCOMMAND: boot, reboot, ... ("" under the main commands)
	Version    string // KAMAL_VERSION
	Service    string // KAMAL_SERVICE (Kamal 1.8+)
	// Destination is KAMAL_DESTINATION, "" when the caller used none.
	Destination string
	RecordedAt  time.Time // KAMAL_RECORDED_AT: when the hook was started
	// Lock is KAMAL_LOCK as this process received it: "true", "false", or ""
	// when absent. An enclosing hookshim may have set it (see LockRef).
	Lock string
	// CallerLock is KAMAL_LOCK as the calling Kamal passed it ("" when it
	// passed none: Kamal < 2.6), even where an enclosing hookshim changed it.
	CallerLock string
	// LockRef is HOOKSHIM_LOCK: the lock (host:path) an enclosing hookshim found
	// ours. When set, KAMAL_LOCK=true speaks for that lock only.
	LockRef string
	// Token is HOOKSHIM_LOCK_TOKEN: set inside a hook that hookshim holds the lock for.
	Token string
	// Under is true when any KAMAL_* variable is set: a Kamal called this hook.
	Under bool
	// Range is what is known of the calling Kamal's release (see CallerRange).
	Range VersionRange
}

// ReadKamalEnv reads KamalEnv from an environment, checking KAMAL_LOCK. Range
// is left for CallerRange.
func ReadKamalEnv(getenv func(string) (string, bool)) (KamalEnv, error) {
	var k KamalEnv
	get := func(key string) string { v, _ := getenv(key); return v }
	k.Command, k.Subcommand, k.Version = get("KAMAL_COMMAND"), get("KAMAL_SUBCOMMAND"), get("KAMAL_VERSION")
	k.Service, k.Destination = get("KAMAL_SERVICE"), get("KAMAL_DESTINATION")
	k.Token, k.LockRef = get("HOOKSHIM_LOCK_TOKEN"), get(EnvLock)
	if v := get("KAMAL_RECORDED_AT"); v != "" {
		k.RecordedAt, _ = time.Parse(time.RFC3339, v)
	}
	// An empty variable (a shell's `export KAMAL_COMMAND=`) counts as unset:
	// Kamal never passes one empty.
	for _, key := range []string{"KAMAL_COMMAND", "KAMAL_VERSION", "KAMAL_SERVICE", "KAMAL_HOSTS", "KAMAL_RECORDED_AT"} {
		if v, _ := getenv(key); v != "" {
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
	k.CallerLock = k.Lock
	if v, ok := getenv(EnvCallerKamalLock); ok {
		switch v {
		case "true", "false":
			k.CallerLock = v
		case "none":
			k.CallerLock = ""
		}
	}
	return k, nil
}

// HonoursKamalLock reports whether the calling Kamal is 2.6 or newer: only those
// pass KAMAL_LOCK, and only those skip taking a lock they are told they hold.
func (k KamalEnv) HonoursKamalLock() bool { return k.CallerLock != "" }

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

// VersionRange is the Kamal releases [Min, Max) the caller may be; Max
// NoVersion means no upper bound. Source says what narrowed it ("" when
// nothing did: any release).
type VersionRange struct {
	Min, Max lockfile.Version
	Source   string
}

// Known reports whether anything narrowed the range.
func (v VersionRange) Known() bool { return v.Source != "" }

func (v VersionRange) String() string {
	switch {
	case v.Max == lockfile.NoVersion && v.Min == lockfile.NoVersion:
		return "any Kamal"
	case v.Max == lockfile.NoVersion:
		return "Kamal " + v.Min.String() + "+"
	case v.Min == lockfile.NoVersion:
		return "Kamal < " + v.Max.String()
	}
	return fmt.Sprintf("Kamal %s to < %s", v.Min, v.Max)
}

// narrow intersects v with w; an empty intersection leaves v as it is and
// reports false.
func (v VersionRange) narrow(w VersionRange) (VersionRange, bool) {
	out := v
	if out.Min.Less(w.Min) {
		out.Min = w.Min
	}
	if w.Max != lockfile.NoVersion && (out.Max == lockfile.NoVersion || w.Max.Less(out.Max)) {
		out.Max = w.Max
	}
	if out.Max != lockfile.NoVersion && !out.Min.Less(out.Max) {
		return v, false
	}
	if out != v {
		if out.Source == "" {
			out.Source = w.Source
		} else {
			out.Source += ", " + w.Source
		}
	}
	return out, true
}

// RangeOf is the range of releases that use layout l.
func RangeOf(l lockfile.Layout, source string) VersionRange {
	r := VersionRange{Min: l.Since(), Source: source}
	for _, newer := range lockfile.Layouts {
		if l.Since().Less(newer.Since()) && (r.Max == lockfile.NoVersion || newer.Since().Less(r.Max)) {
			r.Max = newer.Since()
		}
	}
	return r
}

// CallerRange narrows the calling Kamal's release from what the hook was told
// and what the repository says, strongest first:
//   - layout, when given explicitly (--layout): the user's word wins;
//   - KAMAL_LOCK present: 2.6+; absent under Kamal: before 2.6 (Kamal 2.6.0
//     lib/kamal/commands/hook.rb added it);
//   - KAMAL_SERVICE present: 1.8+ (added in 1.8);
//   - a hook only some releases run (hookReleases);
//   - gemfile, the kamal gem in Gemfile.lock (nil when none): ignored where it
//     contradicts the above (the gem may not be what runs).
func CallerRange(k KamalEnv, hook string, layout *lockfile.Layout, gemfile *lockfile.Version) VersionRange {
	var r VersionRange
	if layout != nil {
		r = RangeOf(*layout, "--layout")
	}
	if k.Under {
		if k.HonoursKamalLock() {
			r, _ = r.narrow(VersionRange{Min: lockfile.Version{Major: 2, Minor: 6}, Source: "KAMAL_LOCK"})
		} else {
			r, _ = r.narrow(VersionRange{Max: lockfile.Version{Major: 2, Minor: 6}, Source: "no KAMAL_LOCK"})
		}
		if k.Service != "" {
			r, _ = r.narrow(VersionRange{Min: lockfile.Version{Major: 1, Minor: 8}, Source: "KAMAL_SERVICE"})
		}
		if h, ok := hookReleases[hook]; ok {
			h.Source = "the " + hook + " hook"
			r, _ = r.narrow(h)
		}
	}
	if gemfile != nil {
		next := lockfile.Version{Major: gemfile.Major, Minor: gemfile.Minor + 1}
		r, _ = r.narrow(VersionRange{Min: *gemfile, Max: next, Source: "Gemfile.lock"})
	}
	return r
}

// LiveLayouts are the layouts whose lock the caller may hold or wait for,
// newest first: those of its release range. With a destination, the layouts
// that keep one lock for every destination (MRSK, Kamal 1.0-1.4) are left out
// unless the caller can only be that old, since their path is also another
// destination's Kamal 2 lock (.kamal/lock-app).
func LiveLayouts(r VersionRange, destination string) []lockfile.Layout {
	all := lockfile.LayoutsBetween(r.Min, r.Max)
	if destination == "" {
		return all
	}
	var per []lockfile.Layout
	for _, l := range all {
		if l.PerDestination() {
			per = append(per, l)
		}
	}
	if len(per) == 0 {
		return all
	}
	return per
}
