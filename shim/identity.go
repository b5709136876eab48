package shim

import (
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hookshim/hookshim/lockfile"
)

// Identity variables hookshim passes to a hook that runs while the lock is
// ours, so that the hook and everything it starts know who holds what. A
// nested `kamal` (2.6+) skips taking the lock because of KAMAL_LOCK=true; a
// nested `hookshim run` recognises the lock as ours.
const (
	EnvLock        = "HOOKSHIM_LOCK"         // host:path of the lock
	EnvLockHolder  = "HOOKSHIM_LOCK_HOLDER"  // Locked by
	EnvLockSince   = "HOOKSHIM_LOCK_SINCE"   // when it was taken (ISO 8601 UTC)
	EnvLockVersion = "HOOKSHIM_LOCK_VERSION" // Version
	EnvLockMessage = "HOOKSHIM_LOCK_MESSAGE" // Message
	EnvLockToken   = "HOOKSHIM_LOCK_TOKEN"   // the hold's token, when hookshim holds it
	// EnvActiveHooks lists the hooks whose scripts are running in enclosing
	// hookshim processes, as GuardKeys separated by ",": the recursion guard.
	EnvActiveHooks = "HOOKSHIM_ACTIVE_HOOKS"
)

// identityEnv returns env with the lock-holder's identity set (ours is true)
// or the identity variables removed (ours is false, so a stale value from an
// enclosing hook cannot mislead a nested one).
func identityEnv(env []string, ref string, l lockfile.Lock, token string, ours bool) []string {
	out := WithoutEnv(env, "KAMAL_LOCK", EnvLock, EnvLockHolder, EnvLockSince, EnvLockVersion, EnvLockMessage, EnvLockToken)
	if !ours {
		// Keep what Kamal said about its own lock when the lock is not ours.
		if v, ok := lookup(env, "KAMAL_LOCK"); ok {
			out = append(out, "KAMAL_LOCK="+v)
		}
		return out
	}
	if _, kept := lookup(env, EnvCallerKamalLock); !kept {
		// Say what the calling Kamal passed before KAMAL_LOCK becomes ours, so
		// that a nested hookshim still knows which Kamal it runs under.
		caller, ok := lookup(env, "KAMAL_LOCK")
		if !ok || caller == "" {
			caller = "none"
		}
		out = append(out, EnvCallerKamalLock+"="+caller)
	}
	out = append(out, "KAMAL_LOCK=true", EnvLock+"="+envValue(ref))
	if d := l.Details; d != nil {
		// Values from the lock file: whatever its writer put there.
		out = append(out,
			EnvLockHolder+"="+envValue(d.LockedBy),
			EnvLockSince+"="+l.Since().Format(lockfile.TimeLayout),
			EnvLockVersion+"="+envValue(d.Version),
			EnvLockMessage+"="+envValue(d.Message))
	}
	if token != "" {
		out = append(out, EnvLockToken+"="+token)
	}
	return out
}

// GuardKey names one run of a hook for the recursion guard: what a nested
// `kamal` running the same hook again would repeat. The hook, service and
// destination, and the hooks directory its HOOK.d is in (absolute, symlinks
// resolved), each query-escaped and joined by ":", so that no value can
// forge or split another's key. App B's post-deploy run from app A's, or the
// same service's hook for another destination, has another key and runs.
func GuardKey(hook, service, destination, hooksDir string) string {
	if abs, err := filepath.Abs(hooksDir); err == nil {
		hooksDir = abs
	}
	if real, err := filepath.EvalSymlinks(hooksDir); err == nil {
		hooksDir = real
	}
	parts := []string{hook, service, destination, hooksDir}
	for i, v := range parts {
		parts[i] = url.QueryEscape(v)
	}
	return strings.Join(parts, ":")
}

// withActiveHook adds key (GuardKey) to the recursion guard.
func withActiveHook(env []string, key string) []string {
	active := activeHooks(env)
	if !slices.Contains(active, key) {
		active = append(active, key)
	}
	return append(WithoutEnv(env, EnvActiveHooks), EnvActiveHooks+"="+strings.Join(active, ","))
}

// activeHooks lists the guard keys in env, comma-separated.
func activeHooks(env []string) []string {
	v, _ := lookup(env, EnvActiveHooks)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func lookup(env []string, key string) (string, bool) {
	val, found := "", false
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val, found = v, true
		}
	}
	return val, found
}

// WithoutEnv is env (KEY=VALUE entries) without the variables named keys.
func WithoutEnv(env []string, keys ...string) []string {
	out := make([]string, 0, len(env)+8)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, k) {
			out = append(out, kv)
		}
	}
	return out
}
