# release LOCK PATTERN [AUDITFILE AUDITLINE]: Kamal's `rm LOCK/details && rm -r LOCK`,
# then the audit line, only when the
# first Message: line of the details matches PATTERN (an ERE) whole. Exit 4
# (statusGone) when nothing is at LOCK, 5 (statusNotOurs) when it is not ours.
d=$1
[ -e "$d" ] || [ -L "$d" ] || exit 4
[ -d "$d" ] && [ ! -L "$d" ] && [ -f "$d/details" ] || exit 5
readdetails "$d/details" | base64 -d 2>/dev/null | sed -n '/^Message:/{p;q;}' | grep -q -x -E -e "$2" || exit 5
rm "$d/details" && rm -r "$d" || exit
audit "${3-}" "${4-}"
