# acquire LOCK PARENT BASE64 [AUDITFILE AUDITLINE]: Kamal's `mkdir -p PARENT`
# and `mkdir LOCK && echo "BASE64" > LOCK/details`, then the audit line. Exit 3 (statusHeld) with the
# scan of LOCK when it is there already. A mkdir that fails on a lock which is
# gone by the time it is looked at lost a race with a release: it is tried
# again, a few times, rather than taken for a failure.
mkdir -p "$2" || exit 1
tries=0
while :; do
  if mkdir "$1"; then
    if echo "$3" > "$1/details"; then audit "${4-}" "${5-}"; exit 0; fi
    rm -f "$1/details"; rmdir "$1"; exit 1
  fi
  if [ -e "$1" ] || [ -L "$1" ]; then
    scan lit "$1"
    exit 3
  fi
  tries=$((tries + 1))
  [ "$tries" -lt 5 ] || exit 1
done
