#!/bin/sh
# Measures RSPLIB 3.4.4's handlespace management (Debian librsplib3,
# librsphsmgt.so.3) with the workload of `rserpool bench handlespace`.
#
#   scripts/rsplib-handlespace/run.sh [--sizes 1000,5000,10000,20000,30000] \
#       [--seconds 2] [--reps 3] [--ops ...] [--policies ...] [--seed S] > rsplib-local.csv
#   scripts/rsplib-handlespace/run.sh --check     # verify the harness first
#
# CSV on stdout, progress on stderr. Installs librsplib3, librsplib-dev and
# gcc with apt-get when they are missing (needs root), then compiles
# harness.c with -O2 into a temporary directory and runs it with the
# arguments given. See README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

missing=""
for pkg in librsplib3 librsplib-dev gcc; do
    if ! dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get install -y $missing >&2 || {
        $sudo apt-get update >&2
        $sudo apt-get install -y $missing >&2
    }
fi

build=$(mktemp -d "${TMPDIR:-/tmp}/rsplib-handlespace.XXXXXX")
trap 'rm -rf "$build"' EXIT INT TERM
gcc -O2 -std=c11 -Wall -Wextra -o "$build/harness" "$here/harness.c" -lrsphsmgt

echo "librsplib3 $(dpkg-query -W -f '${Version}' librsplib3), $(nproc) cores," \
     "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" >&2
"$build/harness" "$@"
