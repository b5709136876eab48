# push DIR SHA256 SIZE: the binary on stdin becomes DIR/hookshim when its size
# and SHA-256 are the ones given. Exit statuses: see push* in remote.go.
set -u
d=$1; f="$d/hookshim"; want=$2; size=$3
tmp=
cleanup() { if [ -n "$tmp" ]; then rm -f -- "$tmp"; tmp=; fi; }
fail() { c=$1; shift; cleanup; printf '%s\n' "$*" >&2; exit "$c"; }
trap cleanup EXIT
trap 'cleanup; exit 98' HUP INT TERM PIPE
[ -d "$d" ] || fail 91 "$d is not a directory"
if [ -L "$f" ] || [ -d "$f" ]; then fail 97 "$f is a symlink or a directory"; fi
tmp=$(mktemp "$d/.hookshim.install-XXXXXXXX" 2>&1) || { e=$tmp; tmp=; fail 92 "cannot create a temporary file in $d: $e"; }
cat >"$tmp" || fail 93 "writing $tmp failed"
n=$(wc -c <"$tmp" | tr -d ' ')
[ "$n" = "$size" ] || fail 93 "received $n of $size bytes: the transfer was cut short"
if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum <"$tmp")
elif command -v shasum >/dev/null 2>&1; then s=$(shasum -a 256 <"$tmp")
else fail 95 "neither sha256sum nor shasum is installed"; fi
s=${s%%[ 	]*}
[ "$s" = "$want" ] || fail 94 "sha256 on the host is $s, expected $want"
chmod 0755 "$tmp" || fail 96 "chmod 0755 $tmp failed"
sync -- "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$f" || fail 96 "renaming $tmp to $f failed"
tmp=
sync -- "$d" 2>/dev/null || :
echo "ok $s"
