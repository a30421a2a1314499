# common.sh -- sourced by the bench scripts: BENCH (the script's name) must
# be set first. Gives a temp dir ($tmp), a pid list ($pids) killed with the
# temp dir removed on exit, die, and wait_port.

# Many connections: every process started from here may use the hard limit.
ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d "/tmp/$BENCH.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

die() { echo "$BENCH: $*" >&2; exit 1; }

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s).
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on port $1"
}
