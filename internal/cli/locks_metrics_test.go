package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookshim/hookshim/internal/lockreport"
)

// parseProm parses the text exposition format with Prometheus' own parser,
// failing the test on anything it rejects.
func parseProm(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus' parser rejects the output: %v\n%s", err, text)
	}
	return fams
}

// promValue is the value of the one sample of family name whose labels
// include want; ok is false when there is none. It fails the test when
// several match.
func promValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
	if f.GetType() != dto.MetricType_GAUGE {
		t.Errorf("%s is a %v, want a gauge", name, f.GetType())
	}
	n := 0
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, wv := range want {
			if gv, present := got[k]; !present || gv != wv {
				match = false
			}
		}
		if match {
			v, n = m.GetGauge().GetValue(), n+1
		}
	}
	if n > 1 {
		t.Errorf("%s: %d samples match %v", name, n, want)
	}
	return v, n == 1
}

// `hookshim locks --format prometheus` over the example tree: an automatic
// lock, a manual lock with a destination, a hookshim hold, a stale hold, a
// Kamal 1.5 lock, a lock without details and an unreadable one, plus deferred
// jobs in every state. Every value is read back with Prometheus' parser.
func TestLocksPrometheus(t *testing.T) {
	t.Cleanup(func() { testOnlyJobsForLocks = nil })
	since := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	testOnlyJobsForLocks = func() ([]lockreport.Job, error) {
		var js []lockreport.Job
		for _, s := range []string{"starting", "waiting", "waiting", "running", "succeeded", "failed", "expired", "orphaned", "orphaned", "orphaned", "corrupt"} {
			js = append(js, lockreport.Job{ID: "j-" + s, Hook: "post-deploy", State: s, Since: since})
		}
		return js, nil
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "examples", "host"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "hookshim.prom")
	stdout, stderr, code := runMain(t, []string{"HOME=" + t.TempDir()}, "locks", "--root", root, "--service", "app",
		"--now", "2026-11-27T07:00:00Z", "--format", "prometheus", "--output", out)
	if code != 0 || stderr != "" || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("%s has mode %v; node_exporter, running as another user, needs 0644", out, fi.Mode().Perm())
	}
	text, _ := os.ReadFile(out)
	fams := parseProm(t, string(text))

	lock := func(path string) map[string]string { return map[string]string{"host": "local", "path": path} }
	for _, c := range []struct {
		path, kind, layout, service, destination string
		age                                      float64
		stale                                    float64
	}{
		{".kamal/lock-app", "automatic", "kamal-2", "app", "", 20 * 60, 0},
		{".kamal/lock-app-staging", "manual", "kamal-2", "app", "staging", 10 * 60, 0},
		{".kamal/lock-api", "hookshim-hold", "kamal-2", "api", "", 5 * 60, 0},
		{".kamal/lock-worker", "hookshim-hold", "kamal-2", "worker", "", 618435, 1},
		{".kamal/locks/legacy", "automatic", "kamal-1.5", "legacy", "", 30 * 60, 0},
	} {
		labels := lock(c.path)
		labels["kind"], labels["layout"], labels["service"], labels["destination"] = c.kind, c.layout, c.service, c.destination
		if v, ok := promValue(t, fams, "hookshim_lock_held", labels); !ok || v != 1 {
			t.Errorf("hookshim_lock_held%v = %v (present %v), want 1", labels, v, ok)
		}
		if v, ok := promValue(t, fams, "hookshim_lock_age_seconds", labels); !ok || v != c.age {
			t.Errorf("hookshim_lock_age_seconds%v = %v (present %v), want %v", labels, v, ok, c.age)
		}
		if v, ok := promValue(t, fams, "hookshim_lock_stale", labels); !ok || v != c.stale {
			t.Errorf("hookshim_lock_stale%v = %v (present %v), want %v", labels, v, ok, c.stale)
		}
	}
	for path, kind := range map[string]string{".kamal/lock-cron": "no-details", ".kamal/lock-broken": "unreadable"} {
		labels := lock(path)
		labels["kind"] = kind
		if v, ok := promValue(t, fams, "hookshim_lock_held", labels); !ok || v != 1 {
			t.Errorf("hookshim_lock_held%v = %v (present %v), want 1", labels, v, ok)
		}
	}
	if n := len(fams["hookshim_lock_held"].GetMetric()); n != 7 {
		t.Errorf("%d locks, want 7", n)
	}
	for name, want := range map[string]float64{
		"hookshim_lock_stale_threshold_seconds":      3600,
		"hookshim_deferred_jobs_up":                  1,
		"hookshim_locks_generated_timestamp_seconds": float64(time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC).Unix()),
	} {
		if v, ok := promValue(t, fams, name, nil); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if v, ok := promValue(t, fams, "hookshim_host_up", map[string]string{"host": "local", "transport": "local"}); !ok || v != 1 {
		t.Errorf("hookshim_host_up = %v (present %v), want 1", v, ok)
	}
	for state, want := range map[string]float64{"pending": 3, "running": 1, "succeeded": 1, "failed": 2, "orphaned": 3, "corrupt": 1} {
		if v, ok := promValue(t, fams, "hookshim_deferred_jobs", map[string]string{"state": state}); !ok || v != want {
			t.Errorf("hookshim_deferred_jobs{state=%q} = %v (present %v), want %v", state, v, ok, want)
		}
	}
}

// Without --service a name is not split (Kamal allows "-" in service names);
// to stdout; a stale threshold of 0 makes nothing stale; jobs that cannot be
// listed are a sample, and the exit status stays 0.
func TestLocksPrometheusNoService(t *testing.T) {
	t.Cleanup(func() { testOnlyJobsForLocks = nil })
	testOnlyJobsForLocks = func() ([]lockreport.Job, error) { return nil, os.ErrPermission }
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ".kamal", "lock-my-app-staging"), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runMain(t, []string{"HOME=" + root}, "locks", "--format", "prometheus", "--stale-after", "0")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	fams := parseProm(t, stdout)
	labels := map[string]string{"host": "local", "service": "my-app-staging", "destination": "", "name": "my-app-staging", "kind": "no-details"}
	if v, ok := promValue(t, fams, "hookshim_lock_stale", labels); !ok || v != 0 {
		t.Errorf("hookshim_lock_stale%v = %v (present %v), want 0", labels, v, ok)
	}
	if v, ok := promValue(t, fams, "hookshim_deferred_jobs_up", nil); !ok || v != 0 {
		t.Errorf("hookshim_deferred_jobs_up = %v (present %v), want 0", v, ok)
	}
	if _, ok := fams["hookshim_deferred_jobs"]; ok {
		t.Error("job counts written although the jobs could not be listed")
	}
}

// Bad --format and --output: one line, exit 64 or 73, nothing written.
func TestLocksFormatOutputErrors(t *testing.T) {
	root := t.TempDir()
	env := []string{"HOME=" + root}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--format", "yaml"}, 64, `hookshim: error: --format "yaml" is not a format`},
		{[]string{"--json", "--format", "prometheus"}, 64, "hookshim: error: --json and --format prometheus contradict each other"},
		{[]string{"--output", ""}, 64, "hookshim: error: --output is empty"},
		{[]string{"--format", "prometheus", "--output", filepath.Join(root, "nodir", "x.prom")}, 73, "cannot create a file in its directory"},
	} {
		stdout, stderr, code := runMain(t, env, append([]string{"locks"}, c.args...)...)
		if code != c.code || stdout != "" || !strings.Contains(stderr, c.msg) || strings.Count(stderr, "error:") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", c.args, code, stdout, stderr, c.code, c.msg)
		}
	}
}
