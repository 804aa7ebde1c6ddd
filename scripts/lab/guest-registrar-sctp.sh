#!/bin/bash
# CMDFILE for the lab VM's run.sh (started by registrar-sctp.sh; runs as root in the guest).
# Expects in the share dir: rserpool, registrar_daemon (test executable), rserpool_lib_tests
# (the rserpool library's unit tests), settings.env.
# Writes: summary.env (key=value for the host script), summary.txt, logs/, smoke.pcapng.
set -u
S="${LAB_SHARE:-$PWD}"
L="$S/logs"; mkdir -p "$L"
cd "$S" || exit 2
TEST_TIMEOUT=240 SKIP_SMOKE=0 LAB_ONLY=
# shellcheck disable=SC1091
[ -r settings.env ] && . ./settings.env
SUMENV="$S/summary.env"; SUMTXT="$S/summary.txt"; : > "$SUMENV"; : > "$SUMTXT"
kv() { echo "$1=\"$2\"" >> "$SUMENV"; }
say() { echo "$*" | tee -a "$SUMTXT"; }
step() { echo; echo "=== [$(date +%T.%3N)] $*"; }

step "guest"
uname -r; ip -brief addr
lsmod | grep -w sctp || echo "sctp module NOT loaded"
# A send buffer per association: the registrar then runs ASAP and ENRP on one-to-many sockets
# (--sctp-sockets auto); the one-to-one runs below force the other style.
sysctl -w net.sctp.sndbuf_policy=1

# ---------------------------------------------------------------- registrar tests
step "registrar_daemon tests over kernel SCTP (one process per test, timeout ${TEST_TIMEOUT}s each)"
export RSERPOOL_TEST_TRANSPORT=sctp RUST_BACKTRACE=0
names="$(./registrar_daemon --list --format=terse 2>/dev/null | sed -n 's/: test$//p')"
[ -n "$LAB_ONLY" ] && names="$LAB_ONLY"
total=0 passed=0 failed=0 failed_names=""
for t in $names; do
  total=$((total + 1))
  t0=$(date +%s.%N)
  timeout -k 5 "$TEST_TIMEOUT" ./registrar_daemon --exact "$t" --test-threads=1 > "$L/test-$t.log" 2>&1
  rc=$?
  dt=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t0}")
  if [ $rc -eq 0 ] && grep -q '^test result: ok. 1 passed' "$L/test-$t.log"; then
    passed=$((passed + 1)); echo "PASS ${dt}s $t"
  else
    failed=$((failed + 1)); failed_names="$failed_names $t"
    [ $rc -eq 124 ] && why="timed out" || why="rc=$rc"
    echo "FAIL ${dt}s $t ($why)"
    grep -A3 'panicked at' "$L/test-$t.log" | head -n 12 | sed 's/^/    | /'
    grep '^test result' "$L/test-$t.log" | sed 's/^/    | /'
  fi
done
kv tests_total $total; kv tests_passed $passed; kv tests_failed $failed
kv tests_failed_names "${failed_names# }"
say "registrar_daemon over kernel SCTP: $passed/$total passed${failed_names:+, failed:$failed_names}"
# The same tests over TCP in this guest, timing alike: tells SCTP-specific failures apart.
for t in $failed_names; do
  RSERPOOL_TEST_TRANSPORT=tcp timeout -k 5 "$TEST_TIMEOUT" ./registrar_daemon --exact "$t" \
    --test-threads=1 > "$L/test-tcp-$t.log" 2>&1 && r="passes" || r="FAILS"
  say "  $t over TCP in the guest: $r"
done

# The suite above runs ASAP on the registrar's one-to-many socket (the default); a few tests
# again with a socket per association (--sctp-sockets one-to-one).
ONE_TO_ONE="${ONE_TO_ONE:-register_resolve_deregister takeover_with_two_registrars associations_beyond_the_limit_get_lack_of_resources attacks::attack_a_client_that_never_reads_is_dropped_not_buffered attacks::attack_silent_and_stalled_associations_are_closed three_registrars_converge}"
o_total=0 o_passed=0 o_failed=""
for t in $ONE_TO_ONE; do
  o_total=$((o_total + 1))
  if RSERPOOL_TEST_SCTP_SOCKETS=one-to-one timeout -k 5 "$TEST_TIMEOUT" ./registrar_daemon --exact "$t" \
    --test-threads=1 > "$L/test-1to1-$t.log" 2>&1 && grep -q '^test result: ok. 1 passed' "$L/test-1to1-$t.log"; then
    o_passed=$((o_passed + 1)); echo "PASS (one-to-one) $t"
  else
    o_failed="$o_failed $t"; echo "FAIL (one-to-one) $t"
  fi
done
say "registrar_daemon over kernel SCTP with one-to-one sockets: $o_passed/$o_total passed${o_failed:+, failed:$o_failed}"

step "transport unit tests over kernel SCTP (messages queued together, PPID per message, reassembly)"
if [ -x ./rserpool_lib_tests ]; then
  timeout -k 5 "$TEST_TIMEOUT" ./rserpool_lib_tests transport:: --test-threads=1 --nocapture \
    > "$L/lib-data-tests.log" 2>&1
  cat "$L/lib-data-tests.log"
  skipped=$(grep -c 'test skipped' "$L/lib-data-tests.log")
  say "rserpool transport unit tests in the guest: $(grep '^test result' "$L/lib-data-tests.log" | head -n1) (SCTP tests skipped: $skipped)"
fi

[ "$SKIP_SMOKE" = 1 ] && exit 0

# ---------------------------------------------------------------- RSPLIB smoke test
PR=10.255.255.1     # our registrar (dummy0; RSPLIB PEs refuse loopback-only addresses)
PR2=10.255.255.2    # an RSPLIB registrar peered with ours by ENRP
PE3=10.255.255.3    # the "host" of our own pool element
ip addr add $PR2/24 dev dummy0
ip addr add $PE3/24 dev dummy0
COMMON="-logcolor=off -loglevel=3"
PIDS=()
bg() { local name=$1; shift; "$@" > "$L/$name.log" 2>&1 & PIDS+=($!); echo "started $name (pid $!): $*"; }
wait_log() {  # wait_log FILE REGEX SECONDS
  local i; for ((i = 0; i < $3 * 10; i++)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

step "capture: dumpcap -i any (SCTP: ASAP/ENRP; UDP: announces)"
dumpcap -q -i any -f 'sctp or udp' -w /tmp/smoke.pcapng > "$L/dumpcap.log" 2>&1 & CAP=$!
# dumpcap needs several seconds to start under emulation: wait until it captures.
wait_log "$L/dumpcap.log" 'Capturing on' 60 || echo "dumpcap not ready: $(cat "$L/dumpcap.log")"
sleep 1

step "our registrar over kernel SCTP, peered with an RSPLIB registrar"
RUST_LOG=info,rserpool=debug bg registrar ./rserpool registrar --transport sctp \
  --asap $PR:3863 --enrp $PR:9901 --identifier 0x5 --peer $PR2:9901
REG=${PIDS[-1]}
if wait_log "$L/registrar.log" 'registrar started' 20; then say "smoke: our registrar started over SCTP"
else say "smoke: our registrar did NOT start"; tail -n 20 "$L/registrar.log"; fi
bg rspregistrar rspregistrar -asap=$PR2:3863 -enrp=$PR2:9901 -identifier=0x22 -peer=$PR:9901 $COMMON
sleep 3

step "RSPLIB pool elements: two Echo PEs at our registrar, one Daytime PE at the RSPLIB registrar"
bg pe-echo1 rspserver -echo -poolhandle=EchoPool -registrar=$PR:3863 $COMMON
bg pe-echo2 rspserver -echo -poolhandle=EchoPool -registrar=$PR:3863 $COMMON
bg pe-daytime rspserver -daytime -poolhandle=DaytimePool -registrar=$PR2:3863 $COMMON
sleep 8

step "hsdump of our registrar (ENRP handle table request over SCTP)"
timeout -s INT 10 hsdump $PR:9901 -logcolor=off > "$L/hsdump-ours.log" 2>&1
tail -n 40 "$L/hsdump-ours.log"
step "hsdump of the RSPLIB registrar (should hold our PEs, learnt by ENRP)"
timeout -s INT 10 hsdump $PR2:9901 -logcolor=off > "$L/hsdump-rsplib.log" 2>&1
tail -n 40 "$L/hsdump-rsplib.log"

step "pool user: rspterminal on EchoPool through our registrar"
( echo "hello through our registrar"; sleep 3; echo "second line"; sleep 3 ) \
  | timeout -s INT 15 rspterminal -poolhandle=EchoPool -registrar=$PR:3863 $COMMON > "$L/pu-echo.log" 2>&1
tail -n 30 "$L/pu-echo.log"
step "pool user: rspterminal on DaytimePool (PE registered at the RSPLIB registrar) through ours"
sleep 4 | timeout -s INT 4 rspterminal -poolhandle=DaytimePool -registrar=$PR:3863 $COMMON > "$L/pu-daytime.log" 2>&1
tail -n 15 "$L/pu-daytime.log"

step "(a) our pool user (rserpool pu) on EchoPool (RSPLIB rspserver PEs) through our registrar"
( echo "hello from rserpool pu"; sleep 3; echo "second line from rserpool pu"; sleep 2 ) \
  | RUST_LOG=info,rserpool=debug timeout -s INT 30 ./rserpool pu --transport sctp --pool EchoPool \
      --registrar $PR:3863 --linger 3s > "$L/pu-ours-echo.out" 2> "$L/pu-ours-echo.err"
echo "--- stdout (echoed lines)"; cat "$L/pu-ours-echo.out"
echo "--- stderr"; tail -n 15 "$L/pu-ours-echo.err"

step "(a') our pool user on an RSPLIB ping-pong PE: its ASAP Cookie on the data channel, our Cookie Echo after failover"
# A PE sends a Pong (PPID 33) and an ASAP Cookie (PPID 11) per Ping, then (-pppfailureafter=1)
# aborts the session; the pool user fails over to the other PE (it does not retry the one that
# just failed) and replays the cookie in an ASAP Cookie Echo; that PE restores the reply counter
# from it, so the second Pong has ReplyNo 2 only if the Cookie Echo was understood.
bg pe-pingpong1 rspserver -pingpong -poolhandle=PingPongPool -registrar=$PR:3863 -pppfailureafter=1 $COMMON
bg pe-pingpong2 rspserver -pingpong -poolhandle=PingPongPool -registrar=$PR:3863 -pppfailureafter=1 $COMMON
sleep 6
# Ping: type 1, flags 0, length 12 (u16), message number (u64); no byte is a newline.
ping1() { printf '\001\000\000\014\000\000\000\000\000\000\000\001\n'; }
ping2() { printf '\001\000\000\014\000\000\000\000\000\000\000\002\n'; }
( ping1; sleep 5; ping2; sleep 4 ) \
  | RUST_LOG=info,rserpool=debug timeout -s INT 30 ./rserpool pu --transport sctp --pool PingPongPool \
      --registrar $PR:3863 --linger 3s > "$L/pu-ours-pingpong.out" 2> "$L/pu-ours-pingpong.err"
echo "--- stdout (Pongs, hex)"; od -An -tx1 -v "$L/pu-ours-pingpong.out"
echo "--- stderr"; grep -vE ' (DEBUG|TRACE) ' "$L/pu-ours-pingpong.err" | tail -n 15
tail -n 6 "$L/pe-pingpong1.log" "$L/pe-pingpong2.log"

step "(b) our pool element (rserpool pe) registered at the RSPLIB registrar"
RUST_LOG=info,rserpool=debug bg pe-ours ./rserpool pe --transport sctp --pool OurEchoPool --service echo \
  --registrar $PR2:3863 --listen $PE3:0 --control $PE3:0
wait_log "$L/pe-ours.log" ' registered' 20 || echo "our PE did not register: $(tail -n 5 "$L/pe-ours.log")"
sleep 3
our_pe=$(sed -n 's/^PE \(0x[0-9a-f]*\) data \([^ ]*\) control \([^ ]*\)$/\1/p' "$L/pe-ours.log" | head -n1)
our_pe_data=$(sed -n 's/^PE 0x[0-9a-f]* data \([^ ]*\) control .*$/\1/p' "$L/pe-ours.log" | head -n1)
echo "our PE: id $our_pe, data $our_pe_data"
step "hsdump of the RSPLIB registrar with our PE"
timeout -s INT 10 hsdump $PR2:9901 -logcolor=off > "$L/hsdump-rsplib-ourpe.log" 2>&1
grep -A8 'OurEchoPool' "$L/hsdump-rsplib-ourpe.log" | head -n 20
step "rserpool dump of our registrar (our PE learnt by ENRP from the RSPLIB registrar)"
timeout -s INT 15 ./rserpool dump --transport sctp --peer $PR:9901 > "$L/dump-ours-ourpe.log" 2>&1
grep -i -B1 -A4 'OurEchoPool' "$L/dump-ours-ourpe.log" | head -n 20
step "rspterminal on OurEchoPool through the RSPLIB registrar"
( echo "hello from rspterminal"; sleep 3; echo "second line from rspterminal"; sleep 3 ) \
  | timeout -s INT 15 rspterminal -poolhandle=OurEchoPool -registrar=$PR2:3863 $COMMON > "$L/pu-rsp-ourpe.log" 2>&1
tail -n 15 "$L/pu-rsp-ourpe.log"
step "our pool user on OurEchoPool (our PE) through our registrar: both ends ours, over SCTP"
( echo "hello ours to ours"; sleep 3; echo "second line ours to ours"; sleep 2 ) \
  | RUST_LOG=info,rserpool=debug timeout -s INT 30 ./rserpool pu --transport sctp --pool OurEchoPool \
      --registrar $PR:3863 --linger 3s > "$L/pu-ours-ourpe.out" 2> "$L/pu-ours-ourpe.err"
echo "--- stdout"; cat "$L/pu-ours-ourpe.out"
echo "--- stderr"; grep -vE ' (DEBUG|TRACE) ' "$L/pu-ours-ourpe.err" | tail -n 10

step "our PE at the RSPLIB registrar without a concrete address (--listen 0.0.0.0:0): accepted?"
rsp_probe_line=$(wc -l < "$L/rspregistrar.log")
RUST_LOG=info bg pe-ours-any ./rserpool pe --transport sctp --pool AnyAddrPool --service echo \
  --registrar $PR2:3863 --lifetime 30s
wait_log "$L/pe-ours-any.log" ' registered|registration failed|reported an error' 15
grep -E 'registered|registration failed|error' "$L/pe-ours-any.log" | head -n 3
any_verdict=$(grep -qE ' registered' "$L/pe-ours-any.log" && echo accepted \
  || echo "not accepted: $(grep -m1 -oE '(registration failed|reported an error).*' "$L/pe-ours-any.log" | cut -c1-120)")

step "stop PEs (SIGINT: deregistration), registrars, capture"
for p in "${PIDS[@]:2}"; do kill -INT "$p" 2>/dev/null; done
sleep 4
kill -INT "${PIDS[1]}" 2>/dev/null; kill -INT "$REG" 2>/dev/null
sleep 2
reg_alive=0; kill -0 "$REG" 2>/dev/null && reg_alive=1
kill -INT $CAP; wait $CAP
cp /tmp/smoke.pcapng "$S/smoke.pcapng"

step "logs"
for f in registrar rspregistrar pe-echo1 pe-daytime pe-pingpong1 pe-pingpong2 pe-ours; do echo "--- $f"; tail -n 25 "$L/$f.log"; done

step "decode (tshark in the guest)"
. /lab/ctl/lab-lib.sh
decode_rserpool "$S/smoke.pcapng" "$S/smoke"
frames=$(tshark -r "$S/smoke.pcapng" 2>/dev/null | wc -l)
malformed=$(tshark -r "$S/smoke.pcapng" -Y '_ws.malformed' 2>/dev/null | wc -l)
asap=$(tshark -r "$S/smoke.pcapng" -Y 'asap' 2>/dev/null | wc -l)
enrp=$(tshark -r "$S/smoke.pcapng" -Y 'enrp' 2>/dev/null | wc -l)
ours=$(tshark -r "$S/smoke.pcapng" -Y "(asap || enrp) && ip.src == $PR && (sctp.srcport == 3863 || sctp.srcport == 9901)" 2>/dev/null | wc -l)
tshark -r "$S/smoke.pcapng" -Y '_ws.malformed' 2>/dev/null | head -n 20
./rserpool inspect --verify "$S/smoke.pcapng" > "$L/inspect.log" 2>&1; inspect_rc=$?
tail -n 25 "$L/inspect.log"

step "interop verdicts"
reg_ok=$(cat "$L"/pe-echo*.log | grep -c 'Home registrar is \$00000005')
echo_ok=$(grep -c 'from PE .*> hello through our registrar' "$L/pu-echo.log")
rejected=$(tshark -r "$S/smoke.pcapng" -Y 'asap.reject_bit == 1' 2>/dev/null | wc -l)
badppid=$(tshark -r "$S/smoke.pcapng" -Y "ip.src == $PR && (sctp.srcport == 3863 || sctp.srcport == 9901) && sctp.data_payload_proto_id && !(sctp.data_payload_proto_id == 11 || sctp.data_payload_proto_id == 12)" 2>/dev/null | wc -l)
hs_of() { grep -m1 -o 'Handlespace\[home=[^]]*\]: ([^)]*)' "$1" | sed 's/.*: //'; }
hs_ours=$(hs_of "$L/hsdump-ours.log"); hs_rsplib=$(hs_of "$L/hsdump-rsplib.log")
daytime=$(grep -cE 'from PE .*> [A-Z][a-z]+day, ' "$L/pu-daytime.log")
say "smoke capture: $frames frames, $asap ASAP, $enrp ENRP ($ours sent by our registrar), tshark malformed: $malformed"
say "smoke rserpool inspect --verify: exit $inspect_rc ($(grep -E 'messages|malformed|mismatch' "$L/inspect.log" | tail -n 2 | tr '\n' ' '))"
say "smoke ASAP with reject bit: $rejected; Echo PEs that took our registrar as home: $reg_ok of 2"
say "smoke DATA chunks from our registrar with a PPID other than ASAP 11 / ENRP 12: $badppid"
rsp_warn_before=$(head -n "${rsp_probe_line:-999999}" "$L/rspregistrar.log" | grep -c 'Warning')
rsp_warn_after=$(tail -n +"$(( ${rsp_probe_line:-999999} + 1 ))" "$L/rspregistrar.log" | grep -c 'Warning')
say "smoke RSPLIB registrar warnings: $rsp_warn_before before the deliberate 0.0.0.0 registration, $rsp_warn_after from it on; distinct:"
grep -h 'Warning' "$L/rspregistrar.log" | sed 's/^.*Warning: /    /' | sort | uniq -c | sort -rn | head -n 5 | tee -a "$SUMTXT"
say "smoke our registrar WARN lines: $(grep -c ' WARN ' "$L/registrar.log"); distinct:"
grep -h ' WARN ' "$L/registrar.log" | sed 's/^.* WARN //; s/from=.*//' | sort | uniq -c | sort -rn | head -n 5 | tee -a "$SUMTXT"
say "smoke hsdump (expect 2 pools, 3 PEs in each): ours ${hs_ours:-no answer}, RSPLIB peer ${hs_rsplib:-no answer}"
say "smoke rspterminal echo through our registrar: $([ "$echo_ok" -gt 0 ] && echo works || echo "no echo ($echo_ok)")"
say "smoke rspterminal daytime (PE at RSPLIB registrar) via ours: $([ "$daytime" -gt 0 ] && echo works || echo 'no reply')"
say "smoke our registrar stopped on SIGINT: $([ $reg_alive = 0 ] && echo yes || echo NO)"

# Data channels over SCTP (one SCTP message per frame, PPID in the DATA chunk).
ours_echo=$(grep -c '^hello from rserpool pu$' "$L/pu-ours-echo.out")
ours_echo2=$(grep -c '^second line from rserpool pu$' "$L/pu-ours-echo.out")
pong_hex=$(od -An -tx1 -v "$L/pu-ours-pingpong.out" | tr -d ' \n')
pong1=0; pong2=0
# Pong: type 2, flags 0, length 20, message number, reply number.
case "$pong_hex" in *0200001400000000000000010000000000000001*) pong1=1;; esac
case "$pong_hex" in *0200001400000000000000020000000000000002*) pong2=1;; esac
replayed=$(grep -c 'cookie replayed' "$L/pu-ours-pingpong.err")
tsv="$S/smoke.summary.tsv"
cookies=$(grep -cP '\tASAP Cookie\s*$' "$tsv"); cookie_echoes=$(grep -c 'ASAP Cookie Echo' "$tsv")
rsp_ours=$(grep -c 'from PE .*> hello from rspterminal' "$L/pu-rsp-ourpe.log")
hs_id=""; [ -n "$our_pe" ] && hs_id="\$${our_pe#0x}"
hs_ourpe=no
if [ -n "$hs_id" ] && grep -q 'Pool "OurEchoPool"' "$L/hsdump-rsplib-ourpe.log" \
     && grep -qF "$hs_id" "$L/hsdump-rsplib-ourpe.log"; then hs_ourpe=yes; fi
dump_ourpe=no
[ -n "$our_pe" ] && grep -q 'OurEchoPool' "$L/dump-ours-ourpe.log" && grep -qiF "${our_pe#0x}" "$L/dump-ours-ourpe.log" && dump_ourpe=yes
# One handlespace: the PE IDs hsdump gets from rspregistrar and `rserpool dump` from ours.
pes_rsplib=$(grep -o 'sel:#[0-9]*: \$[0-9a-f]*' "$L/hsdump-rsplib-ourpe.log" | sed 's/.*\$//' | sort -u | tr '\n' ' ')
pes_ours=$(grep -o '^  PE 0x[0-9a-f]*' "$L/dump-ours-ourpe.log" | sed 's/.*0x//' | sort -u | tr '\n' ' ')
ours_ours=$(grep -c '^hello ours to ours$' "$L/pu-ours-ourpe.out")
pe_port=${our_pe_data##*:}
asap_pe_ppid=$(tshark -r "$S/smoke.pcapng" -Y "ip.src == $PE3 && sctp.dstport == 3863 && sctp.data_payload_proto_id" -T fields -e sctp.data_payload_proto_id 2>/dev/null | tr ',' '\n' | sort | uniq -c | tr '\n' ' ')
data_ppids=$(tshark -r "$S/smoke.pcapng" -Y "sctp.port == ${pe_port:-0} && sctp.data_payload_proto_id" -T fields -e sctp.data_payload_proto_id 2>/dev/null | tr ',' '\n' | sort | uniq -c | tr '\n' ' ')
say "smoke rserpool pu -> rspserver echo (via our registrar): $([ "$ours_echo" -gt 0 ] && [ "$ours_echo2" -gt 0 ] && echo works || echo "no echo ($ours_echo/$ours_echo2)")"
say "smoke rserpool pu -> rspserver ping-pong: pong 1 $([ $pong1 = 1 ] && echo yes || echo no), failover with cookie replayed: $([ "$replayed" -gt 0 ] && echo yes || echo no), pong 2 with the replayed reply number: $([ $pong2 = 1 ] && echo yes || echo no)"
say "smoke data-channel ASAP decoded by tshark: $cookies Cookie, $cookie_echoes Cookie Echo"
say "smoke rspterminal -> rserpool pe at rspregistrar: $([ "$rsp_ours" -gt 0 ] && echo works || echo 'no echo')"
say "smoke hsdump of rspregistrar lists our PE ${our_pe:-?}: $hs_ourpe; rserpool dump of our registrar lists it (ENRP): $dump_ourpe"
say "smoke with our PE: hsdump of rspregistrar and rserpool dump of ours list the same PEs: $([ -n "$pes_ours" ] && [ "$pes_ours" = "$pes_rsplib" ] && echo "yes ($(echo $pes_ours | wc -w) PEs)" || echo "NO (rsplib: $pes_rsplib; ours: $pes_ours)")"
say "smoke rserpool pu -> rserpool pe over SCTP: $([ "$ours_ours" -gt 0 ] && echo works || echo 'no echo'); PPIDs on our PE's data port (count ppid): ${data_ppids:-none}"
say "smoke our PE registering 0.0.0.0 (no --listen address) at rspregistrar: $any_verdict"
say "smoke PPIDs of our PE's ASAP association to rspregistrar (count ppid): ${asap_pe_ppid:-none}"
kv smoke_malformed "$malformed"; kv smoke_inspect_rc "$inspect_rc"
exit 0
