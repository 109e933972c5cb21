#!/usr/bin/env bash
# make demo: run vigil-server (embedded SQLite, self-made TLS) and a local agent against it.
# Everything lives in ./demo-data; Ctrl-C stops it all. Run it again to continue where you left off.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${VIGIL_DEMO_DIR:-$PWD/demo-data}
LISTEN=${VIGIL_DEMO_LISTEN:-127.0.0.1:8443}
URL="https://$LISTEN"
SERVER_DIR="$DATA/server"
mkdir -p "$DATA"
chmod 700 "$DATA"

pids=()
stopping=
cleanup() {
	stopping=1
	trap - INT TERM EXIT
	echo
	echo "Stopping the demo…"
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; then
	echo "Something already listens on $LISTEN; set VIGIL_DEMO_LISTEN=127.0.0.1:PORT to use another port." >&2
	exit 1
fi

bin/vigil-server --data-dir "$SERVER_DIR" --listen "$LISTEN" >>"$DATA/server.log" 2>&1 &
pids+=($!)

# Wait for the server to answer (it makes its CA and admin token on first start).
CA="$SERVER_DIR/tls/ca.pem"
for _ in $(seq 1 100); do
	if [ -f "$CA" ] && bin/vigilctl --server "$URL" --ca "$CA" --token "$(cat "$SERVER_DIR/admin-token" 2>/dev/null || true)" groups ls >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "vigil-server exited; see $DATA/server.log:" >&2
		tail -20 "$DATA/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
TOKEN_FILE="$SERVER_DIR/admin-token"
export VIGIL_SERVER="$URL" VIGIL_CA="$CA"
VIGIL_TOKEN=$(cat "$TOKEN_FILE")
export VIGIL_TOKEN

# A signed release repository on the demo server: one root key and one targets key (threshold 1),
# encrypted with a demo passphrase. Real repositories use several release engineers' keys; see
# docs/releasing.md. The local agent build is released as DEMO_VERSION on the stable channel and
# the default group follows stable, so vigil-updater installs it, verifies it and supervises it.
DEMO_VERSION=${VIGIL_DEMO_VERSION:-1.0.0}
KEYS="$DATA/keys"
export VIGIL_KEY_PASSPHRASE=${VIGIL_KEY_PASSPHRASE:-vigil-demo-only}
# The release engineer's trusted root (vigilctl verifies the server's roots against it) stays in the demo.
export VIGIL_TRUSTED_ROOT="$KEYS/trusted-root.json"
if [ ! -f "$DATA/released-$DEMO_VERSION" ]; then
	mkdir -p "$KEYS" "$DATA/dist"
	chmod 700 "$KEYS"
	echo "Signing a demo release $DEMO_VERSION of vigil-agent (keys in $KEYS)…"
	[ -f "$KEYS/root.key" ] || bin/vigilctl keys gen --out "$KEYS/root.key" >/dev/null
	[ -f "$KEYS/targets.key" ] || bin/vigilctl keys gen --out "$KEYS/targets.key" >/dev/null
	if bin/vigilctl repo status 2>/dev/null | grep -q 'not initialized'; then
		bin/vigilctl repo init --root-key "$KEYS/root.key" --root-threshold 1 \
			--targets-key "$KEYS/targets.key" --targets-threshold 1 >/dev/null
	fi
	arch=$(go env GOARCH)
	# A release build, as a release engineer makes one: vigil-updater embeds this repository's root.
	VERSION=$DEMO_VERSION ROOT="$SERVER_DIR/tuf/metadata/1.root.json" ARCHES=$arch OUT="$DATA/dist" \
		deploy/release-artifacts.sh >/dev/null
	bin/vigilctl release stage "$DEMO_VERSION" "$DATA/dist/vigil-agent-linux-$arch" "$DATA/dist/vigil-updater-linux-$arch" --channel stable >/dev/null
	bin/vigilctl release sign "$DEMO_VERSION" --key "$KEYS/targets.key" --yes >/dev/null
	bin/vigilctl release publish "$DEMO_VERSION" >/dev/null 2>&1
	bin/vigilctl groups pin default --channel stable >/dev/null
	touch "$DATA/released-$DEMO_VERSION"
fi

# The supervisor: installs the stable agent from the signed repository (trusting root version 1,
# embedded in its release build), then runs it. The agent runs as this user here; on a real host as the unprivileged "vigil".
UPDATER_DIR="$DATA/updater"
mkdir -p "$UPDATER_DIR"
enroll=()
if [ ! -f "$UPDATER_DIR/agent/credential" ]; then
	enroll=(--enroll-token "$(bin/vigilctl enroll create-token --group default --ttl 1h --max-uses 1 2>/dev/null)")
fi
VIGIL_TOKEN='' VIGIL_CA='' VIGIL_SERVER='' VIGIL_TRUSTED_ROOT='' "$DATA/dist/vigil-updater-linux-$(go env GOARCH)" run --server "$URL" --ca "$CA" \
	--state-dir "$UPDATER_DIR" --agent-user "" --poll 1m \
	"${enroll[@]}" >>"$DATA/updater.log" 2>&1 &
pids+=($!)

fp=$(grep -o 'ca_sha256=[0-9a-f]*' "$DATA/server.log" | tail -1 | cut -d= -f2)
cat <<MSG

Vigil demo is running ($(bin/vigil-server --version)).

  Dashboard         $URL/   (API under $URL/api/v1)
  Sign in as        user "admin", password in $SERVER_DIR/admin-password
  Admin API token   $TOKEN_FILE (for vigilctl)
  CA certificate    $CA
  CA fingerprint    $fp
  Logs              $DATA/server.log, $DATA/updater.log (the agent logs through its supervisor)
  Release keys      $KEYS (demo passphrase: VIGIL_KEY_PASSPHRASE=$VIGIL_KEY_PASSPHRASE)

Try, in another shell:
  export VIGIL_SERVER=$URL VIGIL_CA=$CA VIGIL_TOKEN=\$(cat $TOKEN_FILE)
  bin/vigilctl hosts ls          # the local agent appears within ~10 s
  bin/vigilctl groups ls         # default follows the stable channel
  bin/vigilctl release ls
  bin/vigilctl users add alice --role operator     # asks for a password; then sign in as alice
  bin/vigilctl audit --since 1h
  $DATA/dist/vigil-updater-linux-$(go env GOARCH) status --state-dir $UPDATER_DIR

Ctrl-C stops the demo.
MSG
wait -n "${pids[@]}" || true
if [ -z "$stopping" ]; then
	echo "A demo process exited; last log lines:" >&2
	tail -n 5 "$DATA/server.log" "$DATA/updater.log" >&2
	exit 1
fi
