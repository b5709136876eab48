package metrics

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookshim/hookshim/internal/lockreport"
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

// exampleReport is every kind of lock in examples/host, as seen at a fixed time.
func exampleReport(t *testing.T) *lockreport.Report {
	t.Helper()
	locks, err := lockfile.Local{Root: "../../examples/host"}.Scan(context.Background())
	if err != nil || len(locks) == 0 {
		t.Fatalf("examples/host: %d locks, %v", len(locks), err)
	}
	return &lockreport.Report{
		Now:        time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		StaleAfter: 90 * time.Minute,
		Results: []lockreport.Result{
			{Target: lockreport.Target{Name: "local", Transport: lockreport.TransportLocal}, Locks: locks},
		},
	}
}

// holderGone is hookshim_lock_holder_gone's samples by lock path.
func holderGone(r *lockreport.Report) map[string]float64 {
	got := map[string]float64{}
	for _, f := range Families(r, "app") {
		if f.GetName() != LockHolderGone {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "path" {
					got[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return got
}

// A hookshim hold of this machine has hookshim_lock_holder_gone: 1 when its
// process is gone, 0 when it runs; a hold not judged (another machine's)
// and any other lock has no sample.
func TestHolderGone(t *testing.T) {
	r := exampleReport(t)
	r.Processes = map[lockfile.Hold]lockreport.Process{}
	var holds []string
	for _, l := range r.Results[0].Locks {
		if h, ok := l.Hold(); ok {
			holds = append(holds, l.Path)
			r.Processes[h] = lockreport.ProcessGone
			if len(holds) == 2 {
				r.Processes[h] = lockreport.ProcessRunning
			}
		}
	}
	if len(holds) != 2 {
		t.Fatalf("examples/host has holds %v, want 2", holds)
	}
	if got := holderGone(r); len(got) != 2 || got[holds[0]] != 1 || got[holds[1]] != 0 {
		t.Errorf("%s = %v, want %s 1, %s 0", LockHolderGone, got, holds[0], holds[1])
	}
	r.Processes = nil
	if got := holderGone(r); len(got) != 0 {
		t.Errorf("holds not judged have samples: %v", got)
	}
	var b bytes.Buffer
	if err := Write(&b, r, "app"); err != nil || strings.Contains(b.String(), LockHolderGone) {
		t.Errorf("%v:\n%s", err, b.String())
	}
}
