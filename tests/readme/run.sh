#!/bin/bash
# make test-readme: run the README's tutorial as written.
#
# The convention: a ```sh block right after a line <!-- readme-test --> is
# run; the others are shown only (systemctl, apt-get). The marked blocks
# run in order in one bash -e, from the top of the tree as a user who
# cloned it would, with:
#   HOME            a temporary directory (the tutorial works in ~/hello)
#   PREFIX          a temporary prefix: `sudo make install` installs there
#   sudo            a stand-in that runs the command as is (env kept)
#   PATH, PKG_CONFIG_PATH   the prefix's bin and pkgconfig first
#   ports           8080-8083 and Redis' 6379 replaced by free ports
# Then nginx (packaging/nginx-greenserve.conf, on a free port) is put in
# front of the greenserve of step 3 and a long-poll goes through it.
# Every process is stopped by the pid it wrote or was started with.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
readme=${README:-README.md}
tmp=$(mktemp -d /tmp/gs-readme-XXXXXX)
redis_pid=

say() { echo "test-readme: $*"; }
fail() {
    say "FAILED: $*"
    exit 1
}
stop_pidfile() { [ -s "$1" ] && kill -TERM "$(cat "$1")" 2>/dev/null || true; }
cleanup() {
    stop_pidfile "$tmp/nginx.pid"
    for f in "$tmp"/home/hello/*.pid; do stop_pidfile "$f"; done
    [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The marked blocks, ports replaced.
declare -A port
for p in 8080 8081 8082 8083 6379; do port[$p]=$(free_port); done
subst=""
for p in "${!port[@]}"; do subst="$subst -e s/127\.0\.0\.1:$p\b/127.0.0.1:${port[$p]}/g"; done
awk '/^<!-- readme-test -->$/ { marked = 1; next }
     marked && /^```sh$/ { inside = 1; marked = 0; next }
     inside && /^```$/ { inside = 0; print ""; next }
     inside { print }
     { marked = 0 }' "$readme" | sed $subst >"$tmp/tutorial.sh"
[ -s "$tmp/tutorial.sh" ] || fail "no block marked <!-- readme-test --> in $readme"
say "$(grep -c . "$tmp/tutorial.sh") lines from $readme"

mkdir -p "$tmp/home" "$tmp/bin"
printf '#!/bin/sh\nexec "$@"\n' >"$tmp/bin/sudo"
chmod 755 "$tmp/bin/sudo"

redis-server --port "${port[6379]}" --bind 127.0.0.1 --save '' --appendonly no \
    >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    redis-cli -p "${port[6379]}" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
done

(
    unset MAKEFLAGS MFLAGS MAKELEVEL
    export HOME="$tmp/home" PREFIX="$tmp/usr"
    export PATH="$tmp/bin:$tmp/usr/bin:$PATH" PKG_CONFIG_PATH="$tmp/usr/lib/pkgconfig"
    cd "$root" && timeout 300 bash -e "$tmp/tutorial.sh"
) >"$tmp/out" 2>&1 || {
    cat "$tmp/out"
    fail "the tutorial's commands failed"
}

expect() { grep -qE "$1" "$tmp/out" || { cat "$tmp/out"; fail "no '$1' in the output"; }; }
expect '^Hello from hello! You asked for /world$'
expect '^[0-9]+ first$'
expect '^[0-9]+ second$'
expect '^[0-9]+ from a$'
expect '^[0-9]+ from a again$'
say "install, hello, long-poll and the Redis bus: ok"

# nginx in front of step 3's greenserve (still running on its port).
nginx_port=$(free_port)
sed -e "s/server 127\.0\.0\.1:8080;/server 127.0.0.1:${port[8081]};/" \
    -e "s/listen 80;/listen 127.0.0.1:$nginx_port;/" packaging/nginx-greenserve.conf >"$tmp/site.conf"
cat >"$tmp/nginx.conf" <<END
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx-body;
    proxy_temp_path $tmp/nginx-proxy;
    fastcgi_temp_path $tmp/nginx-fastcgi;
    uwsgi_temp_path $tmp/nginx-uwsgi;
    scgi_temp_path $tmp/nginx-scgi;
    include $tmp/site.conf;
}
END
nginx -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" || fail "nginx did not start: $(cat "$tmp/nginx-error.log")"
via="http://127.0.0.1:$nginx_port/news"
id=$(curl -sS --retry 20 --retry-connrefused --retry-delay 0 --max-time 5 -X POST --data 'via nginx' "$via")
[[ $id =~ ^[0-9]+$ ]] || fail "POST through nginx answered: $id"
curl -sS --max-time 10 "$via?after=$id" >"$tmp/longpoll" &
poll=$!
curl -sS --max-time 5 -X POST --data 'woken through nginx' "$via" >/dev/null
wait $poll || fail "the long-poll through nginx failed"
grep -qE '^[0-9]+ woken through nginx$' "$tmp/longpoll" || fail "long-poll through nginx: $(cat "$tmp/longpoll")"
say "nginx in front (packaging/nginx-greenserve.conf): ok"
