package lockreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookshim/hookshim/lockfile"
)

var now = time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)

func held(path, by string, at time.Time, version, message string) lockfile.Lock {
	layout := lockfile.LayoutKamal2
	if strings.Contains(path, "/locks/") {
		layout = lockfile.LayoutKamal15
	}
	return lockfile.Lock{
		Path: path, Layout: layout, Name: path[strings.LastIndexAny(path, "/-")+1:], State: lockfile.Held,
		Details: &lockfile.Details{LockedBy: by, At: at, AtText: at.Format(lockfile.TimeLayout), Version: version, Message: message},
		ModTime: at,
	}
}

const sha = "d018f90b8de4599db01a44090e61eeb581595c52"

var (
	holdMsg   = lockfile.Hold{Hook: "post-deploy", Token: "3f9c2a7b1e4d5f6a7b8c9d0e", User: "deploy", Host: "ci-runner-7", PID: 48213}.Message()
	automatic = held(".kamal/lock-app", "Ana Lima", now.Add(-20*time.Minute), sha, lockfile.AutomaticMessage)
	manual    = held(".kamal/lock-app-staging", "Bruno", now.Add(-10*time.Minute), "v2", "DB freeze")
	hold      = held(".kamal/lock-api", "CI Bot", now.Add(-5*time.Minute), sha, holdMsg)
	staleHold = held(".kamal/lock-worker", "CI Bot", now.Add(-7*24*time.Hour), "v1", holdMsg)
	legacy    = held(".kamal/locks/legacy", "Carla", now.Add(-2*time.Hour), "v1.9", lockfile.AutomaticMessage)
	noDetails = lockfile.Lock{Path: ".kamal/lock-cron", Layout: lockfile.LayoutKamal2, Name: "cron", State: lockfile.NoDetails,
		Problem: "lock directory has no details file", ModTime: now.Add(-30 * time.Second)}
	garbage = lockfile.Lock{Path: ".kamal/lock-broken", Layout: lockfile.LayoutKamal2, Name: "broken", State: lockfile.Unreadable,
		Problem: "details file is not base64", ModTime: now.Add(-3 * time.Hour)}
	hostile = held(".kamal/lock-evil", "\x1b[31mMallory\x1b[0m", now.Add(-time.Minute), "v\tx",
		"line one\nline two\r\x1b]0;pwned\x07\u202egnp.exe\u200b\u009b2J\xff")
)

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		l    lockfile.Lock
		want Kind
	}{
		{automatic, KindHeld},
		{manual, KindManual},
		{hold, KindHold},
		{staleHold, KindHold},
		{legacy, KindHeld},
		{noDetails, KindNoDetails},
		{garbage, KindUnreadable},
		{lockfile.Lock{State: lockfile.Held}, KindUnreadable},
		{held("x", "a", now, "v", "hookshim run"), KindManual},
		{held("x", "a", now, "v", "automatic deploy lock"), KindManual},
	} {
		if got := KindOf(tc.l); got != tc.want {
			t.Errorf("KindOf(%s %q) = %s, want %s", tc.l.Path, msgOf(tc.l), got, tc.want)
		}
	}
}

func msgOf(l lockfile.Lock) string {
	if l.Details == nil {
		return ""
	}
	return l.Details.Message
}

func TestStale(t *testing.T) {
	r := &Report{Now: now, StaleAfter: time.Hour}
	for _, tc := range []struct {
		l    lockfile.Lock
		want bool
	}{
		{held("a", "x", now.Add(-time.Hour), "v", "m"), false}, // exactly the limit is not older
		{held("a", "x", now.Add(-time.Hour-time.Second), "v", "m"), true},
		{held("a", "x", now.Add(time.Hour), "v", "m"), false}, // a clock ahead of ours
		{lockfile.Lock{State: lockfile.NoDetails}, false},     // time unknown
		{noDetails, false},
		{garbage, true},
	} {
		if got := r.Stale(tc.l); got != tc.want {
			t.Errorf("Stale(since %s) = %v, want %v", tc.l.Since(), got, tc.want)
		}
	}
	never := &Report{Now: now}
	if never.Stale(staleHold) {
		t.Error("StaleAfter 0 must mean never stale")
	}
	if a, ok := r.Age(held("a", "x", now.Add(time.Hour), "v", "m")); !ok || a != 0 {
		t.Errorf("Age of a future lock = %v, %v; want 0, true", a, ok)
	}
}

func sample() *Report {
	return &Report{
		Now:        now,
		StaleAfter: time.Hour,
		Results: []Result{
			{Target: Target{Name: "web1", Transport: TransportSSH, Address: "root@web1"},
				Locks: []lockfile.Lock{manual, automatic, hold, {Path: ".kamal/lock-gone", State: lockfile.Free}}, Elapsed: 120 * time.Millisecond},
			{Target: Target{Name: "web2", Transport: TransportSSH, Address: "root@web2"}, Elapsed: 80 * time.Millisecond},
			{Target: Target{Name: "web3", Transport: TransportSSH, Address: "root@web3"},
				Err: errors.New("cannot reach root@web3 over SSH: ssh: connect to host web3 port 22: Connection refused")},
			{Target: Target{Name: "deploy@db:2222", Transport: TransportSSH, Address: "deploy@db:2222"},
				Locks: []lockfile.Lock{staleHold, legacy, noDetails, garbage}},
		},
	}
}

const sampleTable = `HOST            LOCK                     HOLDER    SINCE                 AGE     VERSION                                   MESSAGE                                                                                                     STATE
web1            .kamal/lock-api          CI Bot    2026-11-27T06:55:00Z  5m00s   d018f90b8de4599db01a44090e61eeb581595c52  Automatic deploy lock (hookshim post-deploy hold 3f9c2a7b1e4d5f6a7b8c9d0e by deploy@ci-runner-7 pid 48213)  hookshim-hold
web1            .kamal/lock-app          Ana Lima  2026-11-27T06:40:00Z  20m00s  d018f90b8de4599db01a44090e61eeb581595c52  Automatic deploy lock                                                                                       held
web1            .kamal/lock-app-staging  Bruno     2026-11-27T06:50:00Z  10m00s  v2                                        DB freeze                                                                                                   manual
web3            -                        -         -                     -       -                                         cannot reach root@web3 over SSH: ssh: connect to host web3 port 22: Connection refused                      unreachable
deploy@db:2222  .kamal/lock-broken       -         2026-11-27T04:00:00Z  3h00m   -                                         details file is not base64                                                                                  unreadable, stale
deploy@db:2222  .kamal/lock-cron         -         2026-11-27T06:59:30Z  30s     -                                         lock directory has no details file                                                                          no-details
deploy@db:2222  .kamal/lock-worker       CI Bot    2026-11-20T07:00:00Z  7d0h    v1                                        Automatic deploy lock (hookshim post-deploy hold 3f9c2a7b1e4d5f6a7b8c9d0e by deploy@ci-runner-7 pid 48213)  hookshim-hold, stale
deploy@db:2222  .kamal/locks/legacy      Carla     2026-11-27T05:00:00Z  2h00m   v1.9                                      Automatic deploy lock                                                                                       held, stale

4 hosts, 7 locks (3 stale), 1 unreachable
`

// --wide: every value whole, however wide.
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample(), TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != sampleTable {
		t.Errorf("table:\n%s\nwant:\n%s", got, sampleTable)
	}
	checkColumns(t, b.String())
}

// checkColumns checks that every row of the table's first block has its
// cells at the header's columns.
func checkColumns(t *testing.T, table string) {
	t.Helper()
	lines := strings.Split(table, "\n")
	head := lines[0]
	var starts []int
	for i, r := range []rune(head) {
		if r != ' ' && (i == 0 || []rune(head)[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	if len(starts) != 8 {
		t.Fatalf("header %q has %d columns, want 8", head, len(starts))
	}
	for _, line := range lines[1:] {
		if line == "" {
			break
		}
		rs := []rune(line)
		for _, s := range starts[1:] {
			if s >= len(rs) || rs[s-1] != ' ' || rs[s] == ' ' {
				t.Errorf("row %q: no cell starts at column %d", line, s)
			}
		}
	}
}

const sampleTable120 = `HOST            LOCK                     HOLDER    SINCE                 AGE     VERSION   MESSAGE   STATE
web1            .kamal/lock-api          CI Bot    2026-11-27T06:55:00Z  5m00s   d018f90…  hookshi…  hookshim-hold
web1            .kamal/lock-app          Ana Lima  2026-11-27T06:40:00Z  20m00s  d018f90…  Automat…  held
web1            .kamal/lock-app-staging  Bruno     2026-11-27T06:50:00Z  10m00s  v2        DB free…  manual
web3            -                        -         -                     -       -         cannot …  unreachable
deploy@db:2222  .kamal/lock-broken       -         2026-11-27T04:00:00Z  3h00m   -         details…  unreadable, stale
deploy@db:2222  .kamal/lock-cron         -         2026-11-27T06:59:30Z  30s     -         lock di…  no-details
deploy@db:2222  .kamal/lock-worker       CI Bot    2026-11-20T07:00:00Z  7d0h    v1        hookshi…  hookshim-hold, stale
deploy@db:2222  .kamal/locks/legacy      Carla     2026-11-27T05:00:00Z  2h00m   v1.9      Automat…  held, stale

web3 is unreachable: cannot reach root@web3 over SSH: ssh: connect to host web3 port 22: Connection refused
(values cut with …; still 121 columns wide: hosts, paths and times are never cut; --wide shows every value whole)
4 hosts, 7 locks (3 stale), 1 unreachable
`

// By default the table fits 120 columns: VERSION, then MESSAGE, then HOLDER
// are cut with "…"; hosts, paths, times, ages and states are whole, and a
// line says that --wide shows everything. An unreachable host's reason, cut
// in its row, is written whole under the table.
func TestWriteTableFitsWidth(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample(), TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != sampleTable120 {
		t.Errorf("table:\n%s\nwant:\n%s", got, sampleTable120)
	}
	checkColumns(t, b.String())
	for _, width := range []int{120, 110, 100, 80} {
		b.Reset()
		if err := WriteTable(&b, sample(), TableOptions{Width: width}); err != nil {
			t.Fatal(err)
		}
		checkColumns(t, b.String())
		for _, line := range strings.Split(b.String(), "\n") {
			// The whole columns alone take 121 here (STATE "hookshim-hold,
			// stale" is whole): narrower, only they overflow. The
			// unreachable host's reason is whole by design.
			if n := utf8.RuneCountInString(line); n > max(width, 121) && !strings.HasPrefix(line, "web3 is unreachable: ") {
				t.Errorf("width %d: line of %d runes: %q", width, n, line)
			}
		}
		for _, whole := range []string{"web1            .kamal/lock-app-staging  ", "deploy@db:2222  .kamal/locks/legacy  ", "2026-11-27T06:59:30Z  30s", "hookshim-hold", "unreachable", "7d0h"} {
			if !strings.Contains(b.String(), whole) {
				t.Errorf("width %d: %q is not whole:\n%s", width, whole, b.String())
			}
		}
	}
	// A table that fits is left whole, and says nothing about cutting.
	small := &Report{Now: now, Results: []Result{{Target: Target{Name: "web1"}, Locks: []lockfile.Lock{manual}}}}
	b.Reset()
	if err := WriteTable(&b, small, TableOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "…") || strings.Contains(b.String(), "--wide") {
		t.Errorf("a table that fits was cut:\n%s", b.String())
	}
}

// A path too long for the width is shown whole: the cut falls on the text
// columns, and only that line is wider.
func TestWriteTableNeverCutsAPath(t *testing.T) {
	path := "/srv/" + strings.Repeat("deploy-", 20) + "run/locks/app-production"
	r := &Report{Now: now, Results: []Result{{Target: Target{Name: "web1.example.internal"},
		Locks: []lockfile.Lock{held(path, "Bruno Costa", now.Add(-time.Minute), sha, "DB migration freeze until 08:00, ask Bruno")}}}}
	var b bytes.Buffer
	if err := WriteTable(&b, r, TableOptions{Width: 120}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "web1.example.internal  "+path+"  ") {
		t.Errorf("host or path cut:\n%s", out)
	}
	if !strings.Contains(out, "  DB migr…  manual") || !strings.Contains(out, "  Bruno C…  ") {
		t.Errorf("message and holder not cut to their floors:\n%s", out)
	}
	// In the jobs table, ERROR is cut; --wide adds the repository and the
	// log, whole.
	log := "/home/deploy/.local/state/hookshim/jobs/20261127-071512-5f3a9c01/log"
	jr := &Report{Now: now, Jobs: []Job{{ID: "20261127-071512-5f3a9c01", Hook: "post-deploy", State: "expired", Repo: "/home/deploy/src/app",
		Lock: "web1:.kamal/lock-app", Log: log, Error: "lock .kamal/lock-app on web1 was still held at the deadline, 30m0s after the hook was deferred, and more words to go past 120 columns"}}}
	b.Reset()
	if err := WriteTable(&b, jr, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  web1:.kamal/lock-app  lock .kamal/lock-app on web1") || !strings.Contains(b.String(), "…\n") {
		t.Errorf("jobs: the error not cut:\n%s", b.String())
	}
	b.Reset()
	if err := WriteTable(&b, jr, TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  /home/deploy/src/app  "+log+"  lock .kamal/lock-app on web1 was still held at the deadline, 30m0s after the hook was deferred, and more words to go past 120 columns\n") {
		t.Errorf("jobs --wide: a path or the error cut:\n%s", b.String())
	}
	b.Reset()
	if err := WriteTable(&b, r, TableOptions{Width: 120, Wide: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Bruno Costa") || !strings.Contains(b.String(), "DB migration freeze until 08:00, ask Bruno") || strings.Contains(b.String(), "…") {
		t.Errorf("--wide cut a value:\n%s", b.String())
	}
}

func TestWriteTableHostile(t *testing.T) {
	long := held(".kamal/lock-long", strings.Repeat("N", 500), now, strings.Repeat("v", 500), strings.Repeat("m", 70000))
	longHold := held(".kamal/lock-longhold", "x", now, "v", holdMsg+" "+strings.Repeat("z", 500))
	r := &Report{Now: now, StaleAfter: time.Hour, Results: []Result{
		{Target: Target{Name: "web1"}, Locks: []lockfile.Lock{hostile, long, longHold,
			{Path: ".kamal/lock-\x1b[2Jname\nx", State: lockfile.NoDetails, Problem: "no details"}}},
	}}
	for _, wide := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteTable(&b, r, TableOptions{Wide: wide}); err != nil {
			t.Fatal(err)
		}
		checkHostileTable(t, b.String(), wide)
	}
}

// checkHostileTable checks that a table of hostile values holds no control or
// formatting character; cut, that its lines fit 120 columns; wide, that
// every value is whole, escaped.
func checkHostileTable(t *testing.T, out string, wide bool) {
	t.Helper()
	for i, c := range []byte(out) {
		if c < 0x20 && c != '\n' || c == 0x7f {
			t.Fatalf("byte %d of the table is control character %#x:\n%s", i, c, out)
		}
	}
	if !utf8.ValidString(out) {
		t.Fatal("table is not valid UTF-8")
	}
	for _, bad := range []string{"\u202e", "\u200b", "\u009b"} {
		if strings.Contains(out, bad) {
			t.Errorf("table holds %q", bad)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{`.kamal/lock-\x1b[2Jname\nx`, "  \\x1b[31mMal…  ", strings.Repeat("m", 20) + "…  manual"}
	if wide {
		want = []string{`.kamal/lock-\x1b[2Jname\nx`, `\x1b[31mMallory\x1b[0m`,
			`line one\nline two\r\x1b]0;pwned\x07\u202egnp.exe\u200b\x9b2J` + "\uFFFD", `v\tx`,
			strings.Repeat("m", 70000) + "  manual", holdMsg + " " + strings.Repeat("z", 500)}
	}
	if n := 8 - btoi(wide); len(lines) != n { // header, 4 rows, blank, the note on cut values, summary
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), n, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%.2000s", w, out)
		}
	}
	for _, line := range lines {
		if n := utf8.RuneCountInString(line); n > 120 && !wide {
			t.Errorf("line of %d runes: long values are not cut", n)
		}
	}
	checkColumns(t, out)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestWriteTableEmpty(t *testing.T) {
	r := &Report{Now: now, StaleAfter: time.Hour, Results: []Result{{Target: Target{Name: "local"}}}}
	var b bytes.Buffer
	if err := WriteTable(&b, r, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "1 host, 0 locks, 0 unreachable\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriteTableJobs(t *testing.T) {
	status := 1
	r := &Report{Now: now, StaleAfter: time.Hour,
		Results: []Result{{Target: Target{Name: "local"}}},
		Jobs: []Job{
			{ID: "j1", Hook: "post-deploy", State: "waiting", Repo: "/src/app", Lock: "web1:.kamal/lock-app", Since: now.Add(-90 * time.Second), Log: "/state/j1.log"},
			{ID: "j2", Hook: "post-deploy", State: "failed", ExitStatus: &status, Error: "hook\nfailed"},
		},
		JobsErr: errors.New("j3: bad record\x1b[0m"),
	}
	var b bytes.Buffer
	if err := WriteTable(&b, r, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `JOB  HOOK         STATE            SINCE                 AGE    LOCK                  ERROR
j1   post-deploy  waiting          2026-11-27T06:58:30Z  1m30s  web1:.kamal/lock-app  -
j2   post-deploy  failed (exit 1)  -                     -      -                     hook\nfailed
deferred jobs: cannot list them: j3: bad record\x1b[0m

1 host, 0 locks, 0 unreachable, 2 deferred jobs
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// --wide adds each job's repository and log.
	b.Reset()
	if err := WriteTable(&b, r, TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	want = `JOB  HOOK         STATE            SINCE                 AGE    LOCK                  REPO      LOG            ERROR
j1   post-deploy  waiting          2026-11-27T06:58:30Z  1m30s  web1:.kamal/lock-app  /src/app  /state/j1.log  -
j2   post-deploy  failed (exit 1)  -                     -      -                     -         -              hook\nfailed
deferred jobs: cannot list them: j3: bad record\x1b[0m

1 host, 0 locks, 0 unreachable, 2 deferred jobs
`
	if got := b.String(); got != want {
		t.Errorf("--wide, got:\n%s\nwant:\n%s", got, want)
	}
}

// The line about cut values is true: "to fit N columns" only when every line
// of the tables does; else it says how wide they still are and why. A job's
// repository and log, long paths never cut, are left to --wide, so the jobs
// table fits 120 columns.
func TestWriteTableSaysHowWideItIs(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample(), TableOptions{Width: 60}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	widest := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "(") || strings.HasPrefix(line, "web3 is unreachable: ") {
			continue
		}
		widest = max(widest, utf8.RuneCountInString(line))
	}
	want := fmt.Sprintf("\n(values cut with …; still %d columns wide: hosts, paths and times are never cut; --wide shows every value whole)\n", widest)
	if widest <= 60 || !strings.Contains(out, want) || strings.Contains(out, "to fit") {
		t.Errorf("width 60, tables %d wide: no %q:\n%s", widest, want, out)
	}

	jr := &Report{Now: now, Jobs: []Job{{ID: "20261127-071512-5f3a9c01", Hook: "post-deploy", State: "succeeded", ExitStatus: new(int),
		Since: now.Add(-time.Minute), Repo: "/home/deploy/src/" + strings.Repeat("app-", 20), Lock: "web1:.kamal/lock-app",
		Log: "/home/deploy/.local/state/hookshim/jobs/20261127-071512-5f3a9c01/" + strings.Repeat("log-", 20)}}}
	b.Reset()
	if err := WriteTable(&b, jr, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Errorf("jobs: a line of %d runes: %q", n, line)
		}
	}
	if strings.Contains(b.String(), "/home/deploy/") {
		t.Errorf("jobs: a repository or log path in the default table:\n%s", b.String())
	}
}

func TestSummaryLine(t *testing.T) {
	for _, tc := range []struct {
		s    Summary
		want string
	}{
		{Summary{Hosts: 16, Locks: 2}, "16 hosts, 2 locks, 0 unreachable"},
		{Summary{Hosts: 1, Locks: 1, Stale: 1, Unreachable: 1}, "1 host, 1 lock (1 stale), 1 unreachable"},
		{Summary{Hosts: 2, Jobs: 1}, "2 hosts, 0 locks, 0 unreachable, 1 deferred job"},
	} {
		if got := SummaryLine(tc.s); got != tc.want {
			t.Errorf("SummaryLine(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("héllo wörld", 5); got != "héll…" {
		t.Errorf("clip = %q", got)
	}
	if got := clip("héllo", 5); got != "héllo" {
		t.Errorf("clip = %q", got)
	}
	if got := shortVersion(sha); got != "d018f90b8de4" {
		t.Errorf("shortVersion = %q", got)
	}
	if got := shortVersion(strings.ToUpper(sha)); got != strings.ToUpper(sha) {
		t.Errorf("shortVersion of a non-SHA = %q", got)
	}
}

func TestWriteJSON(t *testing.T) {
	r := sample()
	r.Results[0].Locks = append(r.Results[0].Locks, hostile)
	status := 0
	r.Jobs = []Job{{ID: "j1", Hook: "post-deploy", State: "succeeded", Since: now.Add(-time.Minute), ExitStatus: &status}}
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SchemaVersion     int              `json:"schema_version"`
		GeneratedAt       string           `json:"generated_at"`
		StaleAfterSeconds int64            `json:"stale_after_seconds"`
		Hosts             []map[string]any `json:"hosts"`
		Locks             []map[string]any `json:"locks"`
		Jobs              []map[string]any `json:"jobs"`
		JobsError         *string          `json:"jobs_error"`
		Summary           map[string]int   `json:"summary"`
	}
	dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if doc.SchemaVersion != 1 || doc.GeneratedAt != "2026-11-27T07:00:00Z" || doc.StaleAfterSeconds != 3600 || doc.JobsError != nil {
		t.Errorf("header: %+v", doc)
	}
	if len(doc.Hosts) != 4 || len(doc.Locks) != 8 || len(doc.Jobs) != 1 {
		t.Fatalf("%d hosts, %d locks, %d jobs; want 4, 8, 1", len(doc.Hosts), len(doc.Locks), len(doc.Jobs))
	}
	hostKeys := []string{"host", "transport", "address", "ok", "error", "locks", "elapsed_ms"}
	lockKeys := []string{"host", "path", "layout", "name", "state", "stale", "holder", "since", "since_source", "age_seconds", "clock_skew_seconds", "version", "message", "problem", "hold", "holder_process"}
	jobKeys := []string{"id", "hook", "state", "repo", "lock", "since", "age_seconds", "log", "exit_status", "error"}
	for _, h := range doc.Hosts {
		checkKeys(t, "host", h, hostKeys)
	}
	for _, l := range doc.Locks {
		checkKeys(t, "lock", l, lockKeys)
	}
	checkKeys(t, "job", doc.Jobs[0], jobKeys)

	if h := doc.Hosts[2]; h["ok"] != false || h["error"] != "cannot reach root@web3 over SSH: ssh: connect to host web3 port 22: Connection refused" || h["locks"] != 0.0 {
		t.Errorf("unreachable host: %v", h)
	}
	if h := doc.Hosts[0]; h["ok"] != true || h["error"] != nil || h["locks"] != 4.0 || h["elapsed_ms"] != 120.0 || h["address"] != "root@web1" || h["transport"] != "ssh" {
		t.Errorf("host: %v", h)
	}
	byPath := map[string]map[string]any{}
	for _, l := range doc.Locks {
		byPath[l["path"].(string)] = l
	}
	want := map[string]map[string]any{
		".kamal/lock-app": {"host": "web1", "layout": "kamal-2", "name": "app", "state": "held", "stale": false, "holder": "Ana Lima",
			"since": "2026-11-27T06:40:00Z", "since_source": "details", "age_seconds": 1200.0, "version": sha, "message": "Automatic deploy lock", "problem": nil, "hold": nil, "holder_process": nil},
		".kamal/lock-app-staging": {"state": "manual", "stale": false, "message": "DB freeze"},
		".kamal/lock-api": {"state": "hookshim-hold", "stale": false, "hold": map[string]any{
			"hook": "post-deploy", "token": "3f9c2a7b1e4d5f6a7b8c9d0e", "user": "deploy", "host": "ci-runner-7", "pid": 48213.0},
			"holder_process": "unknown"},
		".kamal/lock-worker":  {"host": "deploy@db:2222", "state": "hookshim-hold", "stale": true, "age_seconds": 604800.0},
		".kamal/locks/legacy": {"layout": "kamal-1.5", "state": "held", "stale": true},
		".kamal/lock-cron": {"state": "no-details", "stale": false, "holder": nil, "version": nil, "message": nil, "hold": nil,
			"since": "2026-11-27T06:59:30Z", "since_source": "mtime", "age_seconds": 30.0, "problem": "lock directory has no details file"},
		".kamal/lock-broken": {"state": "unreadable", "stale": true, "problem": "details file is not base64"},
		".kamal/lock-evil": {"holder": "\x1b[31mMallory\x1b[0m", "version": "v\tx",
			"message": "line one\nline two\r\x1b]0;pwned\x07\u202egnp.exe\u200b\u009b2J\uFFFD"},
	}
	for path, fields := range want {
		got := byPath[path]
		if got == nil {
			t.Errorf("no lock %s in the JSON", path)
			continue
		}
		for k, v := range fields {
			if gv, _ := json.Marshal(got[k]); string(gv) != mustJSON(v) {
				t.Errorf("%s: %s = %s, want %s", path, k, gv, mustJSON(v))
			}
		}
	}
	if want := map[string]int{"hosts": 4, "unreachable": 1, "hosts_with_locks": 2, "locks": 8, "stale": 3, "dead_holds": 0, "jobs": 1}; !equalMaps(doc.Summary, want) {
		t.Errorf("summary = %v, want %v", doc.Summary, want)
	}
	if j := doc.Jobs[0]; j["exit_status"] != 0.0 || j["age_seconds"] != 60.0 || j["repo"] != nil {
		t.Errorf("job = %v", j)
	}
	if bytes.Contains(b.Bytes(), []byte{0x1b}) {
		t.Error("raw ESC in the JSON")
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, &Report{Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"hosts": []`, `"locks": []`, `"jobs": []`, `"jobs_error": null`, `"stale_after_seconds": 0`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
}

func checkKeys(t *testing.T, what string, m map[string]any, keys []string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("%s has %d keys, want %d: %v", what, len(m), len(keys), m)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks key %q: %v", what, k, m)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A hookshim hold whose process is known to be gone shows as "(dead)" after
// its kind, before ", stale"; a running one and one not known (another
// machine's) look as before. The JSON says it in holder_process (null for
// other kinds), the summary counts the dead holds.
func TestDeadHold(t *testing.T) {
	hold := func(path, token string, ago time.Duration) (lockfile.Lock, lockfile.Hold) {
		h := lockfile.Hold{Hook: "post-deploy", Token: token, User: "deploy", Host: "deployer", PID: 4242,
			Stamp: lockfile.Stamp{Start: 99, SID: 4240, Boot: "0123abcd"}}
		return held(path, "CI Bot", now.Add(-ago), "v1", h.Message()), h
	}
	dead, deadHold := hold(".kamal/lock-dead", "aaaaaaaaaaaaaaaa", 5*time.Minute)
	old, oldHold := hold(".kamal/lock-old", "bbbbbbbbbbbbbbbb", 2*time.Hour)
	live, liveHold := hold(".kamal/lock-live", "cccccccccccccccc", 5*time.Minute)
	other, _ := hold(".kamal/lock-other", "dddddddddddddddd", 5*time.Minute)
	r := &Report{Now: now, StaleAfter: time.Hour,
		Results: []Result{{Target: Target{Name: "web1", Transport: TransportSSH, Address: "root@web1"},
			Locks: []lockfile.Lock{dead, old, live, other, automatic}}},
		Processes: map[lockfile.Hold]Process{deadHold: ProcessGone, oldHold: ProcessGone, liveHold: ProcessRunning},
	}
	var b bytes.Buffer
	if err := WriteTable(&b, r, TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		".kamal/lock-dead":  "hookshim-hold (dead)",
		".kamal/lock-old":   "hookshim-hold (dead), stale",
		".kamal/lock-live":  "hookshim-hold",
		".kamal/lock-other": "hookshim-hold",
		".kamal/lock-app":   "held",
	} {
		found := false
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(line, "web1  "+path+" ") {
				found = strings.HasSuffix(line, "  "+want)
				break
			}
		}
		if !found {
			t.Errorf("%s: no row ending in %q:\n%s", path, want, b.String())
		}
	}
	if !strings.HasSuffix(b.String(), "\n1 host, 5 locks (1 stale, 2 dead holds), 0 unreachable\n") {
		t.Errorf("summary line:\n%s", b.String())
	}

	b.Reset()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Locks   []map[string]any `json:"locks"`
		Summary map[string]int   `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, l := range doc.Locks {
		got[l["path"].(string)] = l["holder_process"]
		if l["path"] == ".kamal/lock-old" && (l["state"] != "hookshim-hold" || l["stale"] != true) {
			t.Errorf("a dead hold keeps its state and stale flag: %v", l)
		}
	}
	want := map[string]any{".kamal/lock-dead": "gone", ".kamal/lock-old": "gone", ".kamal/lock-live": "running", ".kamal/lock-other": "unknown", ".kamal/lock-app": nil}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("holder_process = %v, want %v", got, want)
	}
	if doc.Summary["dead_holds"] != 2 || doc.Summary["stale"] != 1 {
		t.Errorf("summary = %v", doc.Summary)
	}
}
