#!/bin/sh
# A throwaway Kamal project with a real SSH host, for trying hookshim by hand:
# see README.md, "Try it", and examples/sandbox/main.go.
cd "$(dirname "$0")/.." || exit 1
echo "sandbox: building the sandbox (go run ./examples/sandbox)..." >&2
exec go run ./examples/sandbox "$@"
