#!/bin/bash
# Checks that registrar traffic over TCP decodes cleanly in Wireshark's ASAP/ENRP dissectors.
# Captures loopback TCP ports 3863 and 9901 while two peered registrars run
#   A: --asap 127.0.0.1:3863 --enrp 127.0.0.1:9901 --transport tcp
#   B: --asap 127.0.0.2:3863 --enrp 127.0.0.2:9901 --peer 127.0.0.1:9901 (ENRP traffic)
# and the asap_workload example registers, keeps alive, resolves (at A and B), reports
# unreachable and deregisters at A. Then requires:
#   - tshark -d tcp.port==9901,enrp -Y _ws.malformed: no frame;
#   - every TCP segment with payload on 3863 decodes as ASAP, on 9901 as ENRP (through a Lua
#     hook where tshark lacks `-d tcp.port==9901,enrp`), and tshark counts exactly the ASAP
#     messages the workload reports having sent and received;
#   - rserpool inspect --verify CAP exits 0.
# Prints the counts; exit 0 only if all hold. Env: OUT (output dir, default target/tshark-tcp).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
OUT="${OUT:-$REPO/target/tshark-tcp}"
CAP="$OUT/registrar-tcp.pcapng"
log() { echo "[tshark-tcp-check] $*" >&2; }
cd "$REPO"

if ! command -v tshark >/dev/null; then
  log "installing tshark"
  apt-get update -q
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark
fi
for port in 3863 9901; do
  if ss -Hltn "sport = :$port" | grep -q .; then log "TCP port $port is in use"; exit 2; fi
done

executable_of() {
  grep '"reason":"compiler-artifact"' | grep "\"name\":\"$1\"" \
    | grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4
}
log "building rserpool and the asap_workload example (release)"
bin="$(cargo build --release -p rserpool-cli --message-format=json | executable_of rserpool)"
work="$(cargo build --release -p rserpool --example asap_workload --message-format=json \
  | executable_of asap_workload)"
[ -x "$bin" ] && [ -x "$work" ] || { log "build gave no executables"; exit 2; }

rm -rf "$OUT"; mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

dumpcap -q -i lo -f 'tcp port 3863 or tcp port 9901' -w "$CAP" > "$OUT/dumpcap.log" 2>&1 &
CAPPID=$!
for _ in $(seq 50); do grep -q . "$OUT/dumpcap.log" 2>/dev/null && break; [ -s "$CAP" ] && break; sleep 0.1; done
sleep 1

FAST=(--transport tcp --no-announce --max-hres-items 16 --keep-alive-transmission-interval 400ms
      --peer-heartbeat-cycle 1s --mentor-discovery-timeout 500ms)
"$bin" registrar --asap 127.0.0.1:3863 --enrp 127.0.0.1:9901 --identifier 0xa1 "${FAST[@]}" \
  > "$OUT/registrar-a.log" 2>&1 &
PIDS+=($!)
"$bin" registrar --asap 127.0.0.2:3863 --enrp 127.0.0.2:9901 --identifier 0xa2 \
  --peer 127.0.0.1:9901 "${FAST[@]}" > "$OUT/registrar-b.log" 2>&1 &
PIDS+=($!)
sleep 2

log "workload"
wrc=0
"$work" --pes 4 --linger-ms 1500 127.0.0.1:3863 127.0.0.2:3863 | tee "$OUT/workload.log" || wrc=$?
sleep 2   # one more ENRP heartbeat round
cleanup; PIDS=()
sleep 1
kill -INT $CAPPID; wait $CAPPID || true

# Newer Wireshark accepts `-d tcp.port==9901,enrp`; tshark 4.0 (Debian bookworm) registers ENRP
# for SCTP and UDP only and rejects it, so a two-line Lua hook hands TCP port 9901 to ENRP there.
if tshark -n -r "$CAP" -c 1 -d tcp.port==9901,enrp >/dev/null 2>&1; then
  T=(tshark -n -r "$CAP" -d tcp.port==9901,enrp); enrp_hook="-d tcp.port==9901,enrp"
else
  T=(tshark -n -r "$CAP" -X "lua_script:$HERE/enrp-over-tcp.lua"); enrp_hook="Lua hook enrp-over-tcp.lua"
fi
count() { "${T[@]}" -Y "$1" 2>/dev/null | wc -l; }
frames=$(count 'frame')
asap_seg=$(count 'tcp.port == 3863 && tcp.len > 0')
asap_frames=$(count 'asap')
asap_msgs=$("${T[@]}" -Y asap -T fields -e asap.message_type 2>/dev/null | tr ',' '\n' | grep -c . || true)
enrp_seg=$(count 'tcp.port == 9901 && tcp.len > 0')
enrp_frames=$(count 'enrp')
enrp_msgs=$("${T[@]}" -Y enrp -T fields -e enrp.message_type 2>/dev/null | tr ',' '\n' | grep -c . || true)
# Wireshark does not dissect retransmitted segments again: count them apart.
retrans=$(count 'tcp.len > 0 && tcp.analysis.retransmission')
undecoded=$(count '((tcp.port == 3863 && !asap) || (tcp.port == 9901 && !enrp)) && tcp.len > 0 && !tcp.analysis.retransmission')
malformed=$(count '_ws.malformed')
expert_err=$(count '_ws.expert.severity == error')
irc=0; "$bin" inspect --verify "$CAP" > "$OUT/inspect.log" 2>&1 || irc=$?

echo "================ registrar TCP traffic vs. tshark $(tshark --version | head -n1 | awk '{print $3}') ================"
echo "capture: $CAP ($frames frames; ENRP over TCP via $enrp_hook)"
echo "ASAP (tcp/3863): $asap_seg segments with payload, $asap_frames decoded as ASAP, $asap_msgs messages"
echo "ENRP (tcp/9901): $enrp_seg segments with payload, $enrp_frames decoded as ENRP, $enrp_msgs messages"
echo "message types:"
"${T[@]}" -Y 'asap || enrp' -T fields -e _ws.col.Protocol -e _ws.col.Info 2>/dev/null \
  | sort | uniq -c | sort -rn | sed 's/^/  /'
echo "retransmitted segments (not dissected again): $retrans"
echo "segments with payload not decoded: $undecoded; malformed: $malformed; expert errors: $expert_err"
echo "rserpool inspect --verify: exit $irc"; tail -n 4 "$OUT/inspect.log" | sed 's/^/  /'
wl_msgs=$(grep -o 'ASAP messages exchanged: [0-9]*' "$OUT/workload.log" | grep -o '[0-9]*$' || true)
echo "workload: exit $wrc, ASAP messages it sent and received: ${wl_msgs:-?} (tshark: $asap_msgs)"
fail=0
[ "$wrc" -eq 0 ] || { log "FAIL: workload failed"; fail=1; }
[ "$malformed" -eq 0 ] || { log "FAIL: malformed frames:"; "${T[@]}" -Y _ws.malformed | head; fail=1; }
[ "$undecoded" -eq 0 ] || { log "FAIL: segments not decoded"; fail=1; }
[ "$asap_frames" -gt 0 ] && [ "$enrp_frames" -gt 0 ] || { log "FAIL: no ASAP or no ENRP traffic"; fail=1; }
[ "${wl_msgs:-x}" = "$asap_msgs" ] || { log "FAIL: the workload exchanged ${wl_msgs:-?} ASAP messages, tshark decoded $asap_msgs"; fail=1; }
[ "$irc" -eq 0 ] || { log "FAIL: rserpool inspect --verify exit $irc"; fail=1; }
[ $fail -eq 0 ] && log "OK"
exit $fail
