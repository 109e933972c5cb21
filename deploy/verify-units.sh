#!/usr/bin/env bash
# Verify the systemd units in deploy/systemd with `systemd-analyze verify`, without installing or
# starting them (PID 1 on build machines is not systemd). Run by `make lint` and deploy's tests.
#
#   deploy/verify-units.sh [BIN_DIR]
#
# verify checks that every ExecStart/ExecStartPre program exists and is executable. The units name
# their install paths (/opt/vigil/bin/vigil-updater, /usr/local/bin/vigil-server), which a build
# machine does not have, so this verifies copies in a temporary directory with exactly those paths
# rewritten to freshly built binaries: BIN_DIR if given (it must hold vigil-updater and
# vigil-server), else a `go build` of both into the temporary directory. Every other line is
# verified as shipped.
#
# verify exits 0 even when it ignores a line it cannot parse ("Failed to parse system call,
# ignoring"), so any output at all fails this check: verify only prints problems.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v systemd-analyze >/dev/null || {
	echo "verify-units: systemd-analyze not found; install Debian's systemd package (apt-get install systemd)." >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${1:-}
if [ -z "$bin" ]; then
	bin=$tmp/bin
	CGO_ENABLED=0 "${GO:-go}" build -trimpath -o "$bin/" ./cmd/vigil-updater ./cmd/vigil-server
fi
bin=$(cd "$bin" && pwd)
for b in vigil-updater vigil-server; do
	[ -x "$bin/$b" ] || { echo "verify-units: $bin/$b is not an executable" >&2; exit 1; }
done

status=0
for unit in deploy/systemd/*.service; do
	name=$(basename "$unit")
	sed -e "s|/opt/vigil/bin/vigil-updater |$bin/vigil-updater |g" \
		-e "s|/usr/local/bin/vigil-server |$bin/vigil-server |g" "$unit" >"$tmp/$name"
	if ! out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1) || [ -n "$out" ]; then
		echo "verify-units: $unit:" >&2
		printf '%s\n' "${out:-systemd-analyze verify failed}" | sed "s|$tmp/$name|$unit|g" >&2
		status=1
	else
		echo "verify-units: $unit ok"
	fi
done
exit "$status"
