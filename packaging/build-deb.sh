#!/bin/sh
# make deb: build greenserve_VERSION_ARCH.deb with dpkg-buildpackage.
#
# It runs on a copy of the sources in BUILD/deb/src, never in the tree
# itself (its clean step, debian/rules clean, would remove build/): in a
# git checkout the committed tree (HEAD: what a release would be, whatever
# is half-edited), else the whole directory but the build output. The
# package and its .buildinfo/.changes land in BUILD/deb/.
set -eu
cd "$(dirname "$0")/.."
out="${1:-build}/deb"
rm -rf "$out"
mkdir -p "$out/src"
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git archive HEAD | tar -C "$out/src" -xf -
else
    tar --exclude=./build --exclude=./build-san --exclude='./tests/e2e/node_modules' -cf - . |
        tar -C "$out/src" -xf -
fi
cd "$out/src"
dpkg-buildpackage -b -us -uc -j"$(nproc)" >../build.log 2>&1 || {
    tail -40 ../build.log
    echo "make deb: dpkg-buildpackage failed; the whole log is in $out/build.log" >&2
    exit 1
}
cd ..
rm -rf src
ls "$PWD"/greenserve_*.deb
