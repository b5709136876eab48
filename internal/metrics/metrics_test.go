package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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

// expfmtText is the families as the Prometheus project's own encoder
// (prometheus/common/expfmt, through client_model) writes them: the oracle
// that Write must match byte for byte.
func expfmtText(t testing.TB, fams []*Family) string {
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		mf := &dto.MetricFamily{Name: ptr(f.Name), Help: ptr(f.Help), Type: dto.MetricType_GAUGE.Enum()}
		for _, s := range f.Samples {
			m := &dto.Metric{Gauge: &dto.Gauge{Value: ptr(s.Value)}}
			for i := 0; i+1 < len(s.Labels); i += 2 {
				m.Label = append(m.Label, &dto.LabelPair{Name: ptr(s.Labels[i]), Value: ptr(s.Labels[i+1])})
			}
			mf.Metric = append(mf.Metric, m)
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("expfmt: %v", err)
		}
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// writeText is Write's own rendering of fams.
func writeText(fams []*Family) string {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for _, f := range fams {
		writeFamily(w, f)
	}
	w.Flush()
	return b.String()
}

// exampleReport is every kind of lock in examples/host, a host that could
// not be read, and deferred jobs in every state.
func exampleReport(t *testing.T, jobsErr error) *lockreport.Report {
	t.Helper()
	locks, err := lockfile.Local{Root: "../../examples/host"}.Scan(context.Background())
	if err != nil || len(locks) == 0 {
		t.Fatalf("examples/host: %d locks, %v", len(locks), err)
	}
	r := &lockreport.Report{
		Now:        time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		StaleAfter: 90 * time.Minute,
		Results: []lockreport.Result{
			{Target: lockreport.Target{Name: "local", Transport: lockreport.TransportLocal}, Locks: locks, Elapsed: 1234567 * time.Nanosecond},
			{Target: lockreport.Target{Name: `web"1\` + "\n", Transport: lockreport.TransportSSH}, Err: errors.New("unreachable"), Elapsed: 10 * time.Second},
		},
		JobsErr: jobsErr,
	}
	for _, s := range []string{"starting", "waiting", "running", "succeeded", "failed", "expired", "orphaned", "corrupt", "bogus"} {
		r.Jobs = append(r.Jobs, lockreport.Job{ID: s, State: s})
	}
	return r
}

// TestWriteIsExpfmt: what `locks --format prometheus` writes is byte for
// byte what expfmt writes for the same families, and parses with expfmt's
// parser into those families.
func TestWriteIsExpfmt(t *testing.T) {
	for _, jobsErr := range []error{nil, errors.New("state dir unreadable")} {
		r := exampleReport(t, jobsErr)
		var got bytes.Buffer
		if err := Write(&got, r, "app"); err != nil {
			t.Fatal(err)
		}
		want := expfmtText(t, Families(r, "app"))
		if got.String() != want {
			t.Fatalf("Write differs from expfmt:\n--- Write\n%s\n--- expfmt\n%s", got.String(), want)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		parsed, err := parser.TextToMetricFamilies(strings.NewReader(got.String()))
		if err != nil {
			t.Fatalf("expfmt's parser rejects Write's output: %v\n%s", err, got.String())
		}
		if len(parsed) != len(Families(r, "app")) || parsed[LockHeld] == nil {
			t.Fatalf("parsed %d families (%s present: %v), want %d", len(parsed), LockHeld, parsed[LockHeld] != nil, len(Families(r, "app")))
		}
	}
}

// FuzzWriteIsExpfmt: any help text, label value and sample value is written
// as expfmt writes it.
func FuzzWriteIsExpfmt(f *testing.F) {
	f.Add("help", "value", 1.5)
	f.Add("a\\b\nc", "x\"y\\z\n", -0.0)
	f.Add("", "", math.NaN())
	f.Add("ü", "\xff", math.Inf(-1))
	f.Add("h", "v", 1764226800.0)
	f.Add("h", "v", 1e-7)
	f.Fuzz(func(t *testing.T, help, value string, v float64) {
		fams := []*Family{
			{Name: HostUp, Help: help, Samples: []Sample{{Labels: []string{"host", value, "transport", "ssh"}, Value: v}, {Value: -v}}},
		}
		if got, want := writeText(fams), expfmtText(t, fams); got != want {
			t.Fatalf("differs from expfmt:\n%q\n%q", got, want)
		}
	})
}

// A hookshim hold of this machine has hookshim_lock_holder_gone: 1 when its
// process is gone, 0 when it runs; a hold not judged (another machine's)
// and any other lock has no sample.
func TestHolderGone(t *testing.T) {
	r := exampleReport(t, nil)
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
	got := map[string]float64{}
	for _, f := range Families(r, "app") {
		if f.Name != LockHolderGone {
			continue
		}
		for _, s := range f.Samples {
			for i := 0; i+1 < len(s.Labels); i += 2 {
				if s.Labels[i] == "path" {
					got[s.Labels[i+1]] = s.Value
				}
			}
		}
	}
	if len(got) != 2 || got[holds[0]] != 1 || got[holds[1]] != 0 {
		t.Errorf("%s = %v, want %s 1, %s 0", LockHolderGone, got, holds[0], holds[1])
	}
	var w bytes.Buffer
	if err := Write(&w, r, "app"); err != nil || w.String() != expfmtText(t, Families(r, "app")) {
		t.Errorf("Write differs from expfmt (%v):\n%s", err, w.String())
	}
	r.Processes = nil
	for _, f := range Families(r, "app") {
		if f.Name == LockHolderGone {
			t.Errorf("holds not judged have samples: %v", f.Samples)
		}
	}
	var b bytes.Buffer
	if err := Write(&b, exampleReport(t, nil), "app"); err != nil || strings.Contains(b.String(), LockHolderGone) {
		t.Errorf("%v:\n%s", err, b.String())
	}
}
