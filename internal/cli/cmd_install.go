package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/hookshim/hookshim/install"
	"github.com/hookshim/hookshim/internal/exitcode"
	"github.com/hookshim/hookshim/internal/settings"
	"github.com/hookshim/hookshim/internal/sshx"
	"github.com/hookshim/hookshim/shim"
)

// installCommand is `hookshim install`, in three modes:
//
//	hookshim install [--bin-dir DIR] [--binary FILE]
//	    the binary on this machine (default /usr/local/bin/hookshim)
//	hookshim install --hooks DIR [--hook NAME]... [--all] [--policy P] [--uninstall]
//	    the hook stubs in a Kamal repository (with --bin-dir, the binary too)
//	hookshim install --ssh TARGET [TARGET...] | --from-deploy  [--bin-dir DIR] [--binary FILE] [--sudo]
//	    the binary on hosts, one result line per host
//
// Exit statuses (the codes are those of internal/exitcode; install/errors.go
// lists them too):
//
//	 0  done, or nothing to do (already installed / no stub to remove)
//	64  bad flags or flag combinations, hook names, --policy, SSH targets: nothing is done
//	65  a binary does not fit (this machine's or the host's OS/architecture, not an ELF executable)
//	66  the hooks directory, a --binary file or the --ssh-config file is missing
//	69  a host cannot be reached, the connection dropped or timed out, or it lacks sha256sum/sudo
//	73  a file cannot be created: --bin-dir missing or read-only, a symlink or directory in the
//	    way of a hook or the binary, HOOK.d/HOOK already holding another file
//	74  a write, a transfer or the checksum on the host failed (the old binary stays)
//	77  permission denied (locally, on the host without --sudo, or sudo wants a password)
//
// With several hosts, every host gets its line on stdout and the exit status
// is the most severe code among the failed ones, in the order 70 > 74 > 77 >
// 73 > 65 > 66 > 64 > 69 (install.Severity): a failure that needs a person to
// fix something outranks an unreachable host, which may work on a retry.
func installCommand(p Process) *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "put the hookshim binary and the hook stubs in place, locally or over SSH",
		ArgsUsage: "[TARGET...]",
		Description: `Without --hooks or --ssh, copies this hookshim binary (or --binary FILE) to
--bin-dir atomically; nothing is written when the same binary is there already.

With --hooks DIR (e.g. .kamal/hooks), writes for each --hook (default post-deploy;
--all for every Kamal hook) a small sh stub that runs 'hookshim run HOOK'. A hook
you already have is moved to DIR/HOOK.d/HOOK first, byte for byte with its mode;
hookshim runs it from there. Running it again changes nothing; --uninstall puts
your hook back and removes the stub.

With --ssh TARGET (user@host[:port], repeatable, or several targets after it) or
--from-deploy (the hosts of config/deploy.yml), pushes the binary to --bin-dir on
each host: it checks 'uname -s -m' against the binary, streams it over the SSH
session, verifies its SHA-256 on the host and only then renames it into place.
One line per host. For a fleet of mixed architectures, pass one cross-built
binary per platform (see the README); each host gets the one built for it:
  hookshim install --from-deploy --sudo \
    --binary dist/hookshim-linux-amd64 --binary dist/hookshim-linux-arm64
Flags may come before or after the targets: hookshim install --ssh web1 web2 --sudo`,
		Flags: withLog([]cli.Flag{
			&cli.StringFlag{Name: "bin-dir", Value: install.DefaultBinDir, Usage: "install the binary into `DIR` (on this machine, or on the hosts with --ssh)"},
			&cli.StringSliceFlag{Name: "binary", Usage: "install `FILE` instead of the running hookshim (a cross-built release binary); repeatable: each host gets the one built for it"},
			&cli.StringFlag{Name: "hooks", Usage: "write hook stubs into the Kamal hooks `DIR` (e.g. .kamal/hooks)"},
			&cli.StringSliceFlag{Name: "hook", Usage: "the hook `NAME` to write a stub for; repeatable (default post-deploy)"},
			&cli.BoolFlag{Name: "all", Usage: "write stubs for every Kamal 2 hook: " + strings.Join(install.KamalHooks, ", ")},
			&cli.StringFlag{Name: "policy", Usage: "write --policy `P` (auto, hold, defer, strict) into the stubs (default: none, so HOOKSHIM_POLICY or auto applies)"},
			&cli.BoolFlag{Name: "uninstall", Usage: "with --hooks: remove the stubs and put your own hooks back"},
			&cli.StringSliceFlag{Name: "ssh", Usage: "push the binary to `TARGET` (user@host[:port]); repeatable"},
			&cli.BoolFlag{Name: "from-deploy", Usage: "push the binary to the hosts of config/deploy.yml"},
			destinationFlag("with --from-deploy: Kamal `DESTINATION` (reads config/deploy.DESTINATION.yml too)"),
			sshUserFlag("with --from-deploy: SSH `USER` (default: ssh: user: in config/deploy.yml, else root)"),
			sshPortFlag("with --from-deploy: SSH `PORT` (default: ssh: port: in config/deploy.yml)"),
			&cli.BoolFlag{Name: "sudo", Usage: "on the hosts, write with 'sudo -n' (passwordless sudo)"},
			&cli.IntFlag{Name: "parallel", Value: install.DefaultParallel, Usage: "work on at most `N` hosts at once"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "give up on a host after `D`"},
		}, sshFlags()...),
		Action: func(c *cli.Context) error {
			o, err := readInstallOptions(c, p)
			if err != nil {
				return err
			}
			return runInstall(p, o)
		},
	}
}

// installOptions are `hookshim install`'s command line and environment.
type installOptions struct {
	log         logOptions
	binDir      string
	binDirGiven bool
	binaries    []string // --binary; none for the running hookshim
	hooks       string   // --hooks DIR as typed
	hooksGiven  bool
	hookNames   []string
	all         bool
	policy      string
	uninstall   bool
	remote      bool     // --ssh or --from-deploy
	fromDeploy  bool     // the hosts of deploy.yml, found by where
	targets     []string // --ssh and the arguments
	where       whereOptions
	ssh         sshOptions
	sudo        bool
	parallel    int
	timeout     time.Duration
}

// readInstallOptions reads `hookshim install`'s command line and refuses
// flags that do not go together (see installCommand for the three modes).
func readInstallOptions(c *cli.Context, p Process) (installOptions, error) {
	o := installOptions{
		log: readLogOptions(c, p), binDir: c.String("bin-dir"), binDirGiven: isSet(c, "bin-dir"), binaries: c.StringSlice("binary"),
		hooks: c.String("hooks"), hookNames: c.StringSlice("hook"), all: c.Bool("all"), policy: c.String("policy"), uninstall: c.Bool("uninstall"),
		remote: isSet(c, "ssh") || c.Bool("from-deploy"), fromDeploy: c.Bool("from-deploy"), targets: append(c.StringSlice("ssh"), c.Args().Slice()...),
		where: readWhere(c), ssh: readSSHOptions(c, p), sudo: c.Bool("sudo"), parallel: c.Int("parallel"), timeout: c.Duration("timeout"),
	}
	if _, err := newLogger(p, o.log); err != nil {
		return o, err
	}
	hooks := isSet(c, "hooks")
	o.hooksGiven = hooks
	usage := func(format string, args ...any) error {
		return exitcode.Newf(exitcode.Usage, "hookshim install: "+format, args...).
			WithHint("run 'hookshim install --help' for the three ways to use it")
	}
	switch {
	case o.remote && hooks:
		return o, usage("--hooks writes stubs on this machine and --ssh installs on hosts: run them one after the other")
	case isSet(c, "ssh") && o.fromDeploy:
		return o, usage("pass either --ssh TARGET or --from-deploy, not both")
	case o.uninstall && !hooks:
		return o, usage("--uninstall undoes --hooks: pass --hooks DIR")
	case !hooks && (isSet(c, "hook") || o.all || isSet(c, "policy")):
		return o, usage("--hook, --all and --policy go with --hooks DIR")
	case !o.remote && (o.sudo || isSet(c, "parallel") || isSet(c, "timeout")):
		return o, usage("--sudo, --parallel and --timeout go with --ssh or --from-deploy")
	case !o.fromDeploy && (isSet(c, "destination") || isSet(c, "ssh-user") || isSet(c, "ssh-port")):
		return o, usage("--destination, --ssh-user and --ssh-port go with --from-deploy")
	case c.Args().Len() > 0 && !isSet(c, "ssh"):
		return o, usage("unexpected argument %q", c.Args().First())
	}
	return o, nil
}

func runInstall(p Process, o installOptions) error {
	switch {
	case o.remote:
		return installRemote(p, o)
	case o.hooksGiven:
		if o.binDirGiven {
			if err := installBinary(p, o); err != nil {
				return err
			}
		}
		return installHooks(p, o)
	default:
		return installBinary(p, o)
	}
}

// pathArg makes a relative path given on the command line relative to the
// process's working directory.
func pathArg(p Process, path string) string {
	if path == "" || filepath.IsAbs(path) || p.Dir == "" {
		return path
	}
	return filepath.Join(p.Dir, path)
}

// binaries are the binaries to install: each --binary FILE with the platform
// its ELF header names (at most one per platform), or the running hookshim.
func binaries(p Process, files []string) ([]install.BinaryFile, error) {
	if len(files) == 0 {
		exe, err := executable()
		if err != nil {
			return nil, exitcode.Newf(exitcode.Software, "cannot find the running hookshim binary: %v", err).
				WithHint("pass the binary to install with --binary FILE")
		}
		return []install.BinaryFile{{Path: exe, Platform: install.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}}}, nil
	}
	var out []install.BinaryFile
	for _, f := range files {
		f = pathArg(p, f)
		plat, err := install.BinaryPlatform(f)
		if err != nil {
			return nil, err
		}
		for _, b := range out {
			if b.Platform == plat {
				return nil, exitcode.Newf(exitcode.Usage, "--binary %s and --binary %s are both built for %s; give one binary per platform", b.Path, f, plat)
			}
		}
		out = append(out, install.BinaryFile{Path: f, Platform: plat})
	}
	return out, nil
}

// warnDynamic logs a warning for each binary given with --binary that is
// dynamically linked: a host without the same C library cannot run it.
func warnDynamic(p Process, o installOptions, bins []install.BinaryFile) {
	if len(o.binaries) == 0 {
		return
	}
	log, err := newLogger(p, o.log)
	if err != nil {
		return
	}
	for _, b := range bins {
		if static, err := install.Static(b.Path); err == nil && !static {
			log.Warn().Msgf("%s is dynamically linked (built with cgo): hosts without the same C library cannot run it; release builds use CGO_ENABLED=0", b.Path)
		}
	}
}

func installBinary(p Process, o installOptions) error {
	bins, err := binaries(p, o.binaries)
	if err != nil {
		return err
	}
	here := install.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	src := ""
	var have []string
	for _, b := range bins {
		if b.Platform == here {
			src = b.Path
		}
		have = append(have, b.Path+" is built for "+b.Platform.String())
	}
	if src == "" {
		return exitcode.Newf(exitcode.DataErr, "%s, but this machine is %s; nothing was changed", strings.Join(have, ", "), here).
			WithHint("to provision hosts of another kind, use --ssh TARGET with --binary")
	}
	warnDynamic(p, o, bins)
	res, err := install.Binary(src, pathArg(p, o.binDir))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(p.Stdout, res)
	return err
}

func installHooks(p Process, o installOptions) error {
	h := install.Hooks{
		Dir:    pathArg(p, o.hooks),
		Names:  o.hookNames,
		Policy: o.policy,
	}
	if o.all {
		h.Names = append(append([]string(nil), install.KamalHooks...), h.Names...)
	}
	log, err := newLogger(p, o.log)
	if err != nil {
		return err
	}
	do := install.InstallHooks
	if o.uninstall {
		do = install.UninstallHooks
	} else {
		warnUnknownHooks(log, h.Names)
	}
	results, err := do(h)
	for _, r := range results {
		if _, werr := fmt.Fprintln(p.Stdout, r); werr != nil && err == nil {
			err = werr
		}
	}
	if err == nil && !o.uninstall {
		warnStrayHookFiles(log, o.hooks, h.Dir)
	}
	return err
}

// warnUnknownHooks warns about a --hook name Kamal never runs (a typo such as
// post-deplyo): the stub is still written, since hook names are not ours to
// police, but it would never run.
func warnUnknownHooks(log zerolog.Logger, names []string) {
	for _, n := range names {
		if !slices.Contains(shim.KamalHooks, n) {
			log.Warn().Msgf("%s: Kamal never runs a hook of that name; its hooks are %s", n, strings.Join(shim.KamalHooks, ", "))
		}
	}
}

// warnStrayHookFiles points out files in the hooks directory that Kamal will
// never run: Kamal 2.12 (lib/kamal/commands/hook.rb) runs HOOKS_PATH/NAME,
// the exact name with no extension and no arguments, so post-deploy.sh and
// git's *.sample files are dead. shown is the directory as the user typed it.
func warnStrayHookFiles(log zerolog.Logger, shown, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // install already said what is wrong with the directory
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || slices.Contains(shim.KamalHooks, name) {
			continue
		}
		why := "Kamal runs a hook only by its exact name"
		base, _, _ := strings.Cut(name, ".")
		if slices.Contains(shim.KamalHooks, base) {
			why = fmt.Sprintf("Kamal runs %s, the exact name with no extension", filepath.Join(shown, base))
		}
		log.Warn().Msgf("%s: Kamal never runs this file (%s); its hooks are %s", filepath.Join(shown, name), why, strings.Join(shim.KamalHooks, ", "))
	}
}

func installRemote(p Process, o installOptions) error {
	if o.parallel < 1 {
		return exitcode.Newf(exitcode.Usage, "--parallel %d: give at least 1", o.parallel)
	}
	if o.timeout < 0 {
		return exitcode.Newf(exitcode.Usage, "--timeout %s: give a positive duration", o.timeout)
	}
	if o.binDir == "" || strings.ContainsAny(o.binDir, "\x00\n\r") {
		return exitcode.Newf(exitcode.Usage, "--bin-dir %q is not a directory name", o.binDir)
	}
	targets, resolved, err := installTargets(p, o)
	if err != nil {
		return err
	}
	bins, err := binaries(p, o.binaries)
	if err != nil {
		return err
	}
	warnDynamic(p, o, bins)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if p.Signals != nil {
		// Ctrl-C ends every transfer; each host then cleans up its temporary file.
		ch, stop := p.Signals()
		defer stop()
		go func() {
			select {
			case <-ch:
				cancel()
			case <-ctx.Done():
			}
		}()
	}

	log, err := newLogger(p, o.log)
	if err != nil {
		return err
	}
	client, err := sshClient(p, log, o.ssh, resolved)
	if err != nil {
		return err
	}
	r := install.Remote{Client: client, Binaries: bins, Dir: o.binDir, Sudo: o.sudo, Parallel: o.parallel, Timeout: o.timeout}
	prog := newHostProgress(p, targets, o.log.Format == "json")
	prog.start()
	results := r.Push(ctx, targets, prog.done)
	return remoteSummary(results, prog.werr)
}

// installTargets are the hosts to install on: those of deploy.yml (with its
// settings) for --from-deploy, else each --ssh TARGET, each once.
func installTargets(p Process, o installOptions) ([]sshx.Target, *settings.Settings, error) {
	var targets []sshx.Target
	var resolved *settings.Settings
	if o.fromDeploy {
		s, err := resolveSettings(p, o.where, settings.Need{Hosts: true})
		if err != nil {
			return nil, nil, err
		}
		for _, h := range s.Hosts {
			t, err := hostTarget(h, s)
			if err != nil {
				return nil, nil, err
			}
			targets = append(targets, t)
		}
		resolved = s
	} else {
		for _, arg := range o.targets {
			t, err := sshx.ParseTarget(arg)
			if err != nil {
				return nil, nil, exitcode.New(exitcode.Usage, fmt.Errorf("%w; nothing was installed", err))
			}
			targets = append(targets, t)
		}
	}
	targets = uniqueTargets(targets)
	if len(targets) == 0 {
		return nil, nil, exitcode.Newf(exitcode.Usage, "no hosts to install on").
			WithHint("pass --ssh user@host, or --from-deploy in a Kamal repository")
	}
	return targets, resolved, nil
}

// remoteSummary is the command's error after the per-host lines: nil when every
// host succeeded, else the most severe code among the failed hosts, with their
// hints once each.
func remoteSummary(results []install.HostResult, werr error) error {
	var codes []int
	var hints []string
	seen := map[string]bool{}
	failed := 0
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		failed++
		codes = append(codes, r.Code())
		if e, ok := r.Err.(*exitcode.Error); ok {
			for _, h := range e.Hints {
				if !seen[h] {
					seen[h] = true
					hints = append(hints, h)
				}
			}
		}
	}
	if failed == 0 {
		return werr
	}
	noun := "hosts"
	if len(results) == 1 {
		noun = "host"
	}
	e := exitcode.Newf(install.MostSevere(codes...), "install failed on %d of %d %s (see the lines above)", failed, len(results), noun)
	e.Hints = hints
	return e
}

// uniqueTargets drops repeated targets, keeping the first of each.
func uniqueTargets(ts []sshx.Target) []sshx.Target {
	seen := map[sshx.Target]bool{}
	var out []sshx.Target
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
