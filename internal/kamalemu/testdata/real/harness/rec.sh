#!/bin/bash
# rec.sh OUTFILE PROJ KAMAL-ARGS...: run the real Kamal ($HS_KAMAL_TAG) in PROJ with the recording
# hooks, write OUTFILE: the command, the hook blocks, the lock afterwards, the exit code (normalised).
set -u
OUT="$1"; PROJ="$2"; shift 2
W=/tmp/hookshim-realkamal
LOG=$(mktemp /tmp/rk-rec/log.XXXXXX); RAW=$(mktemp /tmp/rk-rec/out.XXXXXX)
cd "$PROJ"
REC_LOG="$LOG" timeout 600 /work/shared/realkamal/kamal.sh "$@" > "$RAW" 2>&1
rc=$?
{
  echo "# kamal $*"
  cat "$LOG"
  echo "=== after"
  found=0
  for d in "$W"/host-home/.kamal/lock-* "$W"/host-home/.kamal/locks/*; do
    [ -d "$d" ] || continue; found=1; echo "lock-dir: ${d#"$W/host-home/"}"
  done
  [ "$found" = 1 ] || echo "lock-dir: none"
  echo "rc=$rc"
} > "$OUT.tmp"
cp "$RAW" "$OUT.fullout.tmp"
norm() {
  sed -E -e 's/\x1b\[[0-9;]*m//g' \
    -e "s/${REC_A:-NOPE}/<COMMIT_A>/g" -e "s/${REC_A:0:7}/<COMMIT_A7>/g" \
    -e "s/${REC_B:-NOPE}/<COMMIT_B>/g" -e "s/${REC_B:0:7}/<COMMIT_B7>/g" \
    -e 's/^KAMAL_RECORDED_AT=.*/KAMAL_RECORDED_AT=<TIME>/' \
    -e 's/ at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/ at <TIME>/' \
    -e 's/^KAMAL_RUNTIME=[0-9]+/KAMAL_RUNTIME=<N>/' \
    -e 's/_uncommitted_[0-9a-f]+/_uncommitted_<HEX>/g' "$1"
}
norm "$OUT.tmp" > "$OUT"; rm -f "$OUT.tmp"
norm "$OUT.fullout.tmp" > "$OUT.out.full"; rm -f "$OUT.fullout.tmp"
rm -f "$LOG" "$RAW"
echo "$OUT rc=$rc"
