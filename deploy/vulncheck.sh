#!/usr/bin/env bash
# govulncheck over the whole module, offline: run by `make lint` (and `make vulncheck`).
#
#   deploy/vulncheck.sh
#
# govulncheck normally reads the Go vulnerability database from vuln.go.dev, which the build
# machines cannot reach. The database's source, the golang.org/x/vulndb module, is served by the
# Go module proxy and carries every entry as OSV JSON (data/osv/), which govulncheck reads as a
# local database (-db file://…). So this fetches govulncheck (golang.org/x/vuln) and a pinned
# snapshot of golang.org/x/vulndb through the module proxy, like any module, and scans with it.
# A newer snapshot: VULNDB_VERSION=$(go list -m -f '{{.Version}}' golang.org/x/vulndb@latest).
#
# Outcomes:
# - the proxy cannot be reached (no govulncheck or no snapshot): SKIPPED with a message, exit 0,
#   so CI never fails on the network;
# - a vulnerability the code reaches in a required module: exit 1 (bump the module);
# - one only in the standard library of the Go toolchain building this tree: a WARNING listing
#   each with the release that fixes it, exit 0, unless VULNCHECK_STDLIB=fail (the fix is a newer
#   toolchain, which is a project decision, not a lint step's);
# - anything else govulncheck reports as an error: exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
VULN_VERSION=${VULN_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

skip() {
	echo "vulncheck: SKIPPED: $*" >&2
	echo "vulncheck: the scan did not run; run deploy/vulncheck.sh where the Go module proxy is reachable." >&2
	exit 0
}

bin=$("$GO" env GOPATH)/bin/govulncheck-$VULN_VERSION
if [ ! -x "$bin" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	GOBIN=$tmp "$GO" install "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION" >/dev/null 2>&1 ||
		skip "golang.org/x/vuln@$VULN_VERSION could not be fetched through the Go module proxy"
	mkdir -p "$(dirname "$bin")"
	mv "$tmp/govulncheck" "$bin"
fi
dir=$("$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
	skip "the vulnerability database snapshot golang.org/x/vulndb@$VULNDB_VERSION could not be fetched"
if [ -z "$dir" ] || [ ! -d "$dir/data/osv" ]; then
	skip "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "vulncheck: govulncheck $VULN_VERSION, database golang.org/x/vulndb@$VULNDB_VERSION"
rc=0
"$bin" -db "file://$dir/data/osv" ./... >"$out" 2>&1 || rc=$?
case $rc in
0)
	echo "vulncheck: no known vulnerability reached."
	exit 0
	;;
3) ;; # vulnerabilities found
*)
	cat "$out" >&2
	echo "vulncheck: govulncheck failed (exit $rc)." >&2
	exit 1
	;;
esac
# "Found in: PKG@VERSION": a module's version starts with v, the standard library's with go.
if grep -Eq '^[[:space:]]+Found in: [^ ]+@v[0-9]' "$out"; then
	cat "$out"
	echo "vulncheck: FAILED: code reaches a known vulnerability in a required module (above); upgrade it." >&2
	exit 1
fi
echo "vulncheck: WARNING: code reaches known vulnerabilities of the Go standard library of $("$GO" env GOVERSION); a newer toolchain fixes them:" >&2
grep -E '^Vulnerability #|^[[:space:]]+(Found|Fixed) in:' "$out" | paste - - - >&2 || true
if [ "${VULNCHECK_STDLIB:-warn}" = fail ]; then
	exit 1
fi
exit 0
