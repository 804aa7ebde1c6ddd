#!/bin/bash
# Tests the registrar over kernel SCTP in the lab VM (../shared/lab/sctp-vm):
#   1. builds the release `rserpool` binary, the registrar_daemon test executable and the
#      rserpool library's unit tests (whose SCTP data channel tests need kernel SCTP);
#   2. builds the VM if needed;
#   3. in the VM: runs every registrar_daemon test with RSERPOOL_TEST_TRANSPORT=sctp (one
#      process per test, --test-threads=1, a timeout each) and the SCTP data channel unit
#      tests, then a smoke test of our registrar, pool element and pool user with RSPLIB
#      (rspserver, hsdump, rspterminal, rspregistrar as ENRP peer and as our PE's registrar)
#      under a capture checked by tshark and `rserpool inspect --verify`;
#   4. prints a summary; exits 1 if any registrar test failed over SCTP (2 if the run broke).
# Environment: LAB_DIR (the sctp-vm directory or the shared directory above it), LAB_OUT (share dir with the results,
# default target/lab/registrar-sctp), LAB_TIMEOUT (whole guest run, s), TEST_TIMEOUT (per
# test, s), SKIP_SMOKE=1 (tests only), LAB_ONLY=test-name (run just that test).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LAB_DIR="${LAB_DIR:-$REPO/../shared/lab/sctp-vm}"
# LAB_DIR may also name the shared directory itself.
[ -x "$LAB_DIR/run.sh" ] || [ ! -x "$LAB_DIR/lab/sctp-vm/run.sh" ] || LAB_DIR="$LAB_DIR/lab/sctp-vm"
OUT="${LAB_OUT:-$REPO/target/lab/registrar-sctp}"
log() { echo "[registrar-sctp] $*" >&2; }

[ -x "$LAB_DIR/run.sh" ] || { log "no lab VM scripts at $LAB_DIR (set LAB_DIR)"; exit 2; }
cd "$REPO"

# Path of the artefact `name` (of kind bin or test) from cargo's JSON messages on stdin.
executable_of() {
  grep '"reason":"compiler-artifact"' | grep "\"name\":\"$1\"" \
    | grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4
}

log "building release binary rserpool"
bin="$(cargo build --release -p rserpool-cli --message-format=json | executable_of rserpool)"
log "building registrar_daemon test executable"
tests="$(cargo test --release -p rserpool --test registrar_daemon --no-run --message-format=json \
  | executable_of registrar_daemon)"
log "building the rserpool library's unit test executable (SCTP data channel tests)"
libtests="$(cargo test --release -p rserpool --lib --no-run --message-format=json \
  | executable_of rserpool)"
[ -x "$bin" ] && [ -x "$tests" ] && [ -x "$libtests" ] \
  || { log "build gave no executables (bin=$bin tests=$tests libtests=$libtests)"; exit 2; }

log "building the lab VM if needed (log: $OUT.build.log)"
mkdir -p "$(dirname "$OUT")"
"$LAB_DIR/build.sh" > "$OUT.build.log" 2>&1 || { log "VM build failed; see $OUT.build.log"; exit 2; }

rm -rf "$OUT"; mkdir -p "$OUT"
cp "$bin" "$OUT/rserpool"
cp "$tests" "$OUT/registrar_daemon"
cp "$libtests" "$OUT/rserpool_lib_tests"
printf 'TEST_TIMEOUT=%q\nSKIP_SMOKE=%q\nLAB_ONLY=%q\n' "${TEST_TIMEOUT:-240}" "${SKIP_SMOKE:-0}" \
  "${LAB_ONLY:-}" > "$OUT/settings.env"

log "running in the VM (share dir $OUT)"
vm_rc=0
LAB_QUIET=1 LAB_TIMEOUT="${LAB_TIMEOUT:-2400}" "$LAB_DIR/run.sh" "$HERE/guest-registrar-sctp.sh" "$OUT" \
  || vm_rc=$?

echo "================ registrar over kernel SCTP: summary ================"
if [ -s "$OUT/summary.txt" ]; then cat "$OUT/summary.txt"; fi
echo "full guest output: $OUT/out.log; logs: $OUT/logs/"
# shellcheck disable=SC1091
[ -s "$OUT/summary.env" ] && . "$OUT/summary.env"
if [ -z "${tests_total:-}" ]; then
  log "no test results from the guest (VM rc=$vm_rc): see $OUT/out.log and $OUT/console.log"
  exit 2
fi
if [ "${tests_failed:-1}" -ne 0 ] || [ "${tests_passed:-0}" -ne "$tests_total" ] || [ "$tests_total" -eq 0 ]; then
  # Tell SCTP-specific failures from the rest: run the failed tests here over TCP.
  for t in ${tests_failed_names:-}; do
    if RSERPOOL_TEST_TRANSPORT=tcp timeout -k 5 "${TEST_TIMEOUT:-240}" "$tests" --exact "$t" \
         --test-threads=1 > "$OUT/logs/host-tcp-$t.log" 2>&1; then
      echo "  $t: fails over SCTP only (passes over TCP on this host)"
    else
      echo "  $t: fails over TCP on this host too: $(grep -m1 -A1 'panicked at' "$OUT/logs/host-tcp-$t.log" | tail -n1)"
    fi
  done
  log "registrar tests FAILED over SCTP: ${tests_failed_names:-?}"
  exit 1
fi
log "all $tests_total registrar tests passed over kernel SCTP"
exit 0
