package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/settings"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/lockfile"
	"github.com/hookshim/hookshim/shim"
)

func unlockCommand(p Process) *cli.Command {
	where := settingsFlags(false, "service", "destination", "host", "ssh-user", "ssh-port", "ssh-proxy")
	return &cli.Command{
		Name:      "unlock",
		Usage:     "remove a stale deploy lock safely, in any Kamal layout, and record it in Kamal's audit log",
		ArgsUsage: "[LOCK]",
		Description: `Without LOCK, the lock of this repository's service and destination, in every
Kamal layout (leftovers of another Kamal generation included); LOCK names one
lock directory as 'hookshim locks' prints it (e.g. .kamal/locks/app).

  hookshim hold taken on this machine, whose hookshim and hook have both ended
                          removed without asking
  ... whose hookshim or hook still runs
                          refused (75), naming the process
  automatic lock (or a hold from another machine, or no details)
                          younger than --older-than: refused (75);
                          older: removed after a confirmation on a terminal, or with --yes
  manual lock (kamal lock acquire -m), or unreadable
                          only with --force, after a confirmation or with --yes

Only the lock that was looked at is removed: one that changed in between is
left alone (75). Every removal appends a line to Kamal's audit log on the lock
host (.kamal/SERVICE[-DESTINATION]-audit.log, shown by 'kamal audit').

Exit status: 0 removed, or no lock; 75 not removed; 69 host unreachable;
64 bad flags; 66 --root is not a directory or the --ssh-config file does not
exist; 74 removed but the audit line could not be written.`,
		Flags: withCommon(append(where,
			&cli.DurationFlag{Name: "older-than", Value: locksDefaultStaleAfter, Usage: "remove an automatic lock only when it is older than `AGE` (default: hookshim locks' stale threshold)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for a confirmation (needed without a terminal)"},
			&cli.BoolFlag{Name: "force", Usage: "remove a manual (kamal lock acquire -m) or unreadable lock too"},
			&cli.StringFlag{Name: "now", Usage: "compute ages as of `TIME` (RFC 3339) instead of now"},
		)...),
		Action: func(c *cli.Context) error {
			o, err := readUnlockOptions(c, p)
			if err != nil {
				return err
			}
			return runUnlock(p, o)
		},
	}
}

// unlockOptions are the checked flags, arguments and environment of one
// `hookshim unlock`.
type unlockOptions struct {
	log            logOptions
	root           string // --root or HOOKSHIM_ROOT
	rootFrom       string // which of the two root is
	where          whereOptions
	ssh            sshOptions
	lock           string // LOCK, or "" for the service's lock in every layout
	olderThan      time.Duration
	yes, force     bool
	olderThanGiven bool // --older-than was given
	now            time.Time
	hostname       string // this machine, as holds name it
	performer      string // Kamal's audit performer: git user.email, else the login name
	service        string // for the audit log's name
	destination    string
	// given are the flags given, as --name=value words, but --yes, --force
	// and --older-than (and the log flags): what selected the lock, for
	// hints that must act on the same lock when pasted (unlockAgain).
	given []string
}

func readUnlockOptions(c *cli.Context, p Process) (unlockOptions, error) {
	o := unlockOptions{olderThan: c.Duration("older-than"), yes: c.Bool("yes"), force: c.Bool("force"), now: time.Now().UTC()}
	o.log = readLogOptions(c, p)
	if _, err := newLogger(p, o.log); err != nil {
		return o, err
	}
	o.olderThanGiven = isSet(c, "older-than")
	o.given = setFlagArgs(c, "yes", "force", "older-than", "log-format", "log-level")
	root := flagOrEnv(c, p, "root", "HOOKSHIM_ROOT")
	o.root, o.rootFrom, o.where, o.ssh = root.Value, root.from("root"), readWhere(c), readSSHOptions(c, p)
	switch c.Args().Len() {
	case 0:
	case 1:
		o.lock = c.Args().First()
		if err := lockfile.CheckLockPath(o.lock); err != nil {
			return o, exitcode.New(exitcode.Usage, err, "name a lock directory as 'hookshim locks' prints it, e.g. .kamal/lock-app")
		}
	default:
		return o, exitcode.Newf(exitcode.Usage, "hookshim unlock: one lock at a time, got %d", c.Args().Len()).
			WithHint("name one lock directory, or none for this repository's lock")
	}
	if isSet(c, "now") {
		t, err := time.Parse(time.RFC3339, c.String("now"))
		if err != nil {
			return o, exitcode.Newf(exitcode.Usage, "--now %q is not an RFC 3339 time", c.String("now")).
				WithHint("write it as 2026-11-27T07:00:00Z")
		}
		o.now = t.UTC()
	}
	if isSet(c, "root") && isSet(c, "host") {
		return o, exitcode.Newf(exitcode.Usage, "--root and --host cannot be used together").
			WithHint("--root DIR is a lock tree on this machine, --host HOST the lock host over SSH")
	}
	o.hostname, _ = os.Hostname()
	o.performer = auditPerformer(p)
	return o, nil
}

func runUnlock(p Process, o unlockOptions) error {
	log, err := newLogger(p, o.log)
	if err != nil {
		return err
	}
	store, paths, err := unlockPlace(p, log, &o)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var held []lockfile.Seen
	for _, path := range paths {
		seen, err := store.Look(ctx, path)
		if err != nil {
			return unlockStoreError(store, path, "read", err)
		}
		if seen.State.IsHeld() {
			held = append(held, seen)
		}
	}
	if len(held) == 0 {
		_, err := fmt.Fprintln(p.Stdout, "There is no deploy lock")
		return err
	}
	for i, seen := range held {
		if err := unlockOne(ctx, log, p, store, seen, o); err != nil {
			if rest := held[i+1:]; len(rest) > 0 {
				return exitcode.New(exitcode.Code(err), err).WithHint("%s: not looked at; name one to unlock it alone", seenPaths(rest))
			}
			return err
		}
	}
	return nil
}

func seenPaths(ls []lockfile.Seen) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Path
	}
	return strings.Join(names, ", ")
}

// unlockPlace finds the store and the lock paths to look at: LOCK, or the
// service's lock in every layout. With a destination only the layouts that
// keep one lock per destination count: the others' one lock is every
// destination's (and Kamal 1.0-1.4's is where Kamal 2 keeps production's).
func unlockPlace(p Process, log zerolog.Logger, o *unlockOptions) (lockfile.Unlocker, []string, error) {
	root := o.root
	s, err := resolveSettings(p, o.where, settings.Need{Service: o.lock == "", PrimaryHost: root == ""})
	if err != nil {
		return nil, nil, err
	}
	spec := lockfile.Spec{Service: s.Service, Destination: s.Destination, RunDir: s.RunDir}
	if o.lock == "" || s.Service != "" {
		if err := spec.Validate(); err != nil {
			return nil, nil, exitcode.New(exitcode.Usage, err)
		}
	}
	o.service, o.destination = s.Service, s.Destination
	store, _, err := lockStore(p, log, root, o.rootFrom, o.ssh, s)
	if err != nil {
		return nil, nil, err
	}
	u, ok := store.(lockfile.Unlocker)
	if !ok {
		return nil, nil, exitcode.Newf(exitcode.Software, "the lock store %s cannot unlock", store.Where())
	}
	if o.lock != "" {
		return u, []string{o.lock}, nil
	}
	layouts := lockfile.Layouts
	if spec.Destination != "" {
		layouts = shim.LiveLayouts(shim.VersionRange{}, spec.Destination)
	}
	return u, spec.PathsFor(layouts), nil
}

// unlockStoreError turns a failed look or removal into its exit status: 69
// when the host could not be reached (with the ssh command to try, as every
// command gives), else 74.
func unlockStoreError(s lockfile.Store, path, what string, err error) error {
	var ue *sshx.UnreachableError
	if errors.As(err, &ue) {
		e := exitcode.New(exitcode.Unavailable, fmt.Errorf("cannot %s lock %s: %w", what, path, err)).
			WithHint("check that `%s` works (hookshim runs it with BatchMode=yes: no prompts)", ue.CheckCommand())
		return withUnresolvedHint(e)
	}
	return exitcode.New(exitcode.IOErr, fmt.Errorf("cannot %s lock %s on %s: %w", what, path, s.Where(), err))
}

// auditPerformer is Kamal's audit performer: `git config user.email`, else
// the login name (Kamal 2.12 lib/kamal/tags.rb: git email, else whoami).
func auditPerformer(p Process) string {
	cmd := exec.Command("git", "config", "user.email")
	cmd.Dir, cmd.Env = workDir(p), p.Env
	out, _ := cmd.Output()
	if email := strings.TrimSpace(string(out)); email != "" {
		return email
	}
	return loginName(p)
}

// isTerminal reports whether r is a terminal a person can answer on.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// confirm asks question on stderr and reads the answer from the terminal:
// only y or yes (any case) agrees. The question, which names the lock's
// holder, is escaped as every line hookshim prints (escapedLines).
func confirm(p Process, question string) bool {
	fmt.Fprintf(escapedLines{p.Stderr}, "hookshim: %s [y/N] ", question)
	line, _ := bufio.NewReader(p.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
