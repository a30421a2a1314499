#!/usr/bin/env bash
# bench-http.sh [BUILD_DIR] -- greenserve against nginx on "Hello, World!".
#
# Part 1, one process each: greenserve (--workers 0, hello.so at /, access
# log off: its default) and nginx-light (worker_processes 1, access_log
# off, `return 200 "Hello, World!"`) each pinned to CPU 0, wrk pinned to
# CPU 1, taking turns:
#   keep-alive      wrk -t1 -c100  -d10s
#   pipelined       wrk -t1 -c100  -d10s -s bench/pipeline.lua  (depth 16)
#   c1000           wrk -t1 -c1000 -d10s
# Beside them in part 1, bench/http_floor (pinned to CPU 0 too): one epoll
# loop answering each request head with greenserve's 135 bytes, one recv
# and one send per request, nothing else. Its CPU per request is what the
# kernel alone takes, the floor under any server of plain syscalls. In
# the keepalive scenario also bench/uring_floor: the same on io_uring (one
# armed multishot recv per connection, sends batched into one
# io_uring_enter per loop), to see whether batching lowers that floor.
# Part 2, two workers each: greenserve --workers 2 and nginx
# worker_processes 2, unpinned, with wrk -t2 on the same two CPUs:
#   keepalive2      wrk -t2 -c100  -d10s
#   c1000-2         wrk -t2 -c1000 -d10s
# For each: requests/s, p99 latency, and the server's CPU time per request
# (utime + stime from /proc/PID/stat of every process of the server, master
# included, before and after, over the requests wrk completed), and the
# user-space (utime) part of it. Prints a Markdown table for
# bench/RESULTS.md.
#
# Environment: DURATION (default 10s), ROUNDS (3: the table shows
# medians), PIPELINE_DEPTH (16), SCENARIOS ("keepalive pipelined c1000"),
# SCENARIOS2 ("keepalive2 c1000-2"; empty skips part 2), GS_EXTRA (more
# greenserve options), QUIET_STEAL (2: see below), GS_PORT / NGINX_PORT /
# FLOOR_PORT (18080 / 18081 / 18084) and GS_PORT2 / NGINX_PORT2 (18082 /
# 18083).
#
# Each run also notes the machine's steal time (/proc/stat: CPU the host
# gave to others while we wanted it). The table's paired ratio is shown
# twice: over all rounds, and over the rounds where neither server's run
# saw QUIET_STEAL percent or more of steal.
set -euo pipefail

BUILD=${1:-build}
DURATION=${DURATION:-10s}
SCENARIOS=${SCENARIOS-"keepalive pipelined c1000"}
SCENARIOS2=${SCENARIOS2-"keepalive2 c1000-2"}
ROUNDS=${ROUNDS:-3}
QUIET_STEAL=${QUIET_STEAL:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
TICKS=$(getconf CLK_TCK)
GS_PORT=${GS_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
GS_PORT2=${GS_PORT2:-18082}
NGINX_PORT2=${NGINX_PORT2:-18083}
FLOOR_PORT=${FLOOR_PORT:-18084}
URING_PORT=${URING_PORT:-18087}

BENCH=bench-http
. "$(dirname "$0")/common.sh"

need wrk nginx taskset

# start_greenserve PORT WORKERS [taskset CPUS...] -> $gs_pid (the master,
# or the one process)
start_greenserve() {
    local port=$1 workers=$2
    shift 2
    "$@" "$BUILD/greenserve" --bind "127.0.0.1:$port" --workers "$workers" --max-conns 19000 \
        --error-log "$tmp/greenserve-$port.log" ${GS_EXTRA:-} "/=$BUILD/apps/hello.so" &
    gs_pid=$!
    pids+=("$gs_pid")
    wait_port "$port"
}

# start_floor PROGRAM PORT [taskset CPUS...] -> $floor_pid
start_floor() {
    local program=$1 port=$2
    shift 2
    "$@" "$BUILD/bench/$program" "$port" &
    floor_pid=$!
    pids+=("$floor_pid")
    wait_port "$port"
}

# start_nginx PORT WORKER_PROCESSES [taskset CPUS...] -> $ng_pid (the master)
start_nginx() {
    local port=$1 workers=$2 dir="$tmp/nginx-$1"
    shift 2
    nginx_conf "$dir" "$workers" 19000 75s "127.0.0.1:$port"
    "$@" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    ng_pid=$!
    pids+=("$ng_pid")
    wait_port "$port"
}

cpu_ticks() { # "utime stime": fields 14 and 15 (after the ")" of comm)
    local s
    s=$(cat "/proc/$1/stat")
    s=${s##*) }
    set -- $s
    echo "${12} ${13}"
}

# The server's CPU, "user system" ticks: its process and its children
# (workers), which live through the run (no recycling is configured).
server_ticks() {
    local user=0 sys=0 p u k
    for p in "$1" $(pgrep -P "$1"); do
        read -r u k < <(cpu_ticks "$p")
        user=$(( user + u )) sys=$(( sys + k ))
    done
    echo "$user $sys"
}

# The machine's steal time so far, and all its time, in ticks ("cpu" line
# of /proc/stat): a neighbour on the host taking our CPUs shows there.
cpu_steal_total() {
    local cpu user nice sys idle iowait irq softirq steal
    read -r cpu user nice sys idle iowait irq softirq steal _ </proc/stat
    echo "$steal $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

# run NAME PID PORT SCENARIO -> one result line "round name scenario rps p99
# us_per_req steal_percent user_us_per_req errors"
run() {
    local name=$1 pid=$2 port=$3 scenario=$4 conns=100 script=() wrk=(taskset -c 1 wrk -t1)
    case $scenario in
        pipelined) script=(-s "$HERE/pipeline.lua") ;;
        c1000) conns=1000 ;;
        keepalive2) wrk=(wrk -t2) ;;
        c1000-2) wrk=(wrk -t2) conns=1000 ;;
    esac
    local cmd=("${wrk[@]}" -c"$conns" -d"$DURATION" --latency "${script[@]}"
               "http://127.0.0.1:$port/")
    "${wrk[@]}" -c"$conns" -d2s "${script[@]}" "http://127.0.0.1:$port/" >/dev/null
    local u0 k0 u1 k1 s0 t0 s1 t1
    read -r s0 t0 < <(cpu_steal_total)
    read -r u0 k0 < <(server_ticks "$pid")
    "${cmd[@]}" >"$tmp/wrk.out"
    read -r u1 k1 < <(server_ticks "$pid")
    read -r s1 t1 < <(cpu_steal_total)
    local steal
    steal=$(awk -v s=$(( s1 - s0 )) -v t=$(( t1 - t0 )) 'BEGIN { printf "%.1f", t ? 100 * s / t : 0 }')
    local requests rps p99 errors
    requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
    rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.out")
    errors=$(grep -E 'Socket errors|Non-2xx' "$tmp/wrk.out" | tr -s ' ' | paste -sd';' || true)
    local us user
    us=$(awk -v t=$(( u1 + k1 - u0 - k0 )) -v hz="$TICKS" -v n="$requests" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    user=$(awk -v t=$(( u1 - u0 )) -v hz="$TICKS" -v n="$requests" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    echo "$round $name $scenario $rps $p99 $us $steal $user ${errors:-none}" >>"$tmp/results"
    echo "  $name $scenario: ${cmd[*]}" >&2
    echo "    $rps req/s, p99 $p99, $us us CPU/request ($user in user space), steal $steal%," \
        "errors: ${errors:-none}" >&2
}

echo "greenserve $("$BUILD/greenserve" --version | head -n1), $(nginx -v 2>&1), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)" >&2
echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" >&2

# Both run throughout (the idle one costs nothing); each scenario runs on
# one then the other, ROUNDS times, so a neighbour's load drifting over the
# run weighs on both alike; greenserve goes first in odd rounds, nginx in
# even ones, so that a drift within a round does not favour either. The
# table shows the median of the rounds, and the median of each round's own
# CPU ratio (paired: the two ran a few seconds apart, while the machine's
# speed moves by 15% and more over a whole run).
start_greenserve "$GS_PORT" 0 taskset -c 0
gs1=$gs_pid
start_nginx "$NGINX_PORT" 1 taskset -c 0
# The worker serves; the master only supervises (and costs nothing).
ng1=$ng_pid
start_floor http_floor "$FLOOR_PORT" taskset -c 0
fl1=$floor_pid
start_floor uring_floor "$URING_PORT" taskset -c 0
ur1=$floor_pid
if [ -n "$SCENARIOS2" ]; then
    start_greenserve "$GS_PORT2" 2
    gs2=$gs_pid
    start_nginx "$NGINX_PORT2" 2
    ng2=$ng_pid
fi
# both SCENARIO GS_PID GS_PORT NGINX_PID NGINX_PORT: the two, in this
# round's order
both() {
    if [ $((round % 2)) = 1 ]; then
        run greenserve "$2" "$3" "$1"
        run nginx "$4" "$5" "$1"
    else
        run nginx "$4" "$5" "$1"
        run greenserve "$2" "$3" "$1"
    fi
}

for round in $(seq "$ROUNDS"); do
    for s in $SCENARIOS; do
        both "$s" "$gs1" "$GS_PORT" "$ng1" "$NGINX_PORT"
        run floor "$fl1" "$FLOOR_PORT" "$s"
        if [ "$s" = keepalive ]; then
            run uring "$ur1" "$URING_PORT" "$s"
        fi
    done
    for s in $SCENARIOS2; do
        both "$s" "$gs2" "$GS_PORT2" "$ng2" "$NGINX_PORT2"
    done
done

# The table: one row per scenario, greenserve next to nginx, each figure
# the median of its rounds (p99 converted to ms); then the floor's CPU per
# request and nginx's over it: the best CPU ratio any server reading and
# writing each request with plain syscalls could reach against nginx.
awk '
    function ms(v) {
        if (v ~ /us$/) return v / 1000
        if (v ~ /ms$/) return v + 0
        if (v ~ /s$/) return v * 1000
        return v + 0
    }
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        k = $2 SUBSEP $3
        rps[k] = rps[k] " " $4; p99[k] = p99[k] " " ms($5); us[k] = us[k] " " $6
        user[k] = user[k] " " $8
        at[$1, $2, $3] = $6
        if (($2 == "greenserve" || $2 == "nginx") && $7 + 0 >= quiet_steal) loud[$1, $3] = 1
        if (!seen[$3]++) order[++n] = $3
        if ($1 > rounds) rounds = $1
    }
    END {
        print "| scenario | greenserve req/s | nginx req/s | req/s gs/nginx | greenserve p99 | nginx p99 | greenserve CPU us/req | nginx CPU us/req | CPU nginx/gs | CPU nginx/gs, paired | paired, rounds with steal < " quiet_steal "% (how many) | user-space us/req gs / nginx | floor CPU us/req | CPU nginx/floor | io_uring floor CPU us/req |"
        print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        for (j = 1; j <= n; j++) {
            s = order[j]; g = "greenserve" SUBSEP s; x = "nginx" SUBSEP s
            f = "floor" SUBSEP s
            floor = us[f] == "" ? "-" : sprintf("%.2f", median(us[f]))
            ratio = us[f] == "" ? "-" : sprintf("%.2fx", median(us[x]) / median(us[f]))
            u = "uring" SUBSEP s
            uring = us[u] == "" ? "-" : sprintf("%.2f", median(us[u]))
            paired = ""; quiet = ""; nquiet = 0
            for (r = 1; r <= rounds; r++)
                if (at[r, "greenserve", s] > 0 && at[r, "nginx", s] != "") {
                    paired = paired " " at[r, "nginx", s] / at[r, "greenserve", s]
                    if (!loud[r, s]) {
                        quiet = quiet " " at[r, "nginx", s] / at[r, "greenserve", s]
                        nquiet++
                    }
                }
            quiet = nquiet ? sprintf("%.2fx (%d)", median(quiet), nquiet) : "- (0)"
            printf "| %s | %.0f | %.0f | %.2fx | %.2f ms | %.2f ms | %.2f | %.2f | %.2fx | %.2fx | %s | %.2f / %.2f | %s | %s | %s |\n", s,
                median(rps[g]), median(rps[x]), median(rps[g]) / median(rps[x]),
                median(p99[g]), median(p99[x]), median(us[g]), median(us[x]),
                median(us[x]) / median(us[g]), median(paired), quiet,
                median(user[g]), median(user[x]), floor, ratio, uring
        }
    }' quiet_steal="$QUIET_STEAL" "$tmp/results"
grep -v ' none$' "$tmp/results" | sed 's/^/errors: /' >&2 || true
