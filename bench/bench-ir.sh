#!/usr/bin/env bash
# bench-ir.sh [BUILD_DIR] -- instructions greenserve runs per keep-alive
# "Hello, World!" request, and the functions they go to.
#
# CPU time per request moves by 15% between runs on a shared VM, and the
# kernel's share (three quarters of it) is the same for any server that
# makes one recv and one send per request (bench-http.sh's floor). What a
# change to greenserve's own code does shows in its instruction count,
# which valgrind's cachegrind measures the same whatever else the machine
# is doing: greenserve (--workers 0, hello.so at /) runs under cachegrind
# while `wrk -t1 -c100 -d$DURATION` loads it; the total over wrk's
# requests is the figure, less what start-up and shutdown alone cost (a
# run without load). The functions listed include that start-up share.
#
# Environment: DURATION (5s), PORT (18085), TOP (25 functions listed).
set -euo pipefail

BUILD=${1:-build}
DURATION=${DURATION:-5s}
PORT=${PORT:-18085}
TOP=${TOP:-25}

BENCH=bench-ir
. "$(dirname "$0")/common.sh"

need valgrind cg_annotate wrk

# run OUT [wrk args...]: greenserve under cachegrind, loaded by wrk (or
# by nothing) -> the requests wrk completed
run() {
    local out=$1
    shift
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out" \
        "$BUILD/greenserve" --bind "127.0.0.1:$PORT" --workers 0 --error-log "$tmp/error.log" \
        "/=$BUILD/apps/hello.so" 2>"$tmp/valgrind.log" &
    local vg=$!
    pids+=("$vg")
    wait_port "$PORT"
    if [ $# -gt 0 ]; then
        wrk "$@" "http://127.0.0.1:$PORT/" | awk '/requests in/ {print $1}'
    else
        echo 0
    fi
    kill -TERM "$vg"
    wait "$vg" 2>/dev/null || true
}

total() { cg_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }

# Start-up and shutdown alone (plus wait_port's one connection), taken off
# the loaded run's total: what is left is the requests'.
run "$tmp/idle.out" >/dev/null
requests=$(run "$tmp/cg.out" -t1 -c100 -d"$DURATION")
idle=$(total "$tmp/idle.out")
busy=$(total "$tmp/cg.out")
echo "$requests requests, $(( (busy - idle) / requests )) instructions per request" \
    "(start-up and shutdown, $idle, left out)"
cg_annotate "$tmp/cg.out" 2>/dev/null | awk -v n="$requests" -v top="$TOP" '
    /^ *[0-9,]+ \(/ && !/PROGRAM TOTALS/ && shown < top {
        x = $1; gsub(",", "", x); f = $NF; sub(/^.*\//, "", f)
        printf "%8d  %s\n", x / n, f; shown++
    }'
