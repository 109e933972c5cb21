#!/usr/bin/env bash
# make release-artifacts: the release builds of vigil-agent and vigil-updater, one per architecture,
# named <binary>-linux-<arch> as `vigilctl release stage` expects, with the repository's trusted TUF
# root embedded in vigil-updater. See docs/releasing.md.
#
# Inputs (environment; the Makefile passes its variables):
#   VERSION        stamped into both binaries (main.version). Required.
#   ROOT           the repository's root.json, embedded as vigil-updater's initial trust anchor.
#                  Required unless ALLOW_NO_ROOT=1.
#   ALLOW_NO_ROOT  1: build vigil-updater without a root (UNSAFE outside development).
#   ARCHES         default "amd64 arm64".   OUT: output directory, default dist.   GO: default go.
#
# Static and reproducible: the same source, VERSION, ROOT and Go toolchain give byte-identical files
# on any machine, in any directory. CGO_ENABLED=0 (static, no libc); -trimpath (no local paths);
# -buildvcs=false (no VCS stamp, so a fresh clone and a worktree build alike); -ldflags -buildid=
# (no build ID, which hashes the build environment); GOAMD64/GOARM64 pinned to the baseline; GOFLAGS
# cleared so a developer's settings do not leak in; nothing stamps a build time.
#
# The root reaches the binary without touching the source tree: cmd/vigil-updater embeds the
# directory trust/ (go:embed), and a `go build -overlay` adds trust/root.json to it for this build
# only, so a release root can never be committed, or picked up by a later `make build`, by accident.
set -euo pipefail

GO=${GO:-go}
OUT=${OUT:-dist}
ARCHES=${ARCHES:-amd64 arm64}
ROOT=${ROOT:-}
# ROOT and OUT are relative to where we were called from; the build runs at the module root.
case $ROOT in '' | /*) ;; *) ROOT=$PWD/$ROOT ;; esac
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
cd "$(dirname "$0")/.."
ALLOW_NO_ROOT=${ALLOW_NO_ROOT:-}
BINARIES=(vigil-agent vigil-updater)

die() {
	printf 'release-artifacts: %s\n' "$@" >&2
	exit 1
}

[ -n "${VERSION:-}" ] || die "VERSION is required (make release-artifacts VERSION=1.4.0 ROOT=…)."
case $VERSION in
*[!A-Za-z0-9.+-]*) die "VERSION=$VERSION: use MAJOR.MINOR.PATCH[-pre] (letters, digits, . + - only)." ;;
esac

export CGO_ENABLED=0 GOOS=linux GOFLAGS='' GOAMD64=v1 GOARM64=v8.0 GOTOOLCHAIN=local
LDFLAGS="-s -w -buildid= -X main.version=$VERSION"
BUILDFLAGS=(-trimpath -buildvcs=false)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

embedded=cmd/vigil-updater/trust/root.json
if [ -e "$embedded" ]; then
	die "$embedded exists in the source tree; remove it." \
		"The root is passed as ROOT=FILE and added to the build by an overlay, never committed."
fi

if [ -n "$ROOT" ]; then
	[ -f "$ROOT" ] || die "ROOT=$ROOT: no such file."
	case $PWD in *'"'* | *\\*) die "the checkout path must not contain quotes or backslashes (it goes into the overlay's JSON)." ;; esac
	cp "$ROOT" "$tmp/root.json"
	printf '{"Replace": {"%s/%s": "%s/root.json"}}\n' "$PWD" "$embedded" "$tmp" >"$tmp/overlay.json"
	BUILDFLAGS+=(-overlay "$tmp/overlay.json")
	want="trusted root ok"
elif [ "$ALLOW_NO_ROOT" = 1 ]; then
	echo "release-artifacts: WARNING: ALLOW_NO_ROOT=1: vigil-updater is built WITHOUT an embedded root." >&2
	echo "  This is UNSAFE for a release: hosts then trust whatever root --trusted-root names on first start." >&2
	want="no embedded root"
else
	die "ROOT is not set: a release build of vigil-updater embeds the repository's trusted TUF root." \
		"" \
		"  make release-artifacts VERSION=$VERSION ROOT=path/to/root.json" \
		"" \
		"The root comes from the release repository: the trusted-root.json that vigilctl keeps for you" \
		"(~/.config/vigil/trusted-root.json, written by \`vigilctl repo init\` and moved forward by every" \
		"verified rotation), or <server>/tuf/metadata/<N>.root.json. Compare its key IDs with" \
		"\`vigilctl repo status\` and with the note from the init ceremony before you build with it." \
		"See docs/releasing.md, \"Build the release artifacts\"." \
		"" \
		"For a development build only: ALLOW_NO_ROOT=1 (UNSAFE: hosts then need --trusted-root and" \
		"trust whatever root it names)."
fi

# Check the root through the updater's own code before spending time on cross builds: a host build
# with the same overlay must say the embedded root parses and carries its own threshold of
# signatures (vigil-updater self-check). VIGIL_TRUSTED_ROOT would override the embedded root.
GOOS='' GOARCH='' "$GO" build "${BUILDFLAGS[@]}" -ldflags "$LDFLAGS" -o "$tmp/vigil-updater-check" ./cmd/vigil-updater
if ! check=$(env -u VIGIL_TRUSTED_ROOT "$tmp/vigil-updater-check" self-check 2>&1) || [[ $check != *"$want"* ]]; then
	die "the root does not check out: $check" "ROOT must be a TUF root.json signed by its own root threshold."
fi
echo "release-artifacts: vigil-updater self-check: $check"

mkdir -p "$OUT"
for a in $ARCHES; do
	for b in "${BINARIES[@]}"; do
		rm -f "$OUT/$b-linux-$a"
	done
done
rm -f "$OUT/SHA256SUMS"

start_all=$SECONDS
built=()
for a in $ARCHES; do
	for b in "${BINARIES[@]}"; do
		f="$OUT/$b-linux-$a"
		built+=("$b-linux-$a")
		echo "building $f (linux/$a, $VERSION)…"
		start=$SECONDS
		GOARCH=$a "$GO" build "${BUILDFLAGS[@]}" -ldflags "$LDFLAGS" -o "$f" "./cmd/$b"
		size=$(stat -c %s "$f")
		printf 'built    %s: %d bytes (%d.%d MiB) in %ds\n' "$f" "$size" $((size / 1048576)) $((size % 1048576 * 10 / 1048576)) $((SECONDS - start))
	done
done

# The host's own architecture can be run: check the embedded root in the artifact itself.
host=$(GOOS='' GOARCH='' "$GO" env GOARCH)
if [ -f "$OUT/vigil-updater-linux-$host" ]; then
	check=$(env -u VIGIL_TRUSTED_ROOT "$OUT/vigil-updater-linux-$host" self-check 2>&1) || die "$OUT/vigil-updater-linux-$host self-check: $check"
	[[ $check == *"$want"* ]] || die "$OUT/vigil-updater-linux-$host self-check says \"$check\", want \"$want\"."
fi

(cd "$OUT" && sha256sum -- "${built[@]}" >SHA256SUMS)
echo "release-artifacts: $VERSION done in $((SECONDS - start_all))s; checksums in $OUT/SHA256SUMS:"
sed 's/^/  /' "$OUT/SHA256SUMS"
