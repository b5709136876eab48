# readdetails FILE: at most 65537 bytes (MaxDetailsSize+1) of FILE on stdout,
# opened so that it cannot block (GNU dd's iflag=nonblock,nofollow); where dd
# lacks those flags (BusyBox), head under a 5 s timeout.
readdetails() {
  if [ -z "${rdd-}" ]; then
    if dd if=/dev/null iflag=nonblock,nofollow count=0 status=none 2>/dev/null; then rdd=dd; else rdd=head; fi
  fi
  if [ "$rdd" = dd ]; then
    dd if="$1" iflag=nonblock,nofollow,fullblock bs=65537 count=1 status=none 2>/dev/null
  else
    timeout 5 head -c 65537 -- "$1" 2>/dev/null
  fi
}
