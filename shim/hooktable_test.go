package shim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hookshim/hookshim/lockfile"
)

// Each row of kamal-locks.md section 3, for a Kamal before 2.6 (no KAMAL_LOCK,
// KAMAL_SERVICE set: 1.8 to 2.5) and for 2.6+: does the calling Kamal hold its
// own lock while it runs the hook?
func TestCallerHoldsSection3(t *testing.T) {
	old := KamalEnv{Under: true, Service: "app"}
	old.Range = CallerRange(old, "", nil, nil)
	new26 := KamalEnv{Under: true, Service: "app", Lock: "false", CallerLock: "false"}
	new26.Range = CallerRange(new26, "", nil, nil)
	v15 := KamalEnv{Under: true}
	l15 := lockfile.LayoutKamal10
	v15.Range = CallerRange(v15, "", &l15, nil)
	for _, tt := range []struct {
		hook, command, subcommand string
		k                         KamalEnv
		want                      Holding
	}{
		{"pre-connect", "setup", "", old, NotHeld},
		{"pre-connect", "deploy", "", new26, NotHeld},
		{"docker-setup", "setup", "", old, Held},
		{"docker-setup", "server", "bootstrap", new26, Held},
		{"pre-build", "setup", "", old, Held},
		{"pre-build", "deploy", "", old, NotHeld},
		{"pre-build", "redeploy", "", new26, NotHeld},
		{"pre-build", "deploy", "", v15, Held},                        // Kamal <= 1.5: mutating around the build
		{"pre-build", "deploy", "", KamalEnv{Under: true}, MaybeHeld}, // any release: the lock must tell
		{"pre-build", "build", "push", old, NotHeld},
		{"pre-deploy", "deploy", "", old, Held},
		{"pre-deploy", "rollback", "", new26, Held},
		{"pre-app-boot", "deploy", "", old, Held},
		{"post-app-boot", "app", "boot", new26, Held},
		{"pre-proxy-reboot", "proxy", "reboot", old, Held},
		{"post-proxy-reboot", "proxy", "upgrade", new26, NotHeld},
		{"pre-traefik-reboot", "traefik", "reboot", v15, Held},
		{"post-deploy", "setup", "", old, Held},
		{"post-deploy", "setup", "", new26, Held},
		{"post-deploy", "deploy", "", old, NotHeld},
		{"post-deploy", "redeploy", "", new26, NotHeld},
		{"post-deploy", "rollback", "", old, NotHeld},
		{"post-deploy", "", "", KamalEnv{}, NotHeld}, // not under Kamal at all
	} {
		k := tt.k
		k.Command, k.Subcommand = tt.command, tt.subcommand
		if got := CallerHolds(tt.hook, k); got != tt.want {
			t.Errorf("%s under %s %s (%s): got %d, want %d", tt.hook, tt.command, tt.subcommand, k.Range, got, tt.want)
		}
	}
}

// Only post-deploy may be moved after the release; pre-connect alone is run
// without a look at the lock; the boot and reboot hooks get a group's hosts.
func TestGatesLooksGroups(t *testing.T) {
	for _, h := range KamalHooks {
		if Gates(h) != (h != "post-deploy") {
			t.Errorf("Gates(%s) = %v", h, Gates(h))
		}
		if LooksAtLock(h) != (h != "pre-connect") {
			t.Errorf("LooksAtLock(%s) = %v", h, LooksAtLock(h))
		}
		if err := CheckDeferrable(Defer, h); (err == nil) != (h == "post-deploy") {
			t.Errorf("CheckDeferrable(defer, %s) = %v", h, err)
		}
	}
	for h, want := range map[string]bool{"pre-app-boot": true, "post-app-boot": true, "pre-proxy-reboot": true, "post-proxy-reboot": true, "pre-deploy": false, "post-deploy": false} {
		if GroupHosts(h) != want {
			t.Errorf("GroupHosts(%s) = %v", h, !want)
		}
	}
}

// What narrows the caller's release, and which layouts are then live.
func TestCallerRangeAndLiveLayouts(t *testing.T) {
	v := func(ma, mi int) *lockfile.Version { return &lockfile.Version{Major: ma, Minor: mi} }
	l15 := lockfile.LayoutKamal15
	for _, tt := range []struct {
		name    string
		k       KamalEnv
		hook    string
		layout  *lockfile.Layout
		gemfile *lockfile.Version
		dest    string
		want    string // range, then live layouts
	}{
		{"nothing known", KamalEnv{}, "post-deploy", nil, nil, "", "any Kamal [kamal-2 kamal-1.5 kamal-1.0 kamal-0.16 mrsk-0.15 mrsk]"},
		{"nothing known, destination", KamalEnv{}, "post-deploy", nil, nil, "staging", "any Kamal [kamal-2 kamal-1.5]"},
		{"KAMAL_LOCK", KamalEnv{Under: true, CallerLock: "false"}, "post-deploy", nil, nil, "", "Kamal 2.6+ [kamal-2]"},
		{"Kamal 1.8 to 2.5", KamalEnv{Under: true, Service: "app"}, "post-deploy", nil, nil, "", "Kamal 1.8 to < 2.6 [kamal-2 kamal-1.5]"},
		{"app-boot hook", KamalEnv{Under: true, Service: "app"}, "pre-app-boot", nil, nil, "", "Kamal 2.5 to < 2.6 [kamal-2]"},
		{"Gemfile.lock", KamalEnv{}, "post-deploy", nil, v(1, 9), "", "Kamal 1.9 to < 1.10 [kamal-1.5]"},
		{"Gemfile.lock contradicted", KamalEnv{Under: true, CallerLock: "true"}, "post-deploy", nil, v(1, 9), "", "Kamal 2.6+ [kamal-2]"},
		{"--layout wins", KamalEnv{Under: true, CallerLock: "true"}, "post-deploy", &l15, nil, "", "Kamal 1.5 to < 2.0 [kamal-1.5]"},
		{"Kamal 1.0 with destination", KamalEnv{}, "post-deploy", nil, v(1, 3), "staging", "Kamal 1.3 to < 1.4 [kamal-1.0]"},
	} {
		r := CallerRange(tt.k, tt.hook, tt.layout, tt.gemfile)
		if got := fmt.Sprintf("%s %v", r, LiveLayouts(r, tt.dest)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
		if r.Known() == strings.HasPrefix(tt.want, "any") {
			t.Errorf("%s: Known() = %v (source %q)", tt.name, r.Known(), r.Source)
		}
	}
}

// KAMAL_LOCK=true speaks for the calling Kamal's own service and destination,
// or for the one lock an enclosing hookshim named in HOOKSHIM_LOCK: never for
// another service's lock held by someone else.
func TestKamalLockIsScoped(t *testing.T) {
	d := &lockfile.Details{LockedBy: "Bob", Version: "v9", Message: lockfile.AutomaticMessage}
	l := lockfile.Lock{Path: ".kamal/lock-billing", State: lockfile.Held, Details: d}
	ref := func(p string) string { return "web1:" + p }
	for _, tt := range []struct {
		name string
		k    KamalEnv
		spec lockfile.Spec
		want State
	}{
		{"own service", KamalEnv{Under: true, Lock: "true", CallerLock: "true", Service: "billing"}, lockfile.Spec{Service: "billing"}, Ours},
		{"other service", KamalEnv{Under: true, Lock: "true", CallerLock: "true", Service: "app"}, lockfile.Spec{Service: "billing"}, Theirs},
		{"other destination", KamalEnv{Under: true, Lock: "true", CallerLock: "true", Service: "billing", Destination: "staging"}, lockfile.Spec{Service: "billing"}, Theirs},
		{"hookshim's lock", KamalEnv{Under: true, Lock: "true", Service: "billing", LockRef: "web1:.kamal/lock-billing"}, lockfile.Spec{Service: "billing"}, Ours},
		{"hookshim's other lock", KamalEnv{Under: true, Lock: "true", Service: "billing", LockRef: "web1:.kamal/lock-app"}, lockfile.Spec{Service: "billing"}, Theirs},
	} {
		o := Classify(l, Caller{Hook: "post-deploy", Kamal: tt.k, Spec: tt.spec, Ref: ref, GitUser: tester})
		if o.State != tt.want {
			t.Errorf("%s: got %s (%s), want %s", tt.name, o.State, o.Reason, tt.want)
		}
	}
}
