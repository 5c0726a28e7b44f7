#!/usr/bin/env bash
# BENCHMARKS.md's scenarios, each run RUNS times (3), every run started only on
# an idle machine (load average below 0.5) and after an ANALYZE, as autovacuum
# would have done; prints each run's JSON and the medians.
#
#   scripts/bench.sh [scenario ...]     # default: every scenario below
#
# Needs a release build (cargo build --release) and a PostgreSQL at PGURL
# (default postgres://postgres@127.0.0.1:5432). It starts its own server on
# 127.0.0.1:$PORT (8080) against the database `bench` (created if missing),
# limits off so the generator is not throttled; BIN picks another binary
# (a before/after comparison in the same run). Output: OUT (target/bench)
# holds runs.jsonl and the server's log.
#
# `fresh` is the highest-rate scenario on a database created for the run, with
# a server of its own (port PORT+1): a new deployment's first seconds, while
# the planner's statistics still describe empty tables.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-target/release/pgchat}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-8080}
RUNS=${RUNS:-3}
OUT=${OUT:-target/bench}
URL="http://127.0.0.1:$PORT"
export PGCHAT_JWT_SECRET=bench-secret
mkdir -p "$OUT"

declare -A SCENARIO=(
  [rate]="fan-out --rate 0 --rooms 10 --subscribers 1 --publishers 20 --duration 10 --pgbench"
  [fanout1k]="fan-out --rate 1000 --rooms 10 --subscribers 10 --publishers 10 --duration 10"
  [fanout5k]="fan-out --rate 5000 --rooms 10 --subscribers 10 --publishers 20 --duration 10"
  [resume]="resume --backlog 10000"
  [storm]="storm --connections 1000 --rooms 100 --backlog 100"
  [support]="support --pairs 100 --duration 10"
  [fresh]="fan-out --rate 0 --rooms 10 --subscribers 1 --publishers 20 --duration 10"
)
ORDER=(rate fanout1k fanout5k resume storm support fresh)
[ $# -gt 0 ] && ORDER=("$@")

# serve DATABASE PORT LOG: starts a release server and waits until it is ready;
# its pid is in $SERVER.
serve() {
  PGCHAT_SEND_RATE=0 PGCHAT_WS_MAX_PER_USER=0 PGCHAT_WS_MAX_PER_IP=0 \
    DATABASE_URL="$PGURL/$1" PGCHAT_BIND="127.0.0.1:$2" \
    "$BIN" serve >"$3" 2>&1 &
  SERVER=$!
  until curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; do
    kill -0 $SERVER || { cat "$3"; exit 1; }
    sleep 0.2
  done
}

psql "$PGURL/postgres" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'bench'" | grep -q 1 \
  || psql "$PGURL/postgres" -qc "CREATE DATABASE bench"
serve bench "$PORT" "$OUT/server.log"
MAIN=$SERVER
trap 'kill $MAIN $SERVER 2>/dev/null; wait $MAIN $SERVER 2>/dev/null || true' EXIT

idle() {
  while awk '{ exit !($1 >= 0.5) }' /proc/loadavg; do sleep 5; done
}

for name in "${ORDER[@]}"; do
  for run in $(seq "$RUNS"); do
    idle
    url=$URL database=bench
    if [ "$name" = fresh ]; then
      database=bench_fresh url="http://127.0.0.1:$((PORT + 1))"
      psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
      serve "$database" "$((PORT + 1))" "$OUT/server-fresh.log"
      idle
    fi
    psql "$PGURL/$database" -qc ANALYZE
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086 # the scenario's words are its arguments
    line=$(DATABASE_URL="$PGURL/postgres" "$BIN" bench ${SCENARIO[$name]} --url "$url" --json | tail -1)
    echo "{\"scenario\": \"$name\", \"run\": $run, \"load_before\": $load, \"report\": $line}" | tee -a "$OUT/runs.jsonl"
    if [ "$name" = fresh ]; then
      kill $SERVER
      wait $SERVER 2>/dev/null || true
    fi
  done
done

python3 - "$OUT/runs.jsonl" "${ORDER[@]}" <<'EOF'
import json, statistics, sys
path, names = sys.argv[1], sys.argv[2:]
runs = [json.loads(l) for l in open(path)]
for name in names:
    reports = [r["report"] for r in runs if r["scenario"] == name][-3:]
    keys = [k for k, v in reports[-1].items() if isinstance(v, (int, float))]
    print(f"## {name}")
    for k in keys:
        vals = [r[k] for r in reports if isinstance(r.get(k), (int, float))]
        print(f"  {k}: median {statistics.median(vals):.4g} ({' / '.join(f'{v:.4g}' for v in vals)})")
EOF
