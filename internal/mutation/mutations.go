package main

// Covering packages.
var (
	lockTests = []string{"./lockfile", "./shim"}
	shimTests = []string{"./shim"}
	jobsTests = []string{"./jobs"}
)

// mutations: each Old is anchored on text unlikely to change for other
// reasons. shim/owner.go, shim/hook.go, shim/policy.go and
// lockfile/remote.go are being reworked: few mutations there.
var mutations = []Mutation{
	// The four regressions of issue 16 that no test caught.
	{Name: "waiter-reruns-started-hook", File: "jobs/deferred.go",
		Old: "if runErr == nil || started.Load() {", New: "if runErr == nil {",
		Pkgs: []string{"./internal/cli"}, Run: "TestDeferredHookThatFailsRunsOnce"},
	{Name: "run-defers-gating-hook", File: "internal/cli/cmd_run.go",
		Old: "if err := shim.CheckDeferrable(policy, hook); err != nil {", New: "if err := error(nil); err != nil {",
		Pkgs: []string{"./internal/cli"}, Run: "TestScripts/run_defer_gating"},
	// The cleanup of a take whose answer was lost is now settleTake: a lock
	// with the take's own token is used (and released), never left.
	{Name: "take-lost-answer-not-settled", File: "shim/hold.go",
		Old: "if !ok || !r.lostTokens[h.Token] || !l.State.IsHeld() || l.Details == nil {", New: "if _ = ok; true {",
		Pkgs: shimTests},
	{Name: "claim-despite-lock", File: "jobs/store.go",
		Old: "ok, err := fl.TryLockContext(ctx, 2*time.Millisecond)\n\tif !ok {\n\t\tif err == nil ||", New: "ok, err := fl.TryLockContext(ctx, 2*time.Millisecond)\n\tif !ok && false {\n\t\tif err == nil ||",
		Pkgs: jobsTests},

	// Which hooks run under the calling Kamal's own lock (kamal-locks.md
	// section 3), and what follows from it.
	{Name: "docker-setup-not-held", File: "shim/hooktable.go",
		Old: `{hook: "docker-setup", held: true},`, New: `{hook: "docker-setup", held: false},`, Pkgs: shimTests},
	{Name: "gates-only-pre-deploy", File: "shim/hooktable.go",
		Old: `func Gates(hook string) bool { return hook != "post-deploy" }`, New: `func Gates(hook string) bool { return hook == "pre-deploy" }`, Pkgs: shimTests},
	{Name: "rollback-exemption-dropped", File: "shim/owner.go",
		Old: `(d.Version != k.Version && k.Command != "rollback")`, New: `d.Version != k.Version`, Pkgs: shimTests},
	{Name: "kamal-lock-unscoped", File: "shim/owner.go",
		Old: "\tif !c.callersLock() {\n\t\treturn false,", New: "\tif false {\n\t\treturn false,", Pkgs: shimTests},
	{Name: "destination-shares-old-layouts", File: "shim/kamalenv.go",
		Old: "\t\tif l.PerDestination() {", New: "\t\tif true {", Pkgs: shimTests},
	{Name: "manual-lock-waited-for", File: "shim/wait.go",
		Old: "if !isManual(o.Lock) || r.WaitManual {", New: "if true {", Pkgs: shimTests},
	{Name: "caller-held-lock-waited-for", File: "shim/policy.go",
		Old: "if !k.HonoursKamalLock() && c.callersLock() && CallerHolds(hook, k) == Held {", New: "if false {", Pkgs: shimTests},

	// lockfile
	{Name: "token-any-length", File: "lockfile/hold.go",
		Old: "if len(s) < 8 || len(s) > 64 {", New: "if len(s) > 64 {", Pkgs: lockTests},
	{Name: "token-prefix-matches", File: "lockfile/hold.go",
		Old: "return ok && ValidToken(token) && h.Token == token", New: "return ok && ValidToken(token) && strings.HasPrefix(h.Token, token)", Pkgs: lockTests},
	{Name: "hold-any-message", File: "lockfile/hold.go",
		Old: `if len(f) < 4 || f[0] != "hookshim" || f[2] != "hold" || f[3] == "" {`, New: `if len(f) < 4 || f[3] == "" {`, Pkgs: lockTests},
	{Name: "hold-pid-ignored", File: "lockfile/hold.go",
		Old: "h.PID, _ = strconv.Atoi(f[i+1])", New: "_, _ = strconv.Atoi(f[i+1])", Pkgs: lockTests},
	{Name: "details-first-at", File: "lockfile/details.go",
		Old: `if i := strings.LastIndex(first, " at "); i >= 0 {`, New: `if i := strings.Index(first, " at "); i >= 0 {`, Pkgs: lockTests},
	{Name: "details-no-strip", File: "lockfile/details.go",
		Old: `d.LockedBy, at, d.Version, d.Message), " \t\n\r\v\f")`, New: `d.LockedBy, at, d.Version, d.Message), "")`, Pkgs: lockTests},
	{Name: "details-field-space-kept", File: "lockfile/details.go",
		Old: `return strings.TrimPrefix(v, " "), true`, New: `return v, true`, Pkgs: lockTests},
	{Name: "details-size-unbounded", File: "lockfile/details.go",
		Old: "if len(raw) > MaxDetailsSize {", New: "if len(raw) > 64*MaxDetailsSize {", Pkgs: lockTests},
	{Name: "acquire-no-retry-on-race", File: "lockfile/local.go",
		Old: "held.State.IsHeld() || tries == 4 {", New: "true || tries == 4 {", Pkgs: []string{"./lockfile", "./shim", "./internal/cli"}, Run: "Race|Local|Hold",
		Equivalent: "a mkdir that fails on a lock gone by the read returns a HeldError whose lock is free; the runner judges it afresh and takes the lock again, so users see the same (one more decision line), and no test can open that window locally without a seam"},
	{Name: "acquire-leaves-dir-on-write-failure", File: "lockfile/local.go",
		Old: "_ = os.Remove(abs)\n", New: "\n", Pkgs: []string{"./lockfile", "./internal/cli"}, Run: "TestFaultDiskFull|TestFaultFileSizeLimit|Local"},
	{Name: "details-symlink-followed", File: "lockfile/local.go",
		Old: "os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK", New: "os.O_RDONLY|syscall.O_NONBLOCK", Pkgs: []string{"./lockfile", "./internal/cli"}, Run: "Local|Hostile"},
	{Name: "local-release-any-token", File: "lockfile/local.go",
		Old: "case !HeldBy(l.Details.Message, token):", New: "case false:", Pkgs: lockTests},
	{Name: "no-details-is-free", File: "lockfile/lock.go",
		Old: `return s != Free && s != ""`, New: `return s == Held`, Pkgs: lockTests},
	{Name: "remote-release-unanchored", File: "lockfile/release.sh",
		Old: `grep -q -x -E -e "$2"`, New: `grep -q -E -e "$2"`, Pkgs: lockTests},
	{Name: "layout15-drops-destination", File: "lockfile/layout.go",
		Old: `return path.Join(runDir, "locks", name)`, New: `return path.Join(runDir, "locks", s.Service)`, Pkgs: lockTests},
	{Name: "name-dotdot-allowed", File: "lockfile/layout.go",
		Old: `if strings.Contains(name, "..") {`, New: `if false {`, Pkgs: lockTests},
	{Name: "rundir-del-allowed", File: "lockfile/layout.go",
		Old: "if r < 0x20 || r == 0x7f {", New: "if r < 0x20 {", Pkgs: lockTests},

	// shim
	{Name: "hold-never-released", File: "shim/hold.go",
		Old: "relErr := r.release(t.store, t.path, t.token)", New: "relErr := error(nil)", Pkgs: shimTests},
	{Name: "wait-ours-keeps-waiting", File: "shim/wait.go",
		Old: "if now.State == Free || now.State == Ours {", New: "if now.State == Free {", Pkgs: shimTests},
	{Name: "wait-look-then-take", File: "shim/wait.go",
		Old: "direct := r.Policy == Hold && o.Lock.Path == r.Spec.Path(r.Layouts[0])", New: "direct := false",
		Pkgs: shimTests, Equivalent: "only the cost changes: a look and then a take (two round trips) instead of one mkdir; the take still reports a lock taken in between"},
	{Name: "observe-only-automatic-held", File: "shim/run.go",
		Old: "\tcase !c.State.IsHeld():\n", New: "\tcase c.State != lockfile.Held:\n", Pkgs: shimTests},
	{Name: "recursion-guard-off", File: "shim/run.go",
		Old: "if r.FromDir && slices.Contains(activeHooks(r.Env), r.guardKey()) {", New: "if false && slices.Contains(activeHooks(r.Env), r.guardKey()) {",
		Pkgs: []string{"./shim", "./internal/cli"}, Run: "Recursion|TestScripts/run_recursion"},
	{Name: "nested-token-dropped", File: "shim/run.go",
		Old: "if token == \"\" && o.ByToken {", New: "if false {", Pkgs: []string{"./shim", "./internal/cli"}, Run: "Nested|TestScripts/run_nested"},
	{Name: "second-signal-not-sigkill", File: "shim/exec.go",
		Old: "if sig == got && sig != syscall.SIGHUP {", New: "if false {", Pkgs: []string{"./shim", "./internal/cli"}, Run: "Signal"},
	{Name: "interrupted-zero-is-success", File: "shim/exec.go",
		Old: "if code := ps.ExitCode(); code != 0 || sig == nil {", New: "if code := ps.ExitCode(); true {", Pkgs: []string{"./shim", "./internal/cli"}, Run: "Signal|Terminal"},
	{Name: "kamal-lock-dropped-when-not-ours", File: "shim/identity.go",
		Old: `out = append(out, "KAMAL_LOCK="+v)`, New: `_ = v`, Pkgs: []string{"./shim", "./internal/cli"}, Run: "Identity|Env|Defer|TestScripts"},
	{Name: "lock-message-multiline", File: "shim/identity.go",
		Old: `EnvLockMessage+"="+envValue(d.Message))`, New: `EnvLockMessage+"="+d.Message)`, Pkgs: []string{"./shim", "./internal/cli"}, Run: "Identity|Env|Hostile|TestScripts"},
	{Name: "refusal-without-message", File: "shim/describe.go",
		Old: `fmt.Fprintf(&b, ", version %s, message \"%s\"", orDash(d.Version), d.Message)`, New: `fmt.Fprintf(&b, ", version %s", orDash(d.Version))`,
		Pkgs: []string{"./shim", "./internal/cli"}, Run: "Refus|TestFaultConcurrentHoldsRefuse"},

	// jobs
	{Name: "claim-rerun-picked-up", File: "jobs/store.go",
		Old: "if j.State != Starting {\n\t\t_ = fl.Unlock()", New: "if false {\n\t\t_ = fl.Unlock()", Pkgs: jobsTests},
	{Name: "starting-never-orphaned", File: "jobs/store.go",
		Old: "case j.State == Starting && now.Sub(j.Created) < StartTimeout:", New: "case j.State == Starting:", Pkgs: jobsTests},
	{Name: "abandon-picked-up-job", File: "jobs/store.go",
		Old: "if j.State != Starting {\n\t\treturn false, nil", New: "if false {\n\t\treturn false, nil", Pkgs: jobsTests},
	{Name: "record-not-synced", File: "jobs/store.go",
		Old: "err = tmp.Sync()", New: "err = nil",
		Pkgs: jobsTests, Equivalent: "fsync matters only across a power loss, which no test can cause"},
	{Name: "record-chmod-skipped", File: "jobs/store.go",
		Old: "err = os.Chmod(name, 0o600)", New: "err = nil",
		Pkgs: jobsTests, Equivalent: "os.CreateTemp already creates the file 0600, whatever the umask"},
	{Name: "running-not-pending", File: "jobs/job.go",
		Old: "return s == Starting || s == Waiting || s == Running", New: "return s == Starting || s == Waiting", Pkgs: jobsTests},
	{Name: "watch-ignores-events", File: "jobs/watch.go",
		Old: "if ev.Name != path && ev.Name != parent {", New: "if ev.Name != path || ev.Name == path {", Pkgs: jobsTests},
	{Name: "watch-no-look-after-arm", File: "jobs/watch.go",
		Old: "if gone, err := Gone(path); gone || err != nil {\n\t\treturn err\n\t}\n\tif armed != nil {", New: "if armed != nil {", Pkgs: jobsTests},
	{Name: "follow-dead-waiter-pending", File: "jobs/follow.go",
		Old: "if j.Recorded.Pending() {\n\t\tj.State = Orphaned", New: "if false {\n\t\tj.State = Orphaned", Pkgs: jobsTests},
	{Name: "waiter-inherits-descriptors", File: "jobs/spawn.go",
		Old: "syscall.CloseOnExec(fd)", New: "_ = fd", Pkgs: jobsTests},
}
