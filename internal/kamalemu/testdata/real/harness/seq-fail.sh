#!/bin/bash
# seq-fail.sh TAG: failing hooks (REC_FAIL=NAME exits 3) under deploy and setup
set -u
TAG="$1"; export HS_KAMAL_TAG="$TAG"
O=/tmp/rk-rec/out/$TAG; mkdir -p "$O"; R=/tmp/rk-rec
one() { # one NAME HOOK ARGS...
  local name=$1 hook=$2; shift 2
  $R/reset.sh; P=$R/p-fail-$TAG; $R/mkproj.sh $P basic; export REC_A=$(git -C "$P" rev-parse HEAD) REC_B=NOPE
  # a first deploy so that the fake host has a running app (as after a real first setup)
  REC_FAIL= $R/rec.sh $O/tmp-prep.txt "$P" setup --skip-push >/dev/null; rm -f $O/tmp-prep.txt*
  REC_FAIL=$hook $R/rec.sh $O/$name.txt "$P" "$@"
}
one fail-deploy-pre-connect pre-connect deploy --skip-push
one fail-deploy-pre-deploy pre-deploy deploy --skip-push
one fail-deploy-post-app-boot post-app-boot deploy --skip-push
one fail-deploy-post-deploy post-deploy deploy --skip-push
one fail-setup-docker-setup docker-setup setup --skip-push
one fail-setup-pre-deploy pre-deploy setup --skip-push
one fail-setup-post-deploy post-deploy setup --skip-push
