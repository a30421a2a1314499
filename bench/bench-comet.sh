#!/usr/bin/env bash
# bench-comet.sh [BUILD_DIR] -- many waiting COMET clients: greenserve's
# apps/chat.so long-poll against nginx (idle keep-alive clients) and
# gunicorn's eventlet worker (bench/longpoll_wsgi.py), in one run.
#
# Each scenario starts its server fresh, then build/bench/comet_client
# (one process per CLIENT_CONNS connections at most: a process holds fewer
# connections than the 20,000 open-files hard limit):
#   idle N on W workers   N clients park; figures: connections accepted per
#                         second (N / time until the server processes hold
#                         N more descriptors) and RSS per waiting client
#                         (the server processes' summed VmRSS, master
#                         included, after the clients settled minus before,
#                         divided by N)
#   fan-out N             the same with one client process, then one POST
#                         publish; each waiter's delay from the publish's
#                         send to its answer's first bytes: p50, p99, and
#                         answers per second
# greenserve: GET /chat/poll?room=R&after=0&timeout=3600 (one worker:
# --workers 1; the big scenario --workers BIG_WORKERS --reuse-port).
# nginx-light: GET / answered at once, the connection then idle
# (keepalive_timeout 3600s). gunicorn -k eventlet: GET waits on an
# eventlet Event until POST publishes.
#
# Environment: SIZES ("10000 19000": idle on one worker), BIG (50000, on
# BIG_WORKERS=4 workers; empty skips), FANOUT (10000; empty skips),
# FANOUT_WORKERS ("2": the fan-out again on each of these worker counts;
# then on one worker with --stash-after off, and bench/send_floor, the
# kernel alone), SSE (10000 event streams idle on one worker; empty
# skips), PEER_SIZES ("10000"
# for gunicorn; its fan-out uses FANOUT), CLIENT_CONNS (17000), PORT
# (18090). Prints one line per figure and a Markdown table at the end.
set -euo pipefail

BUILD=${1:-build}
SIZES=${SIZES-"10000 19000"}
BIG=${BIG-50000}
BIG_WORKERS=${BIG_WORKERS:-4}
FANOUT=${FANOUT-10000}
FANOUT_WORKERS=${FANOUT_WORKERS-2}
SSE=${SSE-10000}
PEER_SIZES=${PEER_SIZES-"10000"}
CLIENT_CONNS=${CLIENT_CONNS:-17000}
PORT=${PORT:-18090}
CLIENT=$BUILD/bench/comet_client
HERE=$(cd "$(dirname "$0")" && pwd)

BENCH=bench-comet
. "$HERE/common.sh"

[ -x "$CLIENT" ] || die "$CLIENT is missing (make bench-comet builds it)"
[ -x "$BUILD/bench/send_floor" ] || die "$BUILD/bench/send_floor is missing (make bench-comet builds it)"
need nginx
if ! command -v gunicorn >/dev/null || ! python3 -c 'import eventlet' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || die "gunicorn and python3-eventlet are missing (make deps)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        gunicorn python3-eventlet >/dev/null
fi

# Many green threads: two mappings per stack. Many clients: ports and a
# deep accept queue. Raised only when root and lower.
raise() { # raise KEY MIN
    local v
    v=$(sysctl -n "$1" | awk '{print $NF}')
    if [ "$v" -lt "$2" ]; then
        [ "$(id -u)" = 0 ] && sysctl -qw "$1=$2" || echo "bench-comet: $1 is $v (< $2)" >&2
    fi
}
raise vm.max_map_count 262144
raise net.core.somaxconn 4096

# The server's processes: the one started and its children.
tree() { echo "$1" $(pgrep -P "$1" || true); }

rss_kb() {
    local total=0 p
    for p in $(tree "$1"); do
        total=$(( total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status") ))
    done
    echo "$total"
}

fds() {
    local total=0 p
    for p in $(tree "$1"); do
        total=$(( total + $(ls "/proc/$p/fd" | wc -l) ))
    done
    echo "$total"
}

now() { date +%s.%N; }

# stop PID: the server and what it started, by pid.
stop() {
    local p kids
    kids=$(pgrep -P "$1" || true)
    kill "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    for p in $1 $kids; do kill -9 "$p" 2>/dev/null || true; done
    wait "$1" 2>/dev/null || true
}

start_greenserve() { # WORKERS [more options] -> $srv
    local w=$1
    shift
    "$BUILD/greenserve" --bind "127.0.0.1:$PORT" --workers "$w" --max-conns 19990 \
        --error-log "$tmp/greenserve.log" "$@" \
        "/chat=$BUILD/apps/chat.so:max_timeout=3600000" &
    srv=$!
    pids+=("$srv")
    wait_port "$PORT"
    # Every worker up (each starts its hub after the master listens).
    for _ in $(seq 100); do
        [ "$(pgrep -c -P "$srv" || true)" -ge "$w" ] && break
        sleep 0.05
    done
    sleep 0.5
}

start_nginx() { # WORKERS -> $srv
    local dir="$tmp/nginx"
    nginx_conf "$dir" "$1" 19990 3600s "127.0.0.1:$PORT reuseport backlog=4096"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    srv=$!
    pids+=("$srv")
    wait_port "$PORT"
    sleep 0.5
}

start_gunicorn() { # -> $srv
    gunicorn -k eventlet --workers 1 --worker-connections 20000 --backlog 4096 \
        --timeout 3600 --keep-alive 3600 -b "127.0.0.1:$PORT" --chdir "$HERE" \
        --error-logfile "$tmp/gunicorn.log" longpoll_wsgi:app &
    srv=$!
    pids+=("$srv")
    wait_port "$PORT"
    sleep 1
}

# clients N PATH [comet_client options] -> $cpids, each process's output in
# $tmp/client.K; source addresses 127.0.0.2 on, 8 per process.
clients() {
    local n=$1 path=$2 k=0 each
    shift 2
    cpids=()
    while [ "$n" -gt 0 ]; do
        each=$(( n < CLIENT_CONNS ? n : CLIENT_CONNS ))
        "$CLIENT" -p "$PORT" -n "$each" -u "$path" -f $(( 2 + 8 * k )) -a 8 "$@" \
            >"$tmp/client.$k" &
        cpids+=($!)
        pids+=($!)
        n=$(( n - each ))
        k=$(( k + 1 ))
    done
}

stop_clients() {
    local p
    for p in "${cpids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${cpids[@]}"; do wait "$p" 2>/dev/null || true; done
}

# The clients' ready lines, once all printed; fails past 180 s.
await_ready() {
    local k
    for _ in $(seq 1800); do
        k=$(cat "$tmp"/client.* 2>/dev/null | grep -c '^ready' || true)
        [ "$k" -ge "${#cpids[@]}" ] && return 0
        sleep 0.1
    done
    die "clients not ready in 180 s: $(cat "$tmp"/client.*)"
}

# idle NAME N PATH [client options]: the server is $srv. Sets $rate, $per.
idle() {
    local name=$1 n=$2 path=$3 base before t0 t1 r prev
    shift 3
    rm -f "$tmp"/client.*
    base=$(fds "$srv")
    before=$(rss_kb "$srv")
    t0=$(now)
    clients "$n" "$path" "$@"
    # Until the server holds them all, or (some failed) holds no more
    # for 1 s once every client is ready.
    local have last=0 still=0
    for _ in $(seq 6000); do
        have=$(fds "$srv")
        [ "$have" -ge $(( base + n )) ] && break
        if [ "$have" = "$last" ] && [ "$(cat "$tmp"/client.* | grep -c '^ready')" -ge "${#cpids[@]}" ]; then
            still=$(( still + 1 ))
            [ "$still" -ge 50 ] && break
        else
            still=0
        fi
        last=$have
        sleep 0.02
    done
    t1=$(now)
    await_ready
    # The last requests read and parked, and the parked stacks stashed
    # (within 2 s of parking, runtime/hub.c): RSS steady for 3 s.
    prev=0 still=0
    for _ in $(seq 60); do
        r=$(rss_kb "$srv")
        if [ "$r" = "$prev" ]; then
            still=$(( still + 1 ))
            [ "$still" -ge 3 ] && break
        else
            still=0
        fi
        prev=$r
        sleep 1
    done
    failed=$(cat "$tmp"/client.* | sed -n 's/^ready.* failed=\([0-9]*\).*/\1/p' | paste -sd+ | bc)
    rate=$(echo "$n / ($t1 - $t0)" | bc -l)
    per=$(echo "($r - $before) / $n" | bc -l)
    printf '%-32s clients %6d failed %d  accepted/s %7.0f  RSS %7d -> %7d KiB  %.2f KiB/client\n' \
        "$name" "$n" "$failed" "$rate" "$before" "$r" "$per"
    printf '%s|%d|%.0f|%.2f\n' "$name" "$n" "$rate" "$per" >>"$tmp/table"
}

# fanout NAME: after idle with one client process given -P; sets $fan.
fanout() {
    kill -USR1 "${cpids[0]}"
    for _ in $(seq 1200); do
        grep -q '^fanout' "$tmp/client.0" && break
        sleep 0.1
    done
    fan=$(grep '^fanout' "$tmp/client.0" || echo "fanout (none in 120 s)")
    echo "$1 $fan"
    echo "$1|$fan" >>"$tmp/fantable"
}

# A fresh room per scenario: nothing in its history answers a poll early.
gs_room=0
gs_path() { echo "/chat/poll?room=b$gs_room&after=0&timeout=3600"; }

echo "# $(date -u +%FT%TZ) $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || true)" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"

# greenserve, one worker: fan-out on the first size, idle on each.
first=1
for n in $SIZES; do
    start_greenserve 1
    gs_room=$(( gs_room + 1 ))
    if [ "$first" = 1 ] && [ "$n" -le "$CLIENT_CONNS" ] && [ -n "$FANOUT" ]; then
        idle "greenserve 1 worker" "$FANOUT" "$(gs_path)" -P "/chat/send?room=b$gs_room"
        fanout "greenserve"
        first=0
        if [ "$n" != "$FANOUT" ]; then
            stop_clients
            gs_room=$(( gs_room + 1 ))
            idle "greenserve 1 worker" "$n" "$(gs_path)"
        fi
    else
        idle "greenserve 1 worker" "$n" "$(gs_path)"
    fi
    stop_clients
    stop "$srv"
    start_nginx 1
    idle "nginx 1 worker" "$n" / -k
    stop_clients
    stop "$srv"
done

# Event streams between events: each client's GET /chat/events gets the
# stream's head and a first comment, then waits.
if [ -n "$SSE" ]; then
    start_greenserve 1
    idle "greenserve 1 worker, event streams" "$SSE" "/chat/events?room=sse"
    stop_clients
    stop "$srv"
fi

# The same fan-out spread over more workers (one per CPU), and the
# kernel's floor for it: bare send()s on established loopback connections.
if [ -n "$FANOUT" ]; then
    for w in $FANOUT_WORKERS; do
        start_greenserve "$w"
        gs_room=$(( gs_room + 1 ))
        idle "greenserve $w workers" "$FANOUT" "$(gs_path)" -P "/chat/send?room=b$gs_room"
        fanout "greenserve-${w}-workers"
        stop_clients
        stop "$srv"
    done
    # Stacks never stashed: the page fault each stashed waiter pays on
    # waking, against its memory.
    start_greenserve 1 --stash-after off
    gs_room=$(( gs_room + 1 ))
    idle "greenserve 1 worker, --stash-after off" "$FANOUT" "$(gs_path)" \
        -P "/chat/send?room=b$gs_room"
    fanout "greenserve-stash-off"
    stop_clients
    stop "$srv"
    # Two descriptors a connection: at most 9,000 under the 20,000 limit;
    # the floor for FANOUT sends is scaled from the time per send.
    fn=$(( FANOUT < 9000 ? FANOUT : 9000 ))
    floor=$("$BUILD/bench/send_floor" -n "$fn" -p "$PORT")
    per=$(echo "$floor" | sed -n 's/.*us_per_send=\([0-9.]*\).*/\1/p')
    floor="$floor floor_for_${FANOUT}_ms=$(echo "$per * $FANOUT / 1000" | bc -l | cut -c1-6)"
    echo "$floor"
    echo "kernel|$floor" >>"$tmp/fantable"
fi

if [ -n "$BIG" ]; then
    start_greenserve "$BIG_WORKERS" --reuse-port
    idle "greenserve $BIG_WORKERS workers" "$BIG" "$(gs_path)"
    stop_clients
    stop "$srv"
    start_nginx "$BIG_WORKERS"
    idle "nginx $BIG_WORKERS workers" "$BIG" / -k
    stop_clients
    stop "$srv"
fi

first=1
for n in $PEER_SIZES; do
    start_gunicorn
    if [ "$first" = 1 ] && [ -n "$FANOUT" ]; then
        idle "gunicorn eventlet 1 worker" "$FANOUT" "/poll?timeout=3600" -P "/send"
        fanout "gunicorn-eventlet"
        first=0
        if [ "$n" != "$FANOUT" ]; then stop_clients; idle "gunicorn eventlet 1 worker" "$n" "/poll?timeout=3600"; fi
    else
        idle "gunicorn eventlet 1 worker" "$n" "/poll?timeout=3600"
    fi
    stop_clients
    stop "$srv"
done

echo
echo "| server | waiting clients | accepted/s | RSS per client |"
echo "|---|---:|---:|---:|"
awk -F'|' '{printf "| %s | %\047d | %\047d | %.2f KiB |\n", $1, $2, $3, $4}' "$tmp/table"
[ -f "$tmp/fantable" ] && sed 's/^/    /' "$tmp/fantable"
exit 0
