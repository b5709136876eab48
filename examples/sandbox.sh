#!/bin/sh
# A throwaway Kamal project with a real SSH host, for trying hookshim by hand:
# see README.md, "Try it", and examples/sandbox/main.go.
#
# It builds the sandbox and execs it, rather than `go run`, so that a signal
# sent to this script's pid (kill PID) reaches the sandbox itself: go run
# does not pass SIGTERM on to its child. The sandbox's host process removes
# the build directory (HOOKSHIM_SANDBOX_BUILD) with the sandbox's own.
cd "$(dirname "$0")/.." || exit 1
echo "sandbox: building the sandbox (go build ./examples/sandbox)..." >&2
build=$(mktemp -d "${TMPDIR:-/tmp}/hookshim-sandbox-build.XXXXXX") || exit 1
if ! go build -o "$build/sandbox" ./examples/sandbox; then
	rm -rf "$build"
	exit 1
fi
HOOKSHIM_SANDBOX_BUILD=$build exec "$build/sandbox" "$@"
