#!/bin/sh
# make test-deb: build the .deb, install it on this machine with apt-get
# (which pulls in its Depends), check what it installed (the executable,
# the service user, the conffile, greenserve.pc), serve one request with
# the installed example config and apps as the greenserve user, purge it,
# and check that nothing it installed is left. Root only; it refuses to
# touch a greenserve package that was installed before it ran.
set -eu
cd "$(dirname "$0")/.."
build="${1:-build}"

say() { echo "test-deb: $*"; }
fail() { say "FAILED: $*"; exit 1; }

if [ "$(id -u)" != 0 ]; then
    say "skipped: it installs and purges a package, which needs root"
    exit 0
fi
if dpkg-query -W -f='${Status}' greenserve 2>/dev/null | grep -q 'ok installed'; then
    say "skipped: a greenserve package is already installed here; not touching it"
    exit 0
fi

tmp=$(mktemp -d /tmp/gs-test-deb-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    if dpkg-query -W -f='${Status}' greenserve 2>/dev/null | grep -q 'ok installed'; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq greenserve >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

start=$(date +%s)
make -s --no-print-directory deb BUILD="$build" >/dev/null
deb=$(ls "$PWD/$build"/deb/greenserve_*.deb)
say "built $(basename "$deb") in $(($(date +%s) - start)) s"

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log"; fail "apt-get install"; }
dpkg -L greenserve >"$tmp/files"

# What the package promises.
/usr/bin/greenserve --version | grep -q '^greenserve [0-9]' || fail "greenserve --version"
getent passwd greenserve >/dev/null || fail "no greenserve system user"
dpkg-query -W -f='${Conffiles}\n' greenserve | grep -q ' /etc/greenserve/greenserve.ini ' ||
    fail "/etc/greenserve/greenserve.ini is not a conffile"
for lib in libevent libhiredis libinih libboost-context; do
    dpkg-query -W -f='${Depends}\n' greenserve | grep -q "$lib" || fail "Depends lacks $lib"
done
[ "$(pkg-config --modversion greenserve)" = "$(/usr/bin/greenserve --version | cut -d' ' -f2)" ] ||
    fail "greenserve.pc"
grep -q '^ExecStart=/usr/bin/greenserve --config /etc/greenserve/greenserve.ini$' \
    /lib/systemd/system/greenserve.service || fail "the unit does not run the installed config"

# Serve with the installed config (its --bind and --status replaced: the
# machine's 8080 and 9191 may be taken), workers as the service user.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chmod 755 "$tmp"
/usr/bin/greenserve --config /etc/greenserve/greenserve.ini --bind "127.0.0.1:$port" \
    --status off --workers 1 --user greenserve --error-log "$tmp/error.log" \
    --pidfile "$tmp/gs.pid" --daemon || { cat "$tmp/error.log"; fail "the installed server did not start"; }
pid=$(cat "$tmp/gs.pid")
body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/")
[ "$body" = "Hello, World!" ] || fail "GET / answered: $body"
ps -o user= --ppid "$pid" | grep -qx greenserve || fail "the worker does not run as greenserve"
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "the server did not stop"
pid=
say "installed package served GET / on 127.0.0.1:$port"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq greenserve >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log"; fail "apt-get purge"; }
left=
while read -r f; do
    # Directories such as /usr/bin stay; anything else the package had must go.
    if [ -e "$f" ] && { [ ! -d "$f" ] || case "$f" in *greenserve*) true ;; *) false ;; esac; }; then
        left="$left $f"
    fi
done <"$tmp/files"
[ -z "$left" ] || fail "left after purge:$left"
getent passwd greenserve >/dev/null && fail "the greenserve user is left after purge"
[ -e /etc/greenserve ] && fail "/etc/greenserve is left after purge"
say "ok: installed, served, purged clean in $(($(date +%s) - start)) s"
