#!/bin/bash
# misc.sh TAG: single commands whose output, exit code, remote commands and host lock state are recorded
set -u
TAG="$1"; export HS_KAMAL_TAG="$TAG"
O=/tmp/rk-rec/out/$TAG; mkdir -p "$O"; R=/tmp/rk-rec; W=/tmp/hookshim-realkamal
SSHLOG=$W/logs/ssh-commands.log
# step FILE ARGS...: run kamal in $P, append to FILE: command, output (no colours, ids), remote commands, lock dirs, rc
step() {
  local f=$1; shift
  local n0; n0=$(wc -l < "$SSHLOG" 2>/dev/null || echo 0)
  local out; out=$(cd "$P" && REC_LOG=$O/$f.hooks timeout 300 /work/shared/realkamal/kamal.sh "$@" 2>&1); local rc=$?
  {
    echo "\$ kamal $*"
    printf '%s\n' "$out" | sed -E -e 's/\x1b\[[0-9;]*m//g' -e 's/INFO \[[0-9a-f]{8}\]/INFO [ID]/' -e 's/Finished in [0-9.]+ seconds/Finished in X seconds/' -e 's/Finished all in [0-9.]+ seconds/Finished all in X seconds/'
    echo "# remote commands:"
    tail -n +$((n0+1)) "$SSHLOG" | cut -f2- | sed 's/^/#   /'
    echo "# lock dirs after:"
    ( cd $W/host-home && find .kamal -maxdepth 3 \( -path '.kamal/lock-*' -o -path '.kamal/locks/*' \) 2>/dev/null | sort | sed 's/^/#   /' )
    echo "# rc=$rc"
  } >> "$O/$f.tmp"
}
finish() { # normalise FILE.tmp -> FILE
  local f=$1
  sed -E -e "s/${REC_A:-NOPE}/<COMMIT_A>/g" -e "s/${REC_A:0:7}/<COMMIT_A7>/g" \
    -e 's/ at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/ at <TIME>/g' -e 's/^KAMAL_RECORDED_AT=.*/KAMAL_RECORDED_AT=<TIME>/' \
    -e 's/^KAMAL_RUNTIME=[0-9]+/KAMAL_RUNTIME=<N>/' \
    -e 's/_uncommitted_[0-9a-f]{16}/_uncommitted_<HEX16>/g' -e 's/\b[0-9a-f]{40}\b/<OTHER_SHA>/g' "$O/$f.tmp" > "$O/$f"; rm -f "$O/$f.tmp"
  if [ -f "$O/$f.hooks" ]; then
    sed -E -e "s/${REC_A:-NOPE}/<COMMIT_A>/g" -e "s/${REC_A:0:7}/<COMMIT_A7>/g" \
      -e 's/ at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/ at <TIME>/g' -e 's/^KAMAL_RECORDED_AT=.*/KAMAL_RECORDED_AT=<TIME>/' \
      -e 's/_uncommitted_[0-9a-f]{16}/_uncommitted_<HEX16>/g' "$O/$f.hooks" > "$O/${f%.txt}.hooks.txt"; rm -f "$O/$f.hooks"
  fi
}
proj() { $R/reset.sh; P=$R/p-misc-$TAG; $R/mkproj.sh $P basic; export REC_A=$(git -C "$P" rev-parse HEAD); }

# 1. accessory exec / boot while a manual lock is held, and what accessory exec's hooks see
proj
cat >> $P/config/deploy.yml <<EOC
accessories:
  db:
    image: x/db
    host: 127.0.0.1
EOC
git -C $P commit -qam accessory; export REC_A=$(git -C "$P" rev-parse HEAD)
step misc-accessory.txt accessory exec db true
step misc-accessory.txt lock acquire -m manual
step misc-accessory.txt accessory exec db true
step misc-accessory.txt accessory boot db
step misc-accessory.txt lock release
finish misc-accessory.txt

# 2. lock commands with -d staging
proj
step misc-lock-staging.txt lock acquire -m stg -d staging
step misc-lock-staging.txt lock status -d staging
step misc-lock-staging.txt lock status
step misc-lock-staging.txt lock release
step misc-lock-staging.txt lock release -d staging
step misc-lock-staging.txt lock status -d staging
finish misc-lock-staging.txt

# 3. Version: in the lock with uncommitted changes
proj
step misc-version.txt lock acquire -m clean
step misc-version.txt lock status
step misc-version.txt lock release
echo new > $P/untracked.txt
step misc-version.txt lock acquire -m untracked-file
step misc-version.txt lock status
step misc-version.txt lock release
rm $P/untracked.txt; echo changed >> $P/Dockerfile
step misc-version.txt lock acquire -m modified-file
step misc-version.txt lock status
step misc-version.txt lock release
step misc-version.txt deploy --skip-push
git -C $P checkout -q Dockerfile
VERSION=v-from-env step misc-version.txt lock acquire -m env-VERSION
step misc-version.txt lock status
step misc-version.txt lock release
step misc-version.txt lock acquire -m flag-version --version v-from-flag
step misc-version.txt lock status
step misc-version.txt lock release
finish misc-version.txt

# 4. a lock directory without details
proj
mkdir -p $W/host-home/.kamal/lock-app
step misc-lock-no-details.txt lock status
step misc-lock-no-details.txt deploy --skip-push
if [ "$TAG" = v2.12.0 ]; then
  step misc-lock-no-details.txt deploy --skip-push --lock-wait --lock-wait-timeout 3 --lock-wait-interval 1
fi
step misc-lock-no-details.txt lock release
finish misc-lock-no-details.txt

# 5. --lock-wait with a fractional interval (how Kamal prints it)
if [ "$TAG" = v2.12.0 ]; then
  proj
  step misc-lock-wait-float.txt lock acquire -m "Automatic deploy lock"
  step misc-lock-wait-float.txt deploy --skip-push -H --lock-wait --lock-wait-timeout 2 --lock-wait-interval 0.5
  step misc-lock-wait-float.txt deploy --skip-push -H --lock-wait --lock-wait-timeout 1.5 --lock-wait-interval 1.0
  step misc-lock-wait-float.txt lock release
  finish misc-lock-wait-float.txt
fi

# 6. proxy reboot hooks
proj
step misc-proxy-reboot.txt setup --skip-push -H
step misc-proxy-reboot.txt proxy reboot -y
finish misc-proxy-reboot.txt
