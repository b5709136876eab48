#!/bin/bash
# seq.sh TAG: every hook recording for one Kamal version into /tmp/rk-rec/out/TAG
set -u
TAG="$1"; export HS_KAMAL_TAG="$TAG"
O=/tmp/rk-rec/out/$TAG; mkdir -p "$O"
R=/tmp/rk-rec
newproj() { # newproj NAME VARIANT
  $R/reset.sh; $R/mkproj.sh "$R/p-$1-$TAG" "$2"; P="$R/p-$1-$TAG"
  export REC_A=$(git -C "$P" rev-parse HEAD) REC_B=NOPE
}
commitB() { echo b > "$P/b.txt"; git -C "$P" add -A; git -C "$P" commit -q -m b; export REC_B=$(git -C "$P" rev-parse HEAD); }
for dest in "" staging; do
  pre=""; d=()
  [ -n "$dest" ] && { pre="staging-"; d=(-d staging); }
  newproj "basic$dest" basic
  $R/rec.sh $O/${pre}setup.txt "$P" setup --skip-push "${d[@]}"
  $R/rec.sh $O/${pre}deploy.txt "$P" deploy --skip-push "${d[@]}"
  $R/rec.sh $O/${pre}redeploy.txt "$P" redeploy --skip-push "${d[@]}"
  commitB
  $R/rec.sh $O/${pre}rollback.txt "$P" rollback "$REC_A" "${d[@]}"
done
newproj roles roles
$R/rec.sh $O/roles-setup.txt "$P" setup --skip-push --roles web
$R/rec.sh $O/roles-deploy.txt "$P" deploy --skip-push --roles web
$R/rec.sh $O/roles-deploy-job.txt "$P" deploy --skip-push --roles job
$R/rec.sh $O/roles-redeploy.txt "$P" redeploy --skip-push --roles web
commitB
$R/rec.sh $O/roles-rollback.txt "$P" rollback "$REC_A" --roles web
newproj boot2 boot2
$R/rec.sh $O/boot2-setup.txt "$P" setup --skip-push
$R/rec.sh $O/boot2-deploy.txt "$P" deploy --skip-push
