package kamalemu

import (
	"math"
	"strconv"
	"time"
)

// printRuntime is Kamal's print_runtime: fn, then "  Finished all in" (also when
// fn fails); it returns the whole seconds taken, as runtime.round.
func (e *emu) printRuntime(fn func() error) (string, error) {
	start := time.Now()
	err := fn()
	d := time.Since(start)
	e.say("  Finished all in %.1f seconds", d.Seconds())
	return strconv.Itoa(int(math.Round(d.Seconds()))), err
}

// mutatingAll says whether this Kamal (before 1.5: "mutating") holds the lock
// around the whole deploy, build included.
func (e *emu) mutatingAll() bool { return !e.ver.atLeast(1, 5) }

// build is build:deliver (pre-connect, pre-build; the image build and push are
// local and not emulated) or, with -P, build:pull; both then reach the hosts.
func (e *emu) build() error {
	if e.opts.skipPush {
		e.say("Pull app image...")
	} else {
		e.say("Build and push app image...")
		if err := e.preConnect(); err != nil {
			return err
		}
		if err := e.runHook("pre-build", hookOpts{}); err != nil {
			return err
		}
	}
	return e.preConnect() // the pull runs on the hosts
}

// lockedWork is what deploy, redeploy and rollback do under the lock.
func (e *emu) lockedWork(bootAccessories bool) error {
	if err := e.runHook("pre-deploy", hookOpts{secrets: true}); err != nil {
		return err
	}
	if e.ver.atLeast(2, 0) {
		e.say("Ensure kamal-proxy is running...")
	} else {
		e.say("Ensure Traefik is running...")
	}
	if err := e.hold(); err != nil {
		return err
	}
	if bootAccessories {
		if err := e.withLock(func() error { return nil }); err != nil { // accessory boot all: none
			return err
		}
	}
	e.say("Detect stale containers...")
	if err := e.appBoot(); err != nil {
		return err
	}
	e.say("Prune old containers and images...")
	return nil
}

// appBoot is app:boot: per boot group (boot: limit:), the app-boot hooks
// (since 2.4) around booting that group, with KAMAL_HOSTS that group's hosts
// (recorded: Kamal 2.5.3, 2.6.0, 2.12.0 with two hosts and limit 1).
func (e *emu) appBoot() error {
	return e.withLock(func() error {
		e.say("Start container with version %s (or reboot if already running)...", e.hookVersion)
		if err := e.preConnect(); err != nil { // the assets step asks every host first
			return err
		}
		for _, group := range e.bootGroups() {
			hosts := joinHostNames(group)
			if e.ver.atLeast(2, 4) {
				if err := e.runHook("pre-app-boot", hookOpts{hosts: hosts}); err != nil {
					return err
				}
			}
			if e.ver.atLeast(2, 4) {
				if err := e.runHook("post-app-boot", hookOpts{hosts: hosts}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// deploy is `kamal deploy` (and the deploy inside setup, with accessories).
func (e *emu) deploy(bootAccessories bool) error {
	runtime, err := e.printRuntime(func() error {
		if e.mutatingAll() {
			return e.withLock(func() error {
				if err := e.build(); err != nil {
					return err
				}
				return e.lockedWork(bootAccessories)
			})
		}
		if err := e.build(); err != nil {
			return err
		}
		return e.withLock(func() error { return e.lockedWork(bootAccessories) })
	})
	if err != nil {
		return err
	}
	return e.runHook("post-deploy", hookOpts{secrets: true, runtime: runtime})
}

// setup is `kamal setup`: the whole deploy, post-deploy included, in its lock.
func (e *emu) setup() error {
	_, err := e.printRuntime(func() error {
		return e.withLock(func() error {
			e.say("Ensure Docker is installed...")
			if err := e.preConnect(); err != nil {
				return err
			}
			// server:bootstrap ends with docker-setup (since 1.4), inside setup's
			// lock; recorded under setup on 2.5.3, 2.6.0, 2.12.0 (the hosts
			// report Docker installed, so nothing is installed first).
			if e.ver.atLeast(1, 4) {
				if err := e.runHook("docker-setup", hookOpts{}); err != nil {
					return err
				}
			}
			if !e.ver.atLeast(2, 0) {
				e.say("Evaluate and push env files...")
			}
			return e.deploy(true)
		})
	})
	return err
}

// redeploy is `kamal redeploy`: deploy without proxy, accessories and pruning.
func (e *emu) redeploy() error {
	runtime, err := e.printRuntime(func() error {
		work := func() error {
			if err := e.runHook("pre-deploy", hookOpts{secrets: true}); err != nil {
				return err
			}
			if err := e.hold(); err != nil {
				return err
			}
			e.say("Detect stale containers...")
			return e.appBoot()
		}
		if e.mutatingAll() {
			return e.withLock(func() error {
				if err := e.build(); err != nil {
					return err
				}
				return work()
			})
		}
		if err := e.build(); err != nil {
			return err
		}
		return e.withLock(work)
	})
	if err != nil {
		return err
	}
	return e.runHook("post-deploy", hookOpts{secrets: true, runtime: runtime})
}

// rollback is `kamal rollback VERSION`. The lock is taken with the deploy
// version; the hooks see VERSION (KAMAL.config.version is set inside the lock).
// Every version is taken to be available as a container.
func (e *emu) rollback(version string) error {
	rolledBack := false
	runtime, err := e.printRuntime(func() error {
		return e.withLock(func() error {
			e.hookVersion = version
			if err := e.preConnect(); err != nil { // container_available? asks the hosts
				return err
			}
			if err := e.runHook("pre-deploy", hookOpts{secrets: true}); err != nil {
				return err
			}
			if err := e.hold(); err != nil {
				return err
			}
			if err := e.appBoot(); err != nil {
				return err
			}
			rolledBack = true
			return nil
		})
	})
	if err != nil {
		return err
	}
	if !rolledBack {
		return nil
	}
	return e.runHook("post-deploy", hookOpts{secrets: true, runtime: runtime})
}

// accessory is `kamal accessory SUB NAME [CMD...]`: inside with_lock for every
// command that changes an accessory, not for exec, details and logs; no
// accessory is actually there to boot.
func (e *emu) accessory(sub, name string, cmd []string) error {
	switch sub {
	case "details", "logs":
		return e.preConnect()
	case "exec":
		// No with_lock: exec runs while anyone holds the lock (recorded:
		// 2.5.3, 2.6.0, 2.12.0, testdata/real/*/misc-accessory.txt).
		if err := e.preConnect(); err != nil {
			return err
		}
		e.say("Launching command from new container...")
		return nil
	}
	return e.withLock(func() error {
		if name == "all" {
			return nil // KAMAL.accessory_names.each: there are none
		}
		if err := e.preConnect(); err != nil {
			return err
		}
		return nil
	})
}
