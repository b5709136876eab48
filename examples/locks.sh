#!/bin/sh
# The README's second command: `hookshim locks` on an example host's home
# (examples/host), as seen at a fixed time, so that it prints the same bytes on
# every machine and every day. Two of its locks have no readable details, and
# such a lock's age is its directory's modification time, which git does not
# keep: they are set here to the time the example means (two minutes before
# --now) first.
cd "$(dirname "$0")/.." || exit 1
touch -d 2026-11-27T06:58:00Z examples/host/.kamal/lock-broken examples/host/.kamal/lock-cron || exit 1
echo "building hookshim (go run .)..." >&2
exec go run . locks --root examples/host --now 2026-11-27T07:00:00Z "$@"
