#!/bin/sh
# mkproj.sh DIR VARIANT: a git project for the recordings (VARIANT: basic | roles | boot2)
set -e
DIR="$1"; VARIANT="${2:-basic}"
rm -rf "$DIR"; mkdir -p "$DIR/config" "$DIR/.kamal/hooks"
case "$VARIANT" in
basic) SERVERS='servers:
  - 127.0.0.1' ;;
roles) SERVERS='servers:
  web:
    - 127.0.0.1
  job:
    hosts:
      - 127.0.0.2
    cmd: bin/job' ;;
boot2) SERVERS='servers:
  - 127.0.0.1
  - 127.0.0.2
boot:
  limit: 1' ;;
esac
# two hosts on one machine cannot both forward the local registry's port: use a non-"localhost" name
REG=localhost:5555; [ "$VARIANT" = boot2 ] && REG=127.0.0.1:5555
cat > "$DIR/config/deploy.yml" <<EOC
service: app
image: x/app
$SERVERS
ssh:
  user: root
  port: 2232
registry:
  server: $REG
  username: u
  password: p
builder:
  arch: amd64
EOC
cat > "$DIR/config/deploy.staging.yml" <<EOC
env:
  clear:
    STAGE: staging
EOC
echo "REC_SECRET=s3cret" > "$DIR/.kamal/secrets"
echo "REC_SECRET=staging-s3cret" > "$DIR/.kamal/secrets.staging"
echo "FROM scratch" > "$DIR/Dockerfile"
for h in pre-connect docker-setup pre-build pre-deploy pre-app-boot post-app-boot pre-proxy-reboot post-proxy-reboot post-deploy; do
  cp /tmp/rk-rec/rec-hook "$DIR/.kamal/hooks/$h"
done
git -C "$DIR" init -q
git -C "$DIR" config user.name "Hookshim Tester"
git -C "$DIR" config user.email "tester@example.invalid"
git -C "$DIR" add -A
git -C "$DIR" commit -q -m initial
