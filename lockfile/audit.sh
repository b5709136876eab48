# audit FILE LINE: append LINE to Kamal's audit log FILE (relative to the
# home), making its directory; nothing when FILE is empty. A failed append
# never fails the take or release it records.
audit() {
  [ -n "$1" ] || return 0
  case "$1" in */*) dir=${1%/*};; *) dir=.;; esac
  { mkdir -p -- "$dir" && printf '%s\n' "$2" >> "$1"; } 2>/dev/null || :
}
