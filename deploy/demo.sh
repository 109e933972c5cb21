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

AGENT_DIR="$DATA/agent"
mkdir -p "$AGENT_DIR"
enroll=()
if [ ! -f "$AGENT_DIR/credential" ]; then
	enroll=(--enroll-token "$(bin/vigilctl enroll create-token --group default --ttl 1h --max-uses 1 2>/dev/null)")
fi
VIGIL_TOKEN='' bin/vigil-agent --server "$URL" --ca "$CA" --state-dir "$AGENT_DIR" --interval 10s "${enroll[@]}" >>"$DATA/agent.log" 2>&1 &
pids+=($!)

fp=$(grep -o 'ca_sha256=[0-9a-f]*' "$DATA/server.log" | tail -1 | cut -d= -f2)
cat <<MSG

Vigil demo is running ($(bin/vigil-server --version)).

  Dashboard         $URL   (sign in with the admin API token; API under $URL/api/v1)
  Admin API token   $TOKEN_FILE
  CA certificate    $CA
  CA fingerprint    $fp
  Logs              $DATA/server.log, $DATA/agent.log

Try, in another shell:
  export VIGIL_SERVER=$URL VIGIL_CA=$CA VIGIL_TOKEN=\$(cat $TOKEN_FILE)
  bin/vigilctl hosts ls          # the local agent appears within ~10 s
  bin/vigilctl groups ls

Ctrl-C stops the demo.
MSG
wait -n "${pids[@]}" || true
if [ -z "$stopping" ]; then
	echo "A demo process exited; last log lines:" >&2
	tail -n 5 "$DATA/server.log" "$DATA/agent.log" >&2
	exit 1
fi
