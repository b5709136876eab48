// Package kamalemu emulates the Kamal CLI's deploy lock and hook calls, byte for
// byte, for hookshim's tests.
//
// Kamal (Ruby) cannot be installed where hookshim is tested, so Main stands in for
// the `kamal` executable: it reads config/deploy.yml (+ config/deploy.<dest>.yml
// with -d DEST) in the working directory, runs the hooks in .kamal/hooks (or
// hooks_path:) locally, and runs on the hosts exactly the lock commands the real
// Kamal runs, as recorded in lockfile/testdata/kamal (Kamal 1.9.0, 2.5.3, 2.6.0,
// 2.12.0). It does no Docker work: the build, pull, proxy, app and accessory
// commands that Kamal also sends to the hosts are left out, so a host sees only
// the lock protocol (and the run directory being made).
//
// # Commands
//
//	kamal lock acquire -m MSG | lock release | lock status       [-d DEST]
//	kamal setup | deploy | redeploy | rollback VERSION           [-d DEST] [-P] [-H]
//	kamal accessory boot|reboot|start|stop|restart|remove NAME|all
//	kamal accessory exec NAME CMD...
//	kamal version
//
// Also accepted: --version VER (the version to deploy), -r/--roles and
// -h/--hosts (comma-separated, * wildcards: narrow KAMAL_HOSTS and, as in Kamal,
// move the primary host to the first one named), -p/--primary, -H/--skip-hooks,
// -P/--skip-push, -v, -q, -y, and on 2.12+ --lock-wait, --lock-wait-timeout SECS
// (default 900) and --lock-wait-interval SECS (default 15; fractions and Go
// durations such as 20ms are taken too, so tests can poll fast).
//
// The order of hooks and lock is Kamal's, recorded with the real Kamal 2.5.3,
// 2.6.0 and 2.12.0 (testdata/real, README.md there; --skip-push paths):
//
//	setup:    pre-connect, lock, docker-setup, [pre-build], pre-deploy, [hold],
//	          pre-app-boot, post-app-boot, post-deploy, release
//	deploy:   pre-connect, [pre-build], lock, pre-deploy, [hold], pre-app-boot,
//	          post-app-boot, release, post-deploy
//	redeploy: as deploy
//	rollback: pre-connect, lock, pre-deploy, [hold], pre-app-boot,
//	          post-app-boot, release, post-deploy
//
// pre-build (without -P) is placed from Kamal's source, not recorded. Before
// 1.5 (Kamal's "mutating" block) the lock is taken before pre-build under
// deploy and redeploy too (source). docker-setup runs since 1.4 (source;
// recorded on 2.5.3+), the app-boot hooks since 2.4 (source; recorded on
// 2.5.3+): once per boot group (boot: limit:, a count or "N%", read from the
// deploy files as plain YAML), KAMAL_HOSTS that group's hosts. pre-connect runs
// once, before the first command sent to a host; a Kamal that never reaches a
// host (a nested `kamal accessory boot all` under KAMAL_LOCK=true on 2.6+)
// runs no pre-connect. A hook that fails aborts the command with
// "  ERROR (Kamal::Cli::HookError): Hook `NAME` failed:", SSHKit's message
// (whose exit status is the raw wait status: 768 for exit 3) and an empty
// line, exit status 1, after releasing the lock the command took (recorded
// for pre-connect, docker-setup, pre-deploy, post-app-boot, post-deploy).
// Under rollback the lock's Version: is the version being deployed (git HEAD,
// taken before the rollback version is set), and so is pre-connect's
// KAMAL_VERSION, while the later hooks get the rollback version (recorded).
//
// The accessory commands that change an accessory run inside with_lock (take
// the lock unless this Kamal holds it: on 2.6+ a Kamal started with
// KAMAL_LOCK=true holds it). No accessory is booted: `all` is no accessory at
// all (as for a deploy.yml without any), and any NAME is accepted. `accessory
// exec` takes no lock (recorded on 2.5.3, 2.6.0, 2.12.0: it runs while a
// manual lock is held; kamal-locks.md said otherwise).
//
// --lock-wait (2.12+) is Kamal 2.12's acquire_lock_with_wait, with its
// messages (recorded: testdata/real/v2.12.0/deploy-lock-wait-*.out): retry the
// mkdir every --lock-wait-interval; after the first failure print "Deploy
// lock is held by:" and the status once, and refuse at once ("Deploy lock held
// manually, not waiting") unless the status contains "Automatic deploy lock"
// (a lock without details has an empty status: refused); "Retrying in Ns (Rs
// remaining)..." with R truncated to whole seconds; "Timed out after Ns waiting
// for the deploy lock". The numbers are printed as given ("0.5", "1.0").
//
// Errors are printed as bin/kamal prints them, on standard output, without the
// colour codes (the fixtures have none): "  ERROR (CLASS): MESSAGE", exit status
// 1. Option errors go to standard error with exit status 1.
//
// # Hooks
//
// A hook runs only if the file exists; it is started as `/usr/bin/env HOOK`
// (HOOK is hooks_path/NAME, relative to the working directory, as Kamal's
// SSHKit command is) with the working directory the repository, standard input a
// pipe that stays open while it runs, and standard output and error pipes: the
// emulator copies both to its own output, reads them to end-of-file, and only
// then waits for the hook's exit status and goes on. A hook that leaves a process
// holding those pipes therefore makes the emulator hang exactly as it makes Kamal
// hang; there is no timeout around that read, on purpose.
//
// The hook gets the emulator's environment plus, per version:
//
//	KAMAL_RECORDED_AT      always (UTC, 2006-01-02T15:04:05Z)
//	KAMAL_PERFORMER        git config user.email, else `whoami`; before 1.8 `whoami`
//	KAMAL_VERSION          the version (under rollback: the rollback version)
//	KAMAL_SERVICE_VERSION  service@first 7 characters of the version (all of it
//	                       when it has an "_", as Kamal's abbreviated_version)
//	KAMAL_SERVICE          since 1.8
//	KAMAL_DESTINATION      only with -d
//	KAMAL_HOSTS            comma-separated (pre/post-app-boot: the boot batch)
//	KAMAL_ROLES            since 2.6, only with --roles
//	KAMAL_COMMAND          e.g. setup, deploy, lock, accessory
//	KAMAL_SUBCOMMAND       when there is one (acquire, boot, ...)
//	KAMAL_LOCK             since 2.6: "true" exactly when this Kamal holds the lock
//	KAMAL_RUNTIME          post-deploy only: whole seconds the deploy took
//
// and, since 2.0, for pre-deploy and post-deploy (and pre-connect since 2.11),
// every variable of .kamal/secrets-common and .kamal/secrets
// (.kamal/secrets.DEST with -d) as plain variables (recorded: 2.5.3 and 2.6.0
// give pre-connect none, 2.12.0 does; 2.11 from the source). Before 2.11 a
// hook is announced with "Running the NAME hook..." (recorded on 2.5.3, 2.6.0;
// gone in 2.12.0). Those files are read as KEY=VALUE lines (dotenv: comments,
// `export`, single quotes literal, double quotes with \n and \" escapes, $VAR and
// ${VAR} expanded from earlier keys and the environment; $(...) command
// substitution is not run). Since hooks get the emulator's environment, they see
// the KAMAL_EMU_* knobs too (so nested `kamal` calls behave the same); compare
// KAMAL_* names without them.
//
// Locked by: is `git config user.name` (empty when git runs but no name is set,
// "Unknown" only when git cannot be run, as in Kamal); the version is, in order,
// --version, KAMAL_EMU_DEPLOY_VERSION, VERSION, `git rev-parse HEAD`, and else
// d018f90b8de4599db01a44090e61eeb581595c52 (the fixtures' version; Kamal
// itself fails without git). A dirty work tree adds "_uncommitted_<16 hex>"
// only when builder: context: is set, as in Kamal's git_version (source);
// recorded: with the default builder, Version: stays git HEAD with modified
// and with untracked files (testdata/real/*/misc-version.txt).
//
// # Knobs (environment, test-only)
//
// KAMAL_EMU_VERSION (default 2.12.0) is the Kamal to behave like:
//
//	lock dir   1.0-1.4  <run_directory>/lock-<service>          (no destination)
//	           1.5-1.9  <run_directory>/locks/<service>[-<dest>]
//	           2.x      .kamal/lock-<service>[-<dest>]
//	run dir    run_directory: (default .kamal) before 2.0, .kamal since
//	KAMAL_SERVICE in hooks since 1.8; git email as performer since 1.8
//	secrets in hooks since 2.0 (pre-connect 2.11); pre/post-app-boot since 2.4
//	docker-setup under setup since 1.4; "Running the NAME hook..." before 2.11
//	KAMAL_LOCK in hooks and honoured since 2.6; --lock-wait since 2.12
//
// The lock commands are exactly Kamal's, e.g. for 2.x and service app:
//
//	/usr/bin/env mkdir -p .kamal
//	/usr/bin/env mkdir .kamal/lock-app && echo "<Base64.encode64 of details>" > .kamal/lock-app/details
//	/usr/bin/env rm .kamal/lock-app/details && rm -r .kamal/lock-app
//	/usr/bin/env stat .kamal/lock-app > /dev/null && cat .kamal/lock-app/details | base64 -d
//
// Before 2.0 `kamal lock status|release|acquire` also run `mkdir -p <run dir>` on
// the primary host first, and the commands that take the lock themselves
// (deploy, setup, accessory ...) run `mkdir -p <run dir>/locks` on 1.5-1.9 too.
// `kamal lock acquire` on 1.5-1.9 does not (the 1.9 recording shows no such
// command), so on a host where <run dir>/locks does not exist yet it fails the
// way that Kamal does: "Deploy lock already in place!" and then the failing stat.
//
// KAMAL_EMU_SSH_CONFIG=FILE: hosts are reached with the system OpenSSH client,
// `ssh -F FILE -o BatchMode=yes -o ConnectTimeout=5 [-J proxy] [-i key]... -l USER
// [-p PORT] HOST 'COMMAND'`, with deploy.yml's ssh: user (default root), port,
// proxy, proxy_command, keys and keys_only (user@host:port in servers: wins).
// Without it, ssh reads its usual configuration.
//
// KAMAL_EMU_ROOT=DIR: instead of SSH, every host's commands run with `/bin/sh -c`
// in DIR (the lock host's home on this machine), with HOME=DIR.
//
// KAMAL_EMU_LOG=FILE (relative to the working directory unless absolute): each
// command string sent to a host is appended to FILE, exactly, NUL-terminated,
// just before it runs (nested emulators append to the same file). Each command
// is one ssh connection (Kamal keeps one per host), so count commands, not logins.
//
// KAMAL_EMU_DEPLOY_VERSION: the version being deployed (see above).
//
// KAMAL_EMU_HOLD_FIFO=PATH, an existing FIFO (mkfifo): once per setup, deploy,
// redeploy or rollback, in the deploy work phase (after pre-deploy, with the lock
// held), the emulator
//
//  1. opens PATH for writing (blocking until a reader opens it), writes one line
//     "held COMMAND LOCKDIR\n" and closes it, then
//  2. opens PATH for reading (blocking until a writer opens it) and reads up to
//     the first newline or end-of-file, then goes on with the deploy.
//
// So a test reads the FIFO to wait until the deploy holds its lock (`exec cat
// $WORK/hold` in a script, WaitHeld in Go), does what it wants while the lock is
// held, then writes a line to let the deploy finish (`exec sh -c 'echo >
// $WORK/hold'`, Continue in Go). No sleeps, no polling. A deploy run with the
// knob set and nobody reading the FIFO blocks forever; Unblock frees a WaitHeld
// or Continue whose emulator failed before its hold point.
//
// Hook output: Kamal itself logs a hook's output only at debug verbosity (and
// in the HookError); the emulator copies it to its own stdout and stderr as it
// comes, so tests can see what hookshim printed.
package kamalemu
