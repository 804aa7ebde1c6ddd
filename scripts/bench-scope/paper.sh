#!/bin/sh
# Runs the registrar scalability scenarios of the paper (sections 5.3-5.5 and
# the `max` search) with a release build, then draws figures 7 and 8 from all
# of them. Needs root for the network-namespace lab (else runs on loopback).
#
#   scripts/bench-scope/paper.sh [OUTDIR] [extra bench scope options...]
#
# e.g. a quick reduced run: scripts/bench-scope/paper.sh quick --scale 0.2 --reps 2 --duration 5
set -eu
out=${1:-scope-results}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.."
cargo build --release -p rserpool-cli
bin=target/release/rserpool
mkdir -p "$out"
for s in pes registrars pus max; do
    echo "== scenario $s (log: $out/$s.log)"
    "$bin" bench scope --scenario "$s" --output "$out/$s.csv" "$@" 2>"$out/$s.log" ||
        echo "   some runs failed: see $out/$s.log"
    tail -n 3 "$out/$s.log"
done
head -n 1 "$out/pes.csv" >"$out/all.csv"
for s in pes registrars pus max; do
    tail -n +2 "$out/$s.csv" >>"$out/all.csv"
done
"$bin" bench scope --replot "$out/all.csv" --plot "$out"
