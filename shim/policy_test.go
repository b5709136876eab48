package shim

import (
	"testing"
)

// The policy table of README.md ("lock state", under "Wrapping a hook"), row by row.
func TestDecideTable(t *testing.T) {
	new26 := KamalEnv{Lock: "true", CallerLock: "true", Under: true}
	old := KamalEnv{Under: true, Command: "deploy"}
	oldSetup := KamalEnv{Under: true, Command: "setup"}
	tests := []struct {
		policy Policy
		state  State
		k      KamalEnv
		hook   string
		want   Action
	}{
		{Hold, Free, old, "post-deploy", TakeLock},
		{Defer, Free, old, "post-deploy", RunNow},
		{Strict, Free, old, "post-deploy", RunNow},
		{Auto, Free, old, "post-deploy", RunNow},

		{Hold, Ours, old, "post-deploy", RunNow},
		{Defer, Ours, new26, "post-deploy", DeferRun},
		{Strict, Ours, new26, "post-deploy", Refuse},
		{Auto, Ours, new26, "post-deploy", RunNow},
		{Auto, Ours, old, "post-deploy", DeferRun},
		{Auto, Ours, old, "pre-deploy", RunNow}, // a gate is never deferred past what it gates

		{Hold, Theirs, old, "post-deploy", WaitLock},
		{Defer, Theirs, old, "post-deploy", DeferRun},
		{Strict, Theirs, old, "post-deploy", WaitLock},
		{Auto, Theirs, old, "post-deploy", WaitLock},
		{Auto, Unknown, old, "post-deploy", WaitLock},
		{Defer, Unknown, old, "post-deploy", DeferRun},

		// A lock the calling Kamal < 2.6 must hold for the hook, but that is not
		// this run's: refused at once, whatever the policy (no wait, no defer).
		{Auto, Theirs, oldSetup, "docker-setup", Refuse},
		{Hold, Theirs, oldSetup, "post-deploy", Refuse},
		{Defer, Unknown, oldSetup, "post-deploy", Refuse},
		{Auto, Theirs, oldSetup, "pre-connect", WaitLock}, // never under the caller's lock
	}
	for _, tt := range tests {
		got, _ := Decide(tt.policy, Ownership{State: tt.state}, caller(tt.k, tt.hook))
		if got != tt.want {
			t.Errorf("%s/%s/%s/%s: got %q, want %q", tt.policy, tt.state, tt.k.Generation(), tt.hook, got, tt.want)
		}
	}
	// Ours by an enclosing hookshim's token runs now even on old Kamal.
	if got, _ := Decide(Auto, Ownership{State: Ours, ByToken: true}, caller(old, "post-deploy")); got != RunNow {
		t.Errorf("ours by token: %q", got)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, s := range []string{"auto", "hold", "defer", "strict"} {
		if p, err := ParsePolicy(s); err != nil || string(p) != s {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParsePolicy("lenient"); err == nil {
		t.Error("unknown policy accepted")
	}
	if err := CheckDeferrable(Defer, "pre-deploy"); err == nil {
		t.Error("deferring pre-deploy accepted")
	}
	if err := CheckDeferrable(Defer, "post-deploy"); err != nil {
		t.Error(err)
	}
}
