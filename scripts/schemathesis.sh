#!/usr/bin/env bash
# Property-based fuzzing of the REST API from its own OpenAPI document
# (docs/openapi.json) with schemathesis: every operation gets generated valid
# and invalid requests, as an admin and as a customer; the check is that the
# server never answers 5xx (and that responses keep to the document's status
# codes with `CHECKS=all`). Not part of CI: it needs schemathesis from PyPI.
#
#   python3 -m venv /tmp/st && /tmp/st/bin/pip install schemathesis
#   ST=/tmp/st/bin/schemathesis scripts/schemathesis.sh
#
# Settings: ST (the schemathesis executable), MAX_EXAMPLES (per operation, 50),
# CHECKS (not_a_server_error), PORT (18481), SKIP_BUILD=1, OUT (target/schemathesis).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ST=${ST:-schemathesis}
MAX_EXAMPLES=${MAX_EXAMPLES:-50}
CHECKS=${CHECKS:-not_a_server_error}
PORT=${PORT:-18481}
OUT=${OUT:-target/schemathesis}
BIN=target/release/pgchat
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --bin pgchat
mkdir -p "$OUT"
ROOT=$(pwd)
DATA=$(mktemp -d /tmp/pgchat-st.XXXXXX)
chmod 755 "$DATA" # as root, the embedded PostgreSQL runs as `postgres` and must enter it
export PGCHAT_JWT_SECRET
PGCHAT_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
URL="http://127.0.0.1:$PORT"
# Generous limits: the fuzzer is one user sending fast, and limits are tested elsewhere.
PGCHAT_DATA_DIR="$DATA" PGCHAT_BIND="127.0.0.1:$PORT" PGCHAT_SEND_RATE=0 PGCHAT_EPHEMERAL_RATE=0 \
  PGCHAT_DEV=1 RUST_LOG=warn "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 600); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { echo "the server exited; see $OUT/server.log" >&2; exit 1; }
  sleep 0.2
done

status=0
for who in "root admin" "carol user" "ann agent"; do
  set -- $who
  token=$("$BIN" token --sub "$1" --role "$2" --ttl 7200)
  echo "== schemathesis as $1 ($2)"
  # Streams and long polls hold the connection open by design.
  # Run from $OUT: schemathesis keeps its cache (.schemathesis/) in the working folder.
  (cd "$OUT" && "$ST" run "$ROOT/docs/openapi.json" --url "$URL" -H "Authorization: Bearer $token" \
    --checks "$CHECKS" --max-examples "$MAX_EXAMPLES" --request-timeout 30 \
    --exclude-path /v1/ws --exclude-path /v1/events --exclude-path '/v1/conversations/{id}/poll' \
    --report junit --report-junit-path "$1.xml") || status=$?
done
if grep -q '"status":500\| 500 ' "$OUT/server.log" 2>/dev/null; then
  echo "the server logged a 500:"; grep -m5 '500' "$OUT/server.log"; status=1
fi
exit $status
