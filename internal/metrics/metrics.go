// Package metrics writes what `hookshim locks` found in the Prometheus text
// exposition format (version 0.0.4), for node_exporter's textfile collector or
// any scraper that reads a file. The samples are built as the Prometheus
// project's own data model (client_model) and written by its encoder
// (prometheus/common/expfmt), never formatted by hand.
//
// A host that cannot be read is a sample (hookshim_host_up 0), not a failed
// write: the file always describes every host it was asked about.
package metrics

import (
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hookshim/hookshim/internal/lockreport"
	"github.com/hookshim/hookshim/lockfile"
)

// Metric names. Every lock series has the labels LockLabels.
const (
	LockHeld           = "hookshim_lock_held"
	LockAge            = "hookshim_lock_age_seconds"
	LockStale          = "hookshim_lock_stale"
	LockHolderGone     = "hookshim_lock_holder_gone"
	StaleThreshold     = "hookshim_lock_stale_threshold_seconds"
	HostUp             = "hookshim_host_up"
	HostScanDuration   = "hookshim_host_scan_duration_seconds"
	DeferredJobs       = "hookshim_deferred_jobs"
	DeferredJobsUp     = "hookshim_deferred_jobs_up"
	GeneratedTimestamp = "hookshim_locks_generated_timestamp_seconds"
)

// LockLabels are the labels of every lock series, in the order they are written
// (sorted, as Prometheus' own client writes them).
var LockLabels = []string{"destination", "host", "kind", "layout", "name", "path", "service"}

// Kinds, the "kind" label: what a lock is, whatever its age.
const (
	KindAutomatic  = "automatic"     // a Kamal command's own lock ("Automatic deploy lock")
	KindManual     = "manual"        // kamal lock acquire -m MESSAGE
	KindHold       = "hookshim-hold" // taken by hookshim for a hook
	KindNoDetails  = "no-details"    // a lock directory without details: holder unknown
	KindUnreadable = "unreadable"    // anything else at a lock path
)

// JobStates are the values of hookshim_deferred_jobs' "state" label, every one
// written on each run (0 when no job is in it) so that an alert on a state
// sees 0 rather than no data.
var JobStates = []string{"pending", "running", "succeeded", "failed", "orphaned", "corrupt"}

// jobState maps a job's recorded state (jobs.State) to its label: starting and
// waiting are both pending; an expired job (its --defer-timeout passed) counts
// as failed, as `hookshim wait` reports it.
func jobState(s string) string {
	switch s {
	case "starting", "waiting":
		return "pending"
	case "expired":
		return "failed"
	}
	if slices.Contains(JobStates, s) {
		return s
	}
	return "corrupt"
}

// kindOf names a lock's kind for the "kind" label.
func kindOf(l lockfile.Lock) string {
	switch lockreport.KindOf(l) {
	case lockreport.KindHeld:
		return KindAutomatic
	case lockreport.KindManual:
		return KindManual
	case lockreport.KindHold:
		return KindHold
	case lockreport.KindNoDetails:
		return KindNoDetails
	}
	return KindUnreadable
}

// SplitName splits a lock's name (service[-destination]) into service and
// destination. Only the kamal-1.5 and kamal-2 layouts carry a destination, and
// Kamal allows "-" in both parts, so the split needs the service's name: when
// service is "" or does not match, the whole name is the service and the
// destination is "". MRSK 0.10-0.14's one lock per host ("mrsk_lock") has
// neither.
func SplitName(l lockfile.Lock, service string) (svc, destination string) {
	switch l.Layout {
	case lockfile.LayoutMRSK:
		return "", ""
	case lockfile.LayoutKamal15, lockfile.LayoutKamal2:
		if service != "" {
			if d, ok := strings.CutPrefix(l.Name, service+"-"); ok && d != "" {
				return service, d
			}
		}
	}
	return l.Name, ""
}

// Families builds the metric families of a report, sorted by name. service
// (may be "") is the Kamal service whose lock names are split into service
// and destination (SplitName).
func Families(r *lockreport.Report, service string) []*dto.MetricFamily {
	fams := map[string]*dto.MetricFamily{}
	add := func(name, help string, value float64, labels ...string) {
		f, ok := fams[name]
		if !ok {
			f = &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum()}
			fams[name] = f
		}
		f.Metric = append(f.Metric, gauge(value, labels...))
	}
	add(GeneratedTimestamp, "When hookshim read the hosts (or --now), in seconds since the Unix epoch.", seconds(r.Now.Sub(time.Unix(0, 0))))
	add(StaleThreshold, "Age in seconds past which a lock counts as stale (--stale-after); 0 means never.", seconds(r.StaleAfter))
	for _, res := range r.Results {
		host := res.Target.Name
		up := 0.0
		if res.Err == nil {
			up = 1
		}
		add(HostUp, "1 when the host's locks could be read, 0 when it could not be reached or read.", up, "host", host, "transport", res.Target.Transport)
		add(HostScanDuration, "Seconds it took to read the host's locks (or to give up).", seconds(res.Elapsed), "host", host)
		if res.Err == nil {
			addLocks(add, r, host, res.Locks, service)
		}
	}
	addJobs(add, r)

	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

type adder func(name, help string, value float64, labels ...string)

// addLocks adds the series of one host's held locks, sorted by path.
func addLocks(add adder, r *lockreport.Report, host string, found []lockfile.Lock, service string) {
	held := make([]lockfile.Lock, 0, len(found))
	for _, l := range found {
		if l.State.IsHeld() {
			held = append(held, l)
		}
	}
	sort.SliceStable(held, func(i, j int) bool { return held[i].Path < held[j].Path })
	for _, l := range held {
		svc, dest := SplitName(l, service)
		labels := []string{"destination", dest, "host", host, "kind", kindOf(l), "layout", string(l.Layout), "name", l.Name, "path", l.Path, "service", svc}
		add(LockHeld, "1 for every Kamal deploy lock found held (a released lock has no series).", 1, labels...)
		stale := 0.0
		if r.Stale(l) {
			stale = 1
		}
		add(LockStale, "1 when the lock is older than --stale-after.", stale, labels...)
		if p, _ := r.HolderProcess(l); p == lockreport.ProcessGone || p == lockreport.ProcessRunning {
			gone := 0.0
			if p == lockreport.ProcessGone {
				gone = 1
			}
			add(LockHolderGone, "For a hookshim hold taken on this machine: 1 when its hookshim and hook have provably ended (nothing will release it), 0 when they run; no sample when it cannot be told (another machine's hold) or for other locks.", gone, labels...)
		}
		if age, ok := r.Age(l); ok {
			add(LockAge, "Seconds since the lock was taken (its details' time, else its directory's mtime); no sample when unknown.", seconds(age), labels...)
		}
	}
}

// addJobs adds this machine's deferred jobs, counted by state.
func addJobs(add adder, r *lockreport.Report) {
	if r.JobsErr != nil {
		add(DeferredJobsUp, "1 when this machine's deferred jobs could be listed.", 0)
		return
	}
	add(DeferredJobsUp, "1 when this machine's deferred jobs could be listed.", 1)
	count := map[string]int{}
	for _, j := range r.Jobs {
		count[jobState(j.State)]++
	}
	for _, s := range JobStates {
		add(DeferredJobs, "This machine's deferred hook jobs by state: pending (starting or waiting for the lock), running, succeeded, failed (or expired), orphaned (its waiter died), corrupt (unreadable record).", float64(count[s]), "state", s)
	}
}

// Write writes the report's families in the text exposition format.
func Write(w io.Writer, r *lockreport.Report, service string) error {
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range Families(r, service) {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// gauge is one sample; labels are name, value pairs, in order.
func gauge(v float64, labels ...string) *dto.Metric {
	m := &dto.Metric{Gauge: &dto.Gauge{Value: &v}}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: &labels[i], Value: &labels[i+1]})
	}
	return m
}

func seconds(d time.Duration) float64 { return float64(d) / float64(time.Second) }
