#!/usr/bin/env bash
# Soak: a release `pgchat serve` under steady fan-out load for a long time,
# sampling its /metrics every SAMPLE_SECS; fails when resident memory grows,
# the socket count drifts, or any send errs or delivery goes missing.
#
#   scripts/soak.sh                       # 10 minutes at 300 msg/s, 10 rooms × 10 subscribers
#   DURATION=3600 RATE=500 scripts/soak.sh
#
# Settings (environment): DURATION (s, 600), RATE (messages/s, 300), ROOMS (10),
# SUBSCRIBERS (per room, 10), PUBLISHERS (20: a customer and an agent per room,
# each below the default per-user send limit of 20/s), SAMPLE_SECS (30),
# WARMUP_SECS (60: RSS growth is measured from the first sample after it),
# RSS_GROWTH_MAX_MB (32), PORT (18480), DATABASE_URL (unset: the embedded
# PostgreSQL in a temporary data folder), SOAK_SKIP_BUILD=1 (use the built binary),
# OUT (folder for the samples, the server log and the bench report; target/soak).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-600}
RATE=${RATE:-300}
ROOMS=${ROOMS:-10}
SUBSCRIBERS=${SUBSCRIBERS:-10}
PUBLISHERS=${PUBLISHERS:-20}
SAMPLE_SECS=${SAMPLE_SECS:-30}
WARMUP_SECS=${WARMUP_SECS:-60}
RSS_GROWTH_MAX_MB=${RSS_GROWTH_MAX_MB:-32}
PORT=${PORT:-18480}
OUT=${OUT:-target/soak}
BIN=target/release/pgchat

if [ "${SOAK_SKIP_BUILD:-}" != 1 ]; then
  cargo build --release --bin pgchat
fi
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/pgchat-soak.XXXXXX)
chmod 755 "$DATA" # as root, the embedded PostgreSQL runs as `postgres` and must enter it
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
URL="http://127.0.0.1:$PORT"
SAMPLES="$OUT/samples.csv"
LOG="$OUT/server.log"
REPORT="$OUT/bench.json"

export PGCHAT_JWT_SECRET="$SECRET"
# Only the server may use the embedded cluster's data folder: the bench gets the secret.
PGCHAT_DATA_DIR="$DATA" PGCHAT_BIND="127.0.0.1:$PORT" PGCHAT_LOG_FORMAT=json RUST_LOG=warn \
  "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
cleanup() {
  if kill -0 "$SERVER" 2>/dev/null; then kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  if curl -fsS "$URL/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then echo "the server exited; see $LOG" >&2; exit 1; fi
  sleep 0.2
done
curl -fsS "$URL/readyz" >/dev/null

metric() { # metric NAME: its value in the scrape on stdin
  awk -v name="$1" '$1 == name { print $2; exit }'
}

echo "soak: ${DURATION}s at $RATE msg/s, $ROOMS rooms × $SUBSCRIBERS subscribers, $PUBLISHERS publishers; samples every ${SAMPLE_SECS}s in $SAMPLES"
echo "elapsed_s,rss_mb,ws_connections,pool_size,frames_delivered,messages_persisted,cpu_s" >"$SAMPLES"

"$BIN" bench fan-out --url "$URL" --json --duration "$DURATION" --rate "$RATE" \
  --rooms "$ROOMS" --subscribers "$SUBSCRIBERS" --publishers "$PUBLISHERS" >"$REPORT" 2>"$OUT/bench.err" &
BENCH=$!

START=$(date +%s)
while kill -0 "$BENCH" 2>/dev/null; do
  sleep "$SAMPLE_SECS" &
  wait $! || true
  kill -0 "$BENCH" 2>/dev/null || break # samples are of the load only
  scrape=$(curl -fsS "$URL/metrics" || true)
  [ -n "$scrape" ] || { echo "metrics scrape failed" >&2; continue; }
  now=$(( $(date +%s) - START ))
  rss=$(echo "$scrape" | metric pgchat_process_resident_memory_bytes)
  line=$(printf '%s,%s,%s,%s,%s,%s,%s' "$now" "$(awk -v b="$rss" 'BEGIN { printf "%.1f", b / 1048576 }')" \
    "$(echo "$scrape" | metric pgchat_ws_connections)" \
    "$(echo "$scrape" | metric pgchat_db_pool_size)" \
    "$(echo "$scrape" | metric pgchat_frames_delivered_total)" \
    "$(echo "$scrape" | metric pgchat_messages_persisted_total)" \
    "$(echo "$scrape" | metric pgchat_process_cpu_seconds_total)")
  echo "$line" >>"$SAMPLES"
  echo "  $line"
done
wait "$BENCH" || { echo "the bench failed:"; cat "$OUT/bench.err"; exit 1; }

# The verdict.
result=$(tail -n 1 "$REPORT")
field() { echo "$result" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', 0))"; }
errors=$(field errors)
missing=$(field missing_deliveries)
persisted=$(field persisted_per_s)
delivered=$(field deliveries_per_s)
p99=$(field p99_ms)
steady=$(awk -F, -v w="$WARMUP_SECS" 'NR > 1 && $1 >= w' "$SAMPLES")
rss_start=$(echo "$steady" | head -n 1 | cut -d, -f2)
rss_end=$(echo "$steady" | tail -n 1 | cut -d, -f2)
rss_max=$(echo "$steady" | cut -d, -f2 | sort -n | tail -n 1)
conn_min=$(echo "$steady" | cut -d, -f3 | sort -n | head -n 1)
conn_max=$(echo "$steady" | cut -d, -f3 | sort -n | tail -n 1)
growth=$(awk -v a="${rss_start:-0}" -v b="${rss_end:-0}" 'BEGIN { printf "%.1f", b - a }')

# A graceful stop must end the process cleanly (exit 0) within the drain time.
kill -TERM "$SERVER"
exit_code=0
wait "$SERVER" || exit_code=$?

echo
echo "soak verdict"
printf '  load:        %s s, %s msg/s persisted, %s deliveries/s, p99 %s ms\n' "$DURATION" "$persisted" "$delivered" "$p99"
printf '  errors:      %s, missing deliveries: %s\n' "$errors" "$missing"
printf '  RSS (MB):    %s after warm-up → %s at the end (max %s; growth %s, allowed %s)\n' "$rss_start" "$rss_end" "$rss_max" "$growth" "$RSS_GROWTH_MAX_MB"
printf '  sockets:     %s–%s during the run\n' "$conn_min" "$conn_max"
printf '  SIGTERM:     exit %s\n' "$exit_code"
fail=0
[ "$errors" = 0 ] || { echo "FAIL: $errors errors"; fail=1; }
[ "$missing" = 0 ] || { echo "FAIL: $missing deliveries missing"; fail=1; }
[ -n "$rss_start" ] || { echo "FAIL: no sample after the warm-up (DURATION too short?)"; fail=1; }
if [ -n "$rss_start" ] && awk -v g="$growth" -v m="$RSS_GROWTH_MAX_MB" 'BEGIN { exit !(g > m) }'; then
  echo "FAIL: RSS grew by ${growth} MB"; fail=1
fi
[ "$conn_min" = "$conn_max" ] || { echo "FAIL: the socket count drifted ($conn_min–$conn_max)"; fail=1; }
[ "$exit_code" = 0 ] || { echo "FAIL: the server exited with $exit_code on SIGTERM"; fail=1; }
if [ "$fail" = 0 ]; then echo "PASS"; fi
exit "$fail"
