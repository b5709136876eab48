#!/bin/bash
# legacy.sh: Kamal 2.x lock status / release / deploy when only a Kamal 1.9 lock (.kamal/locks/app) exists
set -u
R=/tmp/rk-rec; W=/tmp/hookshim-realkamal
source <(sed -n '/^step()/,/^}/p;/^finish()/,/^}/p' $R/misc.sh)
SSHLOG=$W/logs/ssh-commands.log
$R/reset.sh
P19=$R/p-legacy19; rm -rf $P19; mkdir -p $P19/config $P19/.kamal
cat > $P19/config/deploy.yml <<EOC
service: app
image: x/app
servers:
  - 127.0.0.1
ssh:
  user: root
  port: 2232
registry:
  server: localhost:5555
  username: u
  password: p
EOC
: > $P19/.kamal/secrets   # not read by 1.9; keeps the tree the same shape
git -C $P19 init -q; git -C $P19 config user.name "Hookshim Tester"; git -C $P19 config user.email tester@example.invalid
git -C $P19 add -A; git -C $P19 commit -qm initial
mkdir -p $W/host-home/.kamal/locks   # 1.9's `lock acquire` does not make it (recorded fact)
for TAG in v2.12.0 v2.6.0 v2.5.3; do
  O=$R/out/$TAG; mkdir -p $O
  rm -rf $W/host-home/.kamal/lock-app $W/host-home/.kamal/locks/app
  P=$P19; export HS_KAMAL_TAG=v1.9.0 REC_A=$(git -C $P19 rev-parse HEAD)
  step misc-legacy19.txt lock acquire -m legacy
  P=$R/p-misc-$TAG; [ -d $P ] || $R/mkproj.sh $P basic
  export HS_KAMAL_TAG=$TAG
  step misc-legacy19.txt lock status
  step misc-legacy19.txt lock release
  step misc-legacy19.txt deploy --skip-push -H
  P=$P19; export HS_KAMAL_TAG=v1.9.0
  step misc-legacy19.txt lock status
  step misc-legacy19.txt lock release
  finish misc-legacy19.txt
done
