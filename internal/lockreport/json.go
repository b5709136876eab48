package lockreport

import (
	"encoding/json"
	"io"
	"time"

	"github.com/hookshim/hookshim/lockfile"
)

// SchemaVersion is the version of the JSON document WriteJSON writes. It
// changes only when a field is removed or changes meaning; new fields may be
// added within a version.
const SchemaVersion = 1

// The JSON document. Every field is always present; unknown values are null.
type jsonDoc struct {
	SchemaVersion     int         `json:"schema_version"`
	GeneratedAt       string      `json:"generated_at"`
	StaleAfterSeconds int64       `json:"stale_after_seconds"`
	Hosts             []jsonHost  `json:"hosts"`
	Locks             []jsonLock  `json:"locks"`
	Jobs              []jsonJob   `json:"jobs"`
	JobsError         *string     `json:"jobs_error"`
	Summary           jsonSummary `json:"summary"`
}

type jsonHost struct {
	Host      string  `json:"host"`
	Transport string  `json:"transport"`
	Address   string  `json:"address"`
	OK        bool    `json:"ok"`
	Error     *string `json:"error"`
	Locks     int     `json:"locks"`
	ElapsedMS int64   `json:"elapsed_ms"`
}

type jsonLock struct {
	Host        string    `json:"host"`
	Path        string    `json:"path"`
	Layout      string    `json:"layout"`
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Stale       bool      `json:"stale"`
	Holder      *string   `json:"holder"`
	Since       *string   `json:"since"`
	SinceSource *string   `json:"since_source"`
	AgeSeconds  *int64    `json:"age_seconds"`
	Version     *string   `json:"version"`
	Message     *string   `json:"message"`
	Problem     *string   `json:"problem"`
	Hold        *jsonHold `json:"hold"`
	// HolderProcess: a hookshim hold's process, "running", "gone" or
	// "unknown" (Process); null for any other lock.
	HolderProcess *string `json:"holder_process"`
	// ClockSkewSeconds: how far in the future the lock's time is (flagged
	// past lockfile.ClockSkewTolerance), else null.
	ClockSkewSeconds *int64 `json:"clock_skew_seconds"`
}

type jsonHold struct {
	Hook  string `json:"hook"`
	Token string `json:"token"`
	User  string `json:"user"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
}

type jsonJob struct {
	ID         string  `json:"id"`
	Hook       string  `json:"hook"`
	State      string  `json:"state"`
	Repo       *string `json:"repo"`
	Lock       *string `json:"lock"`
	Since      *string `json:"since"`
	AgeSeconds *int64  `json:"age_seconds"`
	Log        *string `json:"log"`
	ExitStatus *int    `json:"exit_status"`
	Error      *string `json:"error"`
}

type jsonSummary struct {
	Hosts          int `json:"hosts"`
	Unreachable    int `json:"unreachable"`
	HostsWithLocks int `json:"hosts_with_locks"`
	Locks          int `json:"locks"`
	Stale          int `json:"stale"`
	DeadHolds      int `json:"dead_holds"`
	Jobs           int `json:"jobs"`
}

// WriteJSON writes the report as one JSON document (schema_version 1),
// indented, ending in a newline. Strings are exact: nothing is clipped or
// escaped beyond JSON's own escaping.
func WriteJSON(w io.Writer, r *Report) error {
	doc := jsonDoc{
		SchemaVersion:     SchemaVersion,
		GeneratedAt:       rfc3339(r.Now),
		StaleAfterSeconds: int64(r.StaleAfter / time.Second),
		Hosts:             []jsonHost{},
		Locks:             []jsonLock{},
		Jobs:              []jsonJob{},
	}
	for _, res := range r.Results {
		h := jsonHost{
			Host:      res.Target.Name,
			Transport: res.Target.Transport,
			Address:   res.Target.Address,
			OK:        res.Err == nil,
			ElapsedMS: res.Elapsed.Milliseconds(),
		}
		if res.Err != nil {
			h.Error = ptr(res.Err.Error())
		} else {
			for _, l := range locks(res) {
				h.Locks++
				doc.Locks = append(doc.Locks, jsonLockOf(r, res.Target.Name, l))
			}
		}
		doc.Hosts = append(doc.Hosts, h)
	}
	for _, j := range r.Jobs {
		jj := jsonJob{ID: j.ID, Hook: j.Hook, State: j.State, Repo: nonEmpty(j.Repo), Lock: nonEmpty(j.Lock), Log: nonEmpty(j.Log), ExitStatus: j.ExitStatus, Error: nonEmpty(j.Error)}
		if !j.Since.IsZero() {
			jj.Since = ptr(rfc3339(j.Since))
			age := int64(max(r.Now.Sub(j.Since), 0) / time.Second)
			jj.AgeSeconds = &age
		}
		doc.Jobs = append(doc.Jobs, jj)
	}
	if r.JobsErr != nil {
		doc.JobsError = ptr(r.JobsErr.Error())
	}
	s := r.Summary()
	doc.Summary = jsonSummary{Hosts: s.Hosts, Unreachable: s.Unreachable, HostsWithLocks: s.HostsWithLocks, Locks: s.Locks, Stale: s.Stale, DeadHolds: s.DeadHolds, Jobs: s.Jobs}

	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func jsonLockOf(r *Report, host string, l lockfile.Lock) jsonLock {
	j := jsonLock{
		Host:   host,
		Path:   l.Path,
		Layout: string(l.Layout),
		Name:   l.Name,
		State:  string(KindOf(l)),
		Stale:  r.Stale(l),
	}
	if t := l.Since(); !t.IsZero() {
		j.Since = ptr(rfc3339(t))
		src := "mtime"
		if l.Details != nil && !l.Details.At.IsZero() {
			src = "details"
		}
		j.SinceSource = &src
	}
	if a, ok := r.Age(l); ok {
		sec := int64(a / time.Second)
		j.AgeSeconds = &sec
	}
	if ahead := l.Ahead(r.Now); ahead > 0 {
		sec := int64(ahead / time.Second)
		j.ClockSkewSeconds = &sec
	}
	if d := l.Details; d != nil {
		j.Holder, j.Version, j.Message = ptr(d.LockedBy), ptr(d.Version), ptr(d.Message)
		if h, ok := l.Hold(); ok {
			j.Hold = &jsonHold{Hook: h.Hook, Token: h.Token, User: h.User, Host: h.Host, PID: h.PID}
			j.HolderProcess = ptr(string(r.processOf(h)))
		}
	}
	if l.Problem != "" {
		j.Problem = ptr(l.Problem)
	}
	return j
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
