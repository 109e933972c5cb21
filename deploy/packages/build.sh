#!/bin/sh
# build.sh: build the vigil-host and vigil-server .deb and .rpm for each architecture with nfpm.
# Used by `make packages` and by deploy/packages_test.go. Run from anywhere; the environment says
# what to build:
#
#   VERSION   package version (required; must start with a digit, as dpkg and rpm require)
#   DIST      directory holding vigil-{updater,agent}-linux-<arch> (release-artifacts) [dist]
#   SERVER_DIST  directory holding vigil-server-linux-<arch>                          [$DIST]
#   OUT       where the packages go                                                   [$DIST]
#   ARCHES    GOARCH values                                                           [amd64 arm64]
#   PACKAGERS nfpm packagers                                                          [deb rpm]
#   NFPM      the nfpm command           [go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2]
#   SOURCE_DATE_EPOCH  timestamp of every file and header        [the last commit's time]
#
# The same inputs give byte-identical packages (nfpm honours SOURCE_DATE_EPOCH).
set -eu

cd "$(dirname "$0")/../.."
: "${VERSION:?set VERSION}"
DIST="${DIST:-dist}"
SERVER_DIST="${SERVER_DIST:-$DIST}"
OUT="${OUT:-$DIST}"
ARCHES="${ARCHES:-amd64 arm64}"
PACKAGERS="${PACKAGERS:-deb rpm}"
NFPM="${NFPM:-go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH

case "$VERSION" in
[0-9]*) ;;
*)
	echo "build.sh: package version \"$VERSION\" must start with a digit (make packages VERSION=1.2.3)" >&2
	exit 1
	;;
esac

mkdir -p "$OUT"
cfg="$(mktemp)"
trap 'rm -f "$cfg"' EXIT
for arch in $ARCHES; do
	for f in "$DIST/vigil-updater-linux-$arch" "$DIST/vigil-agent-linux-$arch" "$SERVER_DIST/vigil-server-linux-$arch"; do
		if [ ! -f "$f" ]; then
			echo "build.sh: $f is missing (make packages builds it)" >&2
			exit 1
		fi
	done
	for pkg in vigil-host vigil-server; do
		for packager in $PACKAGERS; do
			# nfpm does not expand the environment in contents, so fill the variables in here.
			sed -e "s|\${VERSION}|$VERSION|g; s|\${ARCH}|$arch|g; s|\${DIST}|$DIST|g; s|\${SERVER_DIST}|$SERVER_DIST|g" \
				"deploy/packages/$pkg.yaml" >"$cfg"
			# shellcheck disable=SC2086 # NFPM is a command line
			$NFPM pkg --config "$cfg" --packager "$packager" --target "$OUT/"
		done
	done
done
