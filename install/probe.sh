# probe DIR: the host's platform, DIR and the binary DIR/hookshim in it, one
# "key: value" line each. To learn whether (and why not) a file can be made in
# DIR, it creates and at once removes an empty temporary file there.
d=$1; f="$d/hookshim"
printf 'uname: %s\n' "$(uname -s -m)"
if [ -d "$d" ]; then echo 'dir: ok'; elif [ -e "$d" ]; then echo 'dir: notdir'; else echo 'dir: missing'; fi
if [ -d "$d" ]; then
	if t=$(mktemp "$d/.hookshim.install-XXXXXXXX" 2>&1); then rm -f -- "$t"; echo 'write: ok'
	else printf 'write: %s\n' "$(printf '%s' "$t" | tr '\n' ' ')"; fi
fi
if [ -L "$f" ]; then echo 'dst: link'; elif [ -d "$f" ]; then echo 'dst: dir'; elif [ -e "$f" ]; then echo 'dst: file'; else echo 'dst: none'; fi
if [ -x "$f" ]; then echo 'exec: yes'; else echo 'exec: no'; fi
s=
if [ -f "$f" ] && [ -r "$f" ]; then
	if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum <"$f")
	elif command -v shasum >/dev/null 2>&1; then s=$(shasum -a 256 <"$f")
	fi
fi
printf 'sha256: %s\n' "${s%%[ 	]*}"
