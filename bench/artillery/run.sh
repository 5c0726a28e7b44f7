#!/usr/bin/env bash
# Runs the artillery scenario against a running pgchat server and prints its
# summary. Usage: PGCHAT_JWT_SECRET=… bench/artillery/run.sh http://127.0.0.1:8080
# (the server should run with PGCHAT_SEND_RATE=0: every virtual user is one customer).
set -euo pipefail
url=${1:-http://127.0.0.1:8080}
here=$(cd "$(dirname "$0")" && pwd)
pgchat=${PGCHAT_BIN:-$here/../../target/release/pgchat}
[ -d "$here/node_modules/artillery" ] || (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund)
token=$("$pgchat" token --sub artillery-customer --role user --name Artillery)
conversation=$(curl -sf -X POST "$url/v1/support/sessions" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d "{\"subject\":\"artillery\",\"message\":{\"body\":\"hello\",\"client_msg_id\":\"$(cat /proc/sys/kernel/random/uuid)\"}}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["conversation_id"])')
export PGCHAT_WS="${url/http/ws}/v1/ws?token=$token" PGCHAT_CONVERSATION=$conversation
cd "$here" && npx artillery run chat.yml
