package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/jobs"
	"github.com/hookshim/hookshim/shim"
)

// waiterName is the hidden command `hookshim run` starts, detached, for a
// deferred hook.
const waiterName = "waiter"

// waiterCommand is `hookshim waiter --job ID --state-dir DIR [--ready-fd N]`:
// the detached process that runs one deferred job exactly once (see
// jobs.RunDeferred). Its command line only names the job: what `hookshim run`
// resolved from its own command line and environment is in the job's record
// (storedRun), and the hook's environment is the waiter's own.
func waiterCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:   waiterName,
		Hidden: true,
		Usage:  "run a deferred hook once its lock is released (started by hookshim run; not for direct use)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "job", Required: true, Usage: "the job `ID` to run"},
			&cli.IntFlag{Name: "ready-fd", Usage: "say on descriptor `N` that the job is picked up, then close it"},
			stateDirFlag(),
		},
		Action: func(c *cli.Context) error {
			o := waiterOptions{id: c.String("job"), readyFD: c.Int("ready-fd"), stateDir: c.String("state-dir")}
			if c.Args().Present() {
				jobs.CloseReadyFD(o.readyFD)
				return exitcode.Newf(exitcode.Usage, "hookshim waiter: unexpected argument %q", c.Args().First()).
					WithHint("the job's record says what to run: hookshim waiter --job ID")
			}
			return runWaiter(p, o)
		},
	}
}

// waiterOptions name the job a waiter runs.
type waiterOptions struct {
	id       string
	readyFD  int    // jobs.ReadyFD when started by `hookshim run`
	stateDir string // --state-dir; "" for the default
}

// runWaiter builds the job's Runner from the options `hookshim run` stored
// with it, as `hookshim run` builds its own, and hands it to
// jobs.RunDeferred.
func runWaiter(p Process, o waiterOptions) error {
	dir, err := stateDir(p, o.stateDir)
	if err != nil {
		jobs.CloseReadyFD(o.readyFD)
		return err
	}
	var run runOptions
	stop := func() {}
	defer func() { stop() }()
	_, kamalLockSet := p.LookupEnv("KAMAL_LOCK")
	return jobs.RunDeferred(context.Background(), jobs.Deferred{
		StateDir: dir,
		ID:       o.id,
		ReadyFD:  o.readyFD,
		Runner: func(j jobs.Job) (*shim.Runner, error) {
			var err error
			if run, err = loadRun(j); err != nil {
				return nil, err
			}
			r, s, err := newRunner(p, run)
			if err != nil {
				return nil, err
			}
			stop = s
			r.Watch = lockWatch(r)
			return r, nil
		},
		KamalLockSet: kamalLockSet,
		ByHand:       func(repoDir string) string { return byHand(run, repoDir) },
		Report:       func(err error) int { return exitcode.Report(stderrLines(p, run.Log.Format), err) },
	})
}

// storedRun is the form runOptions take in a job record (jobs.Job.Settings),
// versioned on its own: a setting an older waiter may ignore keeps
// storedRunVersion (encoding/json skips fields it does not know); one it
// must not ignore takes a new version, which an older waiter refuses.
type storedRun struct {
	Version int        `json:"version"`
	Run     runOptions `json:"run"`
}

// storedRunVersion is the version of storedRun this hookshim writes and reads.
const storedRunVersion = 1

// storeRun is o as a job record keeps it.
func storeRun(o runOptions) (json.RawMessage, error) {
	b, err := json.Marshal(storedRun{Version: storedRunVersion, Run: o})
	if err != nil {
		return nil, fmt.Errorf("recording the settings of the deferred hook: %w", err)
	}
	return b, nil
}

// loadRun is the runOptions stored in j, or why the waiter cannot use them.
func loadRun(j jobs.Job) (runOptions, error) {
	var s storedRun
	if len(j.Settings) == 0 {
		return s.Run, exitcode.Newf(exitcode.DataErr, "job %s: its record holds no settings of hookshim run; the hook was not run", j.ID).
			WithHint("was it recorded by another hookshim? run the hook by hand")
	}
	if err := json.Unmarshal(j.Settings, &s); err != nil {
		return s.Run, exitcode.New(exitcode.DataErr, fmt.Errorf("job %s: its settings cannot be read: %w; the hook was not run", j.ID, err))
	}
	if s.Version != storedRunVersion {
		return s.Run, exitcode.Newf(exitcode.DataErr, "job %s: its settings are version %d, this hookshim reads %d; the hook was not run", j.ID, s.Version, storedRunVersion).
			WithHint("run the hook by hand, or with the hookshim that deferred it")
	}
	return s.Run, nil
}
