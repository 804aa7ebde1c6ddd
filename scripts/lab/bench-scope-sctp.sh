#!/bin/bash
# Registrar CPU per re-registration and per handle resolution, ours against RSPLIB's
# rspregistrar, over kernel SCTP in the lab VM (../shared/lab/sctp-vm):
#   1. builds the release `rserpool` binary, and sctp-floor from sctp-floor.c with gcc (host and
#      guest are both bookworm, same glibc; without gcc the floor is skipped);
#   2. builds the VM if needed;
#   3. in the VM (guest-bench-scope-sctp.sh): starts our registrar and an rspregistrar side by
#      side and drives each in turn with the same `rserpool bench scope --transport sctp
#      --target ... --target-pid ...` loads (re-registrations; handle resolutions), alternating
#      between the two for several rounds; optionally again with pairs peered by ENRP. The floor
#      (sctp-floor: one recv and one send per request, no handlespace) takes its turn in the
#      single-registrar rounds: its CPU per operation is the kernel's SCTP work that any
#      registrar pays, so floor/RSPLIB is the least ratio reachable at all;
#   4. prints the summary (CPU seconds per 1000 operations, ours/RSPLIB and floor/RSPLIB ratios).
# Timings in the emulated VM are slow and noisy: only ratios measured in the same run mean much.
# Environment: LAB_DIR (the sctp-vm directory or the shared directory above it), LAB_OUT (share
# dir with the results, default target/lab/bench-scope-sctp), LAB_TIMEOUT (whole guest run, s),
# and the loads (defaults in brackets):
#   REREG_PES [200] REREG_MS [1000]     re-registration load: N PEs re-registering every a ms
#   RES_PES [10] RES_PES_MS [10000] RES_PUS [25] RES_MS [200]
#                                      resolution load: few PEs, M PUs resolving every r ms
#   DURATION [10] WARMUP [3] ROUNDS [3] (runs of each load and registrar, alternating)
#   RSP_LOGLEVEL [1]                   rspregistrar -loglevel (low: logging costs CPU)
#   PAIR [1]                           also registrar pairs peered by ENRP (PEs and PUs at PR 1)
#   OURS_MT [0]                        also ours with --threads 2 (one registrar only)
#   OURS_1TO1 [1]                      also ours with --sctp-sockets one-to-one (one registrar only)
#   SNDBUF_POLICY [1]                  net.sctp.sndbuf_policy in the guest (1: a send buffer per
#                                      association of a one-to-many socket; 0: Linux's default)
#   FLOOR [1]                          also the floor, sctp-floor (one registrar only)
#   MANY [1] MANY_PES [2000] MANY_MS [10000] MANY_RES_MS [60000]
#                                      also the same rates over many associations (one registrar
#                                      only): rereg2k = MANY_PES PEs every MANY_MS; res2k = the res
#                                      PUs with MANY_PES PEs registered (every MANY_RES_MS)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LAB_DIR="${LAB_DIR:-$REPO/../shared/lab/sctp-vm}"
[ -x "$LAB_DIR/run.sh" ] || [ ! -x "$LAB_DIR/lab/sctp-vm/run.sh" ] || LAB_DIR="$LAB_DIR/lab/sctp-vm"
OUT="${LAB_OUT:-$REPO/target/lab/bench-scope-sctp}"
log() { echo "[bench-scope-sctp] $*" >&2; }

[ -x "$LAB_DIR/run.sh" ] || { log "no lab VM scripts at $LAB_DIR (set LAB_DIR)"; exit 2; }
cd "$REPO"

log "building release binary rserpool"
bin="$(cargo build --release -p rserpool-cli --message-format=json \
  | grep '"reason":"compiler-artifact"' | grep '"name":"rserpool"' \
  | grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4)"
[ -x "$bin" ] || { log "build gave no executable"; exit 2; }

log "building the lab VM if needed (log: $OUT.build.log)"
mkdir -p "$(dirname "$OUT")"
"$LAB_DIR/build.sh" > "$OUT.build.log" 2>&1 || { log "VM build failed; see $OUT.build.log"; exit 2; }

rm -rf "$OUT"; mkdir -p "$OUT"
cp "$bin" "$OUT/rserpool"
if [ "${FLOOR:-1}" = 1 ]; then
  if command -v gcc > /dev/null; then
    log "building sctp-floor"
    gcc -O2 -Wall -Wextra -o "$OUT/sctp-floor" "$HERE/sctp-floor.c" || { log "sctp-floor did not build"; exit 2; }
  else
    log "no gcc on the host: the floor (sctp-floor) is skipped"
  fi
fi
{
  for v in REREG_PES REREG_MS RES_PES RES_PES_MS RES_PUS RES_MS DURATION WARMUP ROUNDS \
           RSP_LOGLEVEL PAIR OURS_MT OURS_1TO1 SNDBUF_POLICY FLOOR MANY MANY_PES MANY_MS MANY_RES_MS; do
    [ -n "${!v:-}" ] && printf '%s=%q\n' "$v" "${!v}"
  done
} > "$OUT/settings.env"

log "running in the VM (share dir $OUT)"
vm_rc=0
LAB_QUIET=1 LAB_TIMEOUT="${LAB_TIMEOUT:-2400}" "$LAB_DIR/run.sh" "$HERE/guest-bench-scope-sctp.sh" "$OUT" \
  || vm_rc=$?

echo "========= registrar CPU over kernel SCTP, ours vs RSPLIB (and the floor): summary ========="
if [ -s "$OUT/summary.txt" ]; then cat "$OUT/summary.txt"; else
  log "no summary from the guest (VM rc=$vm_rc): see $OUT/out.log and $OUT/console.log"; exit 2
fi
echo "full guest output: $OUT/out.log; CSVs: $OUT/csv/; logs: $OUT/logs/"
exit "$vm_rc"
