package metrics

import (
	"testing"

	"github.com/hookshim/hookshim/lockfile"
)

func TestSplitName(t *testing.T) {
	for _, c := range []struct {
		layout        lockfile.Layout
		name, service string
		svc, dest     string
	}{
		{lockfile.LayoutKamal2, "app", "app", "app", ""},
		{lockfile.LayoutKamal2, "app-staging", "app", "app", "staging"},
		{lockfile.LayoutKamal2, "app-eu-west", "app", "app", "eu-west"},
		{lockfile.LayoutKamal2, "my-app", "my-app", "my-app", ""},
		{lockfile.LayoutKamal2, "my-app-staging", "", "my-app-staging", ""}, // no service known: not split
		{lockfile.LayoutKamal2, "api-staging", "app", "api-staging", ""},    // another service
		{lockfile.LayoutKamal2, "app-", "app", "app-", ""},
		{lockfile.LayoutKamal15, "app-staging", "app", "app", "staging"},
		{lockfile.LayoutKamal10, "app-staging", "app", "app-staging", ""}, // Kamal 1.0-1.4: no destinations
		{lockfile.LayoutMRSK, "mrsk_lock", "app", "", ""},
	} {
		svc, dest := SplitName(lockfile.Lock{Layout: c.layout, Name: c.name}, c.service)
		if svc != c.svc || dest != c.dest {
			t.Errorf("SplitName(%s %q, service %q) = %q, %q; want %q, %q", c.layout, c.name, c.service, svc, dest, c.svc, c.dest)
		}
	}
}
