#!/bin/bash
# A mixed scope with RSPLIB in the lab VM (../shared/lab/sctp-vm): two RSPLIB rspregistrars and
# ours over kernel SCTP, RSPLIB and our PEs homed at each; kill -9 of an RSPLIB registrar, kill -9
# of ours, restart of ours; after each step every surviving registrar lists the same PEs and
# resolves every pool to them; tshark finds no malformed frame (guest-mixed-scope.sh).
# Environment: LAB_DIR (the sctp-vm directory or the shared directory above it), LAB_OUT (share
# dir with the results, default target/lab/mixed-scope), LAB_TIMEOUT (guest run, s).
# Exit: 0 when every step passes, 1 when one fails, 2 when the run broke.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LAB_DIR="${LAB_DIR:-$REPO/../shared/lab/sctp-vm}"
[ -x "$LAB_DIR/run.sh" ] || [ ! -x "$LAB_DIR/lab/sctp-vm/run.sh" ] || LAB_DIR="$LAB_DIR/lab/sctp-vm"
OUT="${LAB_OUT:-$REPO/target/lab/mixed-scope}"
log() { echo "[mixed-scope] $*" >&2; }
[ -x "$LAB_DIR/run.sh" ] || { log "no lab VM scripts at $LAB_DIR (set LAB_DIR)"; exit 2; }
cd "$REPO"

log "building release binary rserpool"
cargo build --release -p rserpool-cli
mkdir -p "$(dirname "$OUT")"
log "building the lab VM if needed (log: $OUT.build.log)"
"$LAB_DIR/build.sh" > "$OUT.build.log" 2>&1 || { log "VM build failed; see $OUT.build.log"; exit 2; }
rm -rf "$OUT"; mkdir -p "$OUT"
cp target/release/rserpool "$OUT/rserpool"

log "running in the VM (share dir $OUT)"
LAB_QUIET=1 LAB_TIMEOUT="${LAB_TIMEOUT:-900}" "$LAB_DIR/run.sh" "$HERE/guest-mixed-scope.sh" "$OUT" || true

echo "================ mixed scope with RSPLIB: summary ================"
[ -s "$OUT/summary.txt" ] && cat "$OUT/summary.txt"
echo "full guest output: $OUT/out.log; logs: $OUT/logs/; capture: $OUT/mixed.pcapng"
# shellcheck disable=SC1091
[ -s "$OUT/summary.env" ] && . "$OUT/summary.env"
[ -n "${fails:-}" ] || { log "no verdict from the guest: see $OUT/out.log"; exit 2; }
[ "$fails" -eq 0 ] || exit 1
exit 0
