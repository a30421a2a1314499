#!/usr/bin/env bash
# bench-slowloris.sh [BUILD_DIR] -- a normal client's throughput on one
# worker, alone and then beside SLOW slowloris clients held on the same
# worker (each sends "GET /hello HTTP/1.1\r\nHost: t\r\n" and then one
# header byte a second, never ending its head).
#
# greenserve --workers 1 --header-timeout 60s /hello=apps/hello.so; the
# normal load is wrk -t1 -cCONNS -dDURATION on /hello (keep-alive). The
# slow clients are a small Python program (one thread, non-blocking
# sockets); it checks that all of them are still open when wrk ends, so
# the second figure is measured with every one of them held.
#
# Environment: SLOW (1000), CONNS (10), DURATION (10s, below the header
# timeout), PORT (18095). Prints both figures and a Markdown row.
set -euo pipefail

BUILD=${1:-build}
SLOW=${SLOW:-1000}
CONNS=${CONNS:-10}
DURATION=${DURATION:-10s}
PORT=${PORT:-18095}
HERE=$(cd "$(dirname "$0")" && pwd)

BENCH=bench-slowloris
. "$HERE/common.sh"

need wrk

"$BUILD/greenserve" --workers 1 --bind "127.0.0.1:$PORT" --header-timeout 60s \
    --error-log "$tmp/error.log" "/hello=$BUILD/apps/hello.so" &
pids+=($!)
wait_port "$PORT"

rps() {
    wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/hello" |
        awk '/^Requests\/sec/ {print $2}'
}

cat >"$tmp/slow.py" <<'EOF'
import signal, socket, sys, time

port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
    s.setblocking(False)
    socks.append(s)
print("connected", len(socks), flush=True)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
alive = n
while not stop:
    t0 = time.monotonic()
    alive = 0
    for s in socks:
        try:
            s.send(b"a")
            alive += 1
        except OSError:
            pass
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
print("open", alive, flush=True)
EOF

alone=$(rps)
echo "alone: $alone requests/s"

python3 "$tmp/slow.py" "$PORT" "$SLOW" >"$tmp/slow.out" &
slow=$!
pids+=($slow)
for _ in $(seq 200); do grep -q connected "$tmp/slow.out" && break; sleep 0.05; done
grep -q "connected $SLOW" "$tmp/slow.out" || die "the slow clients did not all connect"
sleep 1
beside=$(rps)
kill "$slow"
wait "$slow" || true
open=$(awk '/^open/ {print $2}' "$tmp/slow.out")
[ "$open" = "$SLOW" ] || die "only $open of $SLOW slow clients were still open at the end"
echo "beside $SLOW slowloris clients (all still open): $beside requests/s"

echo
echo "| normal client (wrk -t1 -c$CONNS, /hello, 1 worker) | requests/s |"
echo "|---|---|"
echo "| alone | $alone |"
echo "| beside $SLOW slowloris clients (a header byte a second each) | $beside |"
