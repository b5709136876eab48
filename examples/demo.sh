#!/bin/sh
# The README's first command: builds and runs examples/demo (see its doc comment).
cd "$(dirname "$0")/.." || exit 1
echo "building hookshim and a Kamal emulator (go run ./examples/demo)..." >&2
exec go run ./examples/demo "$@"
