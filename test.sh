#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need
# (OpenSSH server and client, git; dpkg and rpm to check the release
# packages), then checks formatting, vets (for darwin too), runs every test
# under the race detector, fuzzes each parser briefly, and checks that the
# CGO_ENABLED=0 build is static.
#
# The release test (./release) builds the linux/amd64 packages only;
# all four targets: HOOKSHIM_RELEASE_ALL=1 go test -timeout 40m -run TestRelease ./release
#
#   ./test.sh                 everything (FUZZTIME=100000x: 100,000 inputs per fuzz target)
#   FUZZTIME=0 ./test.sh      skip the fuzzing
#
# Every skipped test is listed with its reason, and a skip whose reason is not
# on the allow-list below fails the run. Tests of permission bits, which root
# ignores, re-run themselves as nobody (uid 65534) when run as root.
#
# The fuzz budget is a count of inputs, not a duration: with a duration, Go
# 1.26's fuzz coordinator can report a spurious "context deadline exceeded"
# when the time runs out while a worker is busy (go.dev/issue/75804, fixed in
# Go 1.27). Minimising a new input is bounded by a count too (its default is 60 s
# per input), so that it cannot stall the run.
set -euo pipefail
cd "$(dirname "$0")"

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v git >/dev/null 2>&1 || need+=(git)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v rpm >/dev/null 2>&1 || need+=(rpm)
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo -n"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

# Many Kamal deployers run Kamal, and so the hooks, from a Mac.
echo "== go vet and build for darwin"
GOOS=darwin GOARCH=arm64 go vet ./...
go vet -tags hookshim_docs . ./internal/cli   # the man-page command only go run ./release builds
GOOS=darwin GOARCH=amd64 CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o /dev/null .
GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o /dev/null .

echo "== static build (CGO_ENABLED=0)"
bin=$(mktemp -d)/hookshim
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -o "$bin" .
if command -v readelf >/dev/null 2>&1 && readelf -l "$bin" | grep -q INTERP; then
	echo "$bin is dynamically linked" >&2
	exit 1
fi
"$bin" version

# A skip is allowed only when its reason matches an entry here; any other skip
# fails the run, listed with its reason (a test that cannot run on a machine,
# for want of CAP_SYS_ADMIN to mount a tmpfs or because /sys is writable, is
# not a test that passed). Each entry: an extended regular expression matched
# against the reason the test gave, and why it cannot run.
allowed_skips=(
	# GOFLAGS=-short asks for a quick run: these build binaries, cross-compile
	# hookshim or start 17 sshd hosts.
	'skipped with -short$'
	'builds a binary$'
	'cross-compiles hookshim twice$'
)
echo "== go test -race"
allow=()
for re in "${allowed_skips[@]}"; do allow+=(-allow "$re"); done
go build -o "$bin.summary" ./internal/testsummary
# -json, so that every skip is seen; the summary prints failed tests' output,
# each package's ok/FAIL line and, last, "N passed, N failed, N skipped".
go test -race -count=1 -timeout 20m -json ./... | "$bin.summary" "${allow[@]}" | tee "$bin.summary.log"
result=$(tail -n 1 "$bin.summary.log")

fuzztime=${FUZZTIME:-100000x}
if [ "$fuzztime" != 0 ]; then
	echo "== fuzz ($fuzztime each)"
	for pkg in $(go list ./...); do
		dir=$(go list -f '{{.Dir}}' "$pkg")
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
			echo "-- $pkg $target"
			if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 500x "$pkg" >"$bin.fuzz.log" 2>&1; then
				cat "$bin.fuzz.log" >&2
				exit 1
			fi
		done
	done
fi
echo "== all tests passed"
echo "$result"
