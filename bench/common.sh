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

# need TOOL...: stop unless each is on PATH.
need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is missing (make deps)"
    done
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s).
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on port $1"
}

# nginx_conf DIR WORKERS CONNECTIONS KEEPALIVE LISTEN: an nginx.conf in DIR
# answering "Hello, World!" on LISTEN (nginx's listen arguments), every
# temp path in DIR, no access log.
nginx_conf() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes $2;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections $3; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout $4;
    default_type text/plain;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    server {
        listen $5;
        location / { return 200 "Hello, World!"; }
    }
}
CONF
}
