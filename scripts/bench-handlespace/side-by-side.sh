#!/bin/sh
# Measures this project's handlespace and RSPLIB 3.4.4's (through
# scripts/rsplib-handlespace) on this machine, one after the other, with the
# same workload, then writes the per-cell comparison and Figures 5 and 6.
#
#   scripts/bench-handlespace/side-by-side.sh [OUTDIR] [--sizes ...] [--seconds S] [--reps R] [--ops ...]
#
# The options are the RSPLIB harness's (scripts/rsplib-handlespace); for
# `rserpool bench handlespace` --seconds S becomes --duration Ss.
#
# OUTDIR (default handlespace-results) receives rserpool.csv, rsplib.csv,
# comparison.txt (ours, RSPLIB's, ratio per cell and size), ratios.md (the
# ratio table as in docs/performance.md) and figure5/figure6 (PNG, SVG). Run it on a
# quiet machine: about 20 minutes with the defaults (2 s x 3 repetitions).
set -eu
out=${1:-handlespace-results}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.."
cargo build --release -p rserpool-cli
bin=target/release/rserpool
mkdir -p "$out"
echo "== RSPLIB (log: $out/rsplib.log)"
scripts/rsplib-handlespace/run.sh "$@" > "$out/rsplib.csv" 2> "$out/rsplib.log"
echo "== rserpool (log: $out/rserpool.log)"
# The same options with the duration spelled as rserpool spells it.
n=$#
while [ "$n" -gt 0 ]; do
    a=$1; shift; n=$((n - 1))
    case $a in
    --seconds) set -- "$@" --duration "${1}s"; shift; n=$((n - 1)) ;;
    --seconds=*) set -- "$@" --duration "${a#--seconds=}s" ;;
    *) set -- "$@" "$a" ;;
    esac
done
"$bin" bench handlespace --set btree --output "$out/rserpool.csv" "$@" 2> "$out/rserpool.log"
"$bin" bench handlespace --compare "$out/rserpool.csv" --rsplib "$out/rsplib.csv" \
    > "$out/comparison.txt"
"$bin" bench handlespace --compare "$out/rserpool.csv" --rsplib "$out/rsplib.csv" \
    --plot "$out" > /dev/null
# The ratio table: one line per cell, one column per pool size.
awk 'NR > 1 {
        key = $2 " | " $3 " | " $4
        if (!(key in seen)) { seen[key] = 1; order[++k] = key }
        if (!($5 in size)) { size[$5] = 1; sizes[++m] = $5 }
        r[key, $5] = $8
     }
     END {
        for (j = 1; j <= m; j++) for (i = j + 1; i <= m; i++)
            if (sizes[i] + 0 < sizes[j] + 0) { t = sizes[i]; sizes[i] = sizes[j]; sizes[j] = t }
        printf "| operation | policy | variant |"
        for (j = 1; j <= m; j++) printf " N=%s |", sizes[j]
        printf "\n|---|---|---|"
        for (j = 1; j <= m; j++) printf "---:|"
        printf "\n"
        for (i = 1; i <= k; i++) {
            printf "| %s |", order[i]
            for (j = 1; j <= m; j++) {
                v = r[order[i], sizes[j]]
                if (v == "" || v == "-") printf " - |"; else printf " %.1fx |", v
            }
            printf "\n"
        }
     }' "$out/comparison.txt" > "$out/ratios.md"
cat "$out/ratios.md"
