# closed P: sets c to the nearest existing ancestor of P that cannot be searched.
closed() {
  c=$1
  while :; do
    case "$c" in */*) c=${c%/*}; [ -n "$c" ] || c=/;; *) c=.;; esac
    if [ -e "$c" ]; then
      [ -d "$c" ] && [ ! -x "$c" ] && return 0
      return 1
    fi
    case "$c" in .|/) return 1;; esac
  done
}
one() {
  d=$1
  case "$d" in *"$nl"*) return;; esac
  if [ ! -e "$d" ] && [ ! -L "$d" ]; then
    if [ "$2" = lit ] && closed "$d"; then printf 'B\t0\t%s\n%s\n' "$d" "$c"; fi
    return
  fi
  m=$(stat -c %Y -- "$d" 2>/dev/null) || m=0
  if [ -L "$d" ]; then printf 'L\t%s\t%s\n' "$m" "$d"; return; fi
  if [ ! -d "$d" ]; then printf 'F\t%s\t%s\n' "$m" "$d"; return; fi
  if [ ! -x "$d" ]; then printf 'X\t%s\t%s\n' "$m" "$d"; return; fi
  f="$d/details"
  if [ ! -e "$f" ] && [ ! -L "$f" ]; then printf 'N\t%s\t%s\n' "$m" "$d"; return; fi
  if [ -L "$f" ] || [ ! -f "$f" ] || [ ! -r "$f" ]; then printf 'U\t%s\t%s\n' "$m" "$d"; return; fi
  printf 'D\t%s\t%s\n' "$m" "$d"
  readdetails "$f" | base64
  echo .
}
# scandir D P: every entry of D starting with P; or, when D cannot be listed, one B record.
# D empty is the home itself (the working directory), which is always listed.
scandir() {
  if [ -z "$1" ]; then
    for d in "$2"*; do one "$d"; done
    return
  fi
  if [ -d "$1" ] && { [ ! -r "$1" ] || [ ! -x "$1" ]; }; then c=$1
  elif [ -e "$1" ] || ! closed "$1"; then
    for d in "$1"/"$2"*; do one "$d"; done
    return
  fi
  case "$seen" in *"$nl$c$nl"*) return;; esac
  seen=$seen$c$nl
  printf 'B\t0\t%s\n%s\n' "$1/$2*" "$c"
}
# scan [lit PATH | dir D P]...: the header, the records of each literal PATH
# and of each scan dir D with prefix P, in that order, then END.
scan() {
  LC_ALL=C; export LC_ALL
  echo 'HOOKSHIM-SCAN 1'
  nl='
'
  seen=$nl
  while [ "$#" -gt 0 ]; do
    case "$1" in
      lit) one "$2" lit; shift 2;;
      dir) scandir "$2" "$3"; shift 3;;
      *) echo "scan: unexpected argument $1" >&2; exit 2;;
    esac
  done
  echo END
}
