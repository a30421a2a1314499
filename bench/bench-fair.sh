#!/usr/bin/env bash
# bench-fair.sh [BUILD_DIR] [greenserve options...] -- how evenly workers
# share long-lived connections.
#
# greenserve --workers WORKERS --status ... /chat=apps/chat.so, plus the
# options given (e.g. --reuse-port); then N long-poll clients
# (build/bench/comet_client, "GET /chat/poll?room=fair&after=0&timeout=3600")
# connect and park. Once every request is sent and the status endpoint
# counts them all, it prints each worker's active connections and share,
# and the largest share.
#
# Environment: N (8000), WORKERS (4), PORT (18096; the status on PORT+1).
set -euo pipefail

BUILD=${1:-build}
shift || true
N=${N:-8000}
WORKERS=${WORKERS:-4}
PORT=${PORT:-18096}
CLIENT=$BUILD/bench/comet_client
HERE=$(cd "$(dirname "$0")" && pwd)

BENCH=bench-fair
. "$HERE/common.sh"

[ -x "$CLIENT" ] || die "$CLIENT is missing (make $CLIENT builds it)"

"$BUILD/greenserve" --workers "$WORKERS" --bind "127.0.0.1:$PORT" \
    --status "127.0.0.1:$((PORT + 1))" --error-log "$tmp/error.log" "$@" \
    "/chat=$BUILD/apps/chat.so" &
pids+=($!)
wait_port "$PORT"
wait_port "$((PORT + 1))"
# Every worker listening (the master logs each one ready).
for _ in $(seq 200); do
    [ "$(grep -c ' ready (generation' "$tmp/error.log" || true)" -ge "$WORKERS" ] && break
    sleep 0.05
done

"$CLIENT" -p "$PORT" -n "$N" -u "/chat/poll?room=fair&after=0&timeout=3600" -f 2 -a 8 \
    >"$tmp/client.out" &
pids+=($!)
for _ in $(seq 1200); do grep -q '^ready' "$tmp/client.out" && break; sleep 0.1; done
grep -q '^ready' "$tmp/client.out" || die "clients not ready: $(cat "$tmp/client.out")"

# The status figures follow each worker's heartbeat: wait for the total.
share() {
    curl -s "http://127.0.0.1:$((PORT + 1))/" | python3 -c '
import json, sys
ws = [w for w in json.load(sys.stdin)["workers"] if w["state"] == "ready"]
total = sum(w["active_connections"] for w in ws)
print(total, ",".join(str(w["active_connections"]) for w in ws),
      max(w["active_connections"] for w in ws) * 100.0 / max(total, 1))'
}
for _ in $(seq 100); do
    read -r total counts top <<<"$(share)"
    [ "$total" -ge "$N" ] && break
    sleep 0.1
done
echo "$(grep '^ready' "$tmp/client.out")"
echo "options: ${*:-(none)}; $total connections on $WORKERS workers: $counts; largest share ${top%.*}%"
