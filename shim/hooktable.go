package shim

import (
	"slices"

	"github.com/hookshim/hookshim/lockfile"
)

// KamalHooks are the hook names Kamal runs, in the order a deploy meets them
// (Kamal 2.12 lib/kamal/cli/*.rb; the traefik hooks are Kamal 1.x's).
var KamalHooks = []string{
	"pre-connect", "docker-setup", "pre-build", "pre-deploy",
	"pre-app-boot", "post-app-boot",
	"pre-proxy-reboot", "post-proxy-reboot",
	"pre-traefik-reboot", "post-traefik-reboot",
	"post-deploy",
}

// Holding says whether the Kamal command that calls a hook holds its own deploy
// lock while the hook runs.
type Holding int

const (
	// NotHeld: the caller never holds its lock around this hook.
	NotHeld Holding = iota
	// Held: the caller always holds it; any lock at the caller's path is the caller's.
	Held
	// MaybeHeld: it depends on a Kamal release hookshim cannot tell apart; the
	// lock itself must show that it is this run's (see Classify).
	MaybeHeld
)

// hookRule is one row of kamal-locks.md section 3: whether the calling Kamal
// holds its lock while it runs hook under command. The first row whose hook and
// command match decides.
type hookRule struct {
	hook string
	// command is KAMAL_COMMAND, or "KAMAL_COMMAND KAMAL_SUBCOMMAND"; "" matches any.
	command string
	held    bool
	// heldUntil, when set, makes held apply only to releases before it; from
	// heldUntil on the hook runs outside the lock.
	heldUntil lockfile.Version
}

// hookTable is the whole of what hookshim knows about which hooks run under the
// calling Kamal's own lock, from lib/kamal/cli/*.rb of Kamal 1.4, 1.5, 1.6,
// 1.9, 2.5.3, 2.6.0 and 2.12.0 (kamal-locks.md section 3).
var hookTable = []hookRule{
	// base.rb pre_connect_if_required: before Kamal's first SSH connection.
	{hook: "pre-connect", held: false},
	// server.rb bootstrap: inside modify(lock: true); setup runs bootstrap.
	{hook: "docker-setup", held: true},
	// main.rb setup: modify(lock: true) around bootstrap, build and deploy.
	{hook: "pre-build", command: "setup", held: true},
	// main.rb deploy/redeploy: Kamal <= 1.5 wraps the build in `mutating`
	// (the lock); 1.6 on builds before with_lock.
	{hook: "pre-build", command: "deploy", held: true, heldUntil: lockfile.Version{Major: 1, Minor: 6}},
	{hook: "pre-build", command: "redeploy", held: true, heldUntil: lockfile.Version{Major: 1, Minor: 6}},
	// build.rb push/deliver on their own take no lock.
	{hook: "pre-build", held: false},
	// main.rb deploy, redeploy, setup, rollback: pre-deploy inside the lock.
	{hook: "pre-deploy", held: true},
	// app.rb boot: modify(lock: true), hooks once per boot group.
	{hook: "pre-app-boot", held: true},
	{hook: "post-app-boot", held: true},
	// proxy.rb upgrade (2.x) and traefik.rb downgrade (1.9) take no lock
	// around their reboot hooks; proxy/traefik reboot does.
	{hook: "pre-proxy-reboot", command: "proxy upgrade", held: false},
	{hook: "post-proxy-reboot", command: "proxy upgrade", held: false},
	{hook: "pre-proxy-reboot", held: true},
	{hook: "post-proxy-reboot", held: true},
	{hook: "pre-traefik-reboot", command: "traefik downgrade", held: false},
	{hook: "post-traefik-reboot", command: "traefik downgrade", held: false},
	{hook: "pre-traefik-reboot", held: true},
	{hook: "post-traefik-reboot", held: true},
	// main.rb: setup releases after post-deploy; deploy, redeploy and
	// rollback release before it.
	{hook: "post-deploy", command: "setup", held: true},
	{hook: "post-deploy", held: false},
}

// hookReleases bounds the Kamal releases that run a hook at all: a hook that
// only some releases run tells which Kamal calls it (kamal-locks.md section 3;
// pre-app-boot and post-app-boot came with 2.5.0 in app.rb, the proxy hooks
// with 2.0 replacing the 1.x traefik ones).
var hookReleases = map[string]VersionRange{
	"pre-app-boot":        {Min: lockfile.Version{Major: 2, Minor: 5}},
	"post-app-boot":       {Min: lockfile.Version{Major: 2, Minor: 5}},
	"pre-proxy-reboot":    {Min: lockfile.Version{Major: 2, Minor: 0}},
	"post-proxy-reboot":   {Min: lockfile.Version{Major: 2, Minor: 0}},
	"pre-traefik-reboot":  {Max: lockfile.Version{Major: 2, Minor: 0}},
	"post-traefik-reboot": {Max: lockfile.Version{Major: 2, Minor: 0}},
}

// CallerHolds says whether the Kamal command in k holds its own lock while it
// runs hook, for the releases k's range allows. Outside Kamal (k.Under false)
// it is NotHeld.
func CallerHolds(hook string, k KamalEnv) Holding {
	if !k.Under {
		return NotHeld
	}
	rule, ok := findRule(hook, k.Command, k.Subcommand)
	switch {
	case !ok || !rule.held:
		return NotHeld
	case rule.heldUntil == lockfile.NoVersion:
		return Held
	case k.Range.Max != lockfile.NoVersion && !rule.heldUntil.Less(k.Range.Max):
		return Held // every release in range is older than heldUntil
	case !k.Range.Min.Less(rule.heldUntil):
		return NotHeld
	}
	return MaybeHeld
}

func findRule(hook, command, subcommand string) (hookRule, bool) {
	for _, r := range hookTable {
		if r.hook == hook && (r.command == "" || r.command == command || r.command == command+" "+subcommand) {
			return r, true
		}
	}
	return hookRule{}, false
}

// Gates reports whether the hook gates what Kamal does next: every hook but
// post-deploy must run when Kamal calls it, in order, and can never be moved
// after the release (kamal-locks.md section 3).
func Gates(hook string) bool { return hook != "post-deploy" }

// LooksAtLock reports whether hookshim reads the lock before running the hook.
// pre-connect runs before Kamal has reached any host and may be what makes SSH
// work (fetching the deploy key, opening a VPN), so it is run without a look.
func LooksAtLock(hook string) bool { return hook != "pre-connect" }

// GroupHosts reports whether Kamal passes the hook one boot or reboot group's
// hosts in KAMAL_HOSTS rather than the command's hosts (app.rb boot,
// proxy.rb reboot --rolling): its KAMAL_HOSTS never names the primary host.
func GroupHosts(hook string) bool {
	return slices.Contains([]string{"pre-app-boot", "post-app-boot", "pre-proxy-reboot", "post-proxy-reboot", "pre-traefik-reboot", "post-traefik-reboot"}, hook)
}
