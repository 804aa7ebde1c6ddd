#!/bin/bash
# CMDFILE for the lab VM's run.sh (started by mixed-scope.sh; runs as root in the guest).
# A mixed operation scope over kernel SCTP: two RSPLIB 3.4.4 registrars (A 0x11, B 0x22) and
# ours (C 0x33), all peered; in pool RspPool one RSPLIB echo PE homed at each registrar, in pool
# OurPool one `rserpool pe` homed at each. Every PE knows all three registrars (its home first),
# so a PE whose home dies is taken over by a peer or re-registers at another registrar.
# Steps: start; kill -9 of RSPLIB registrar A; kill -9 of ours; restart of ours.
# After each step, on every registrar still running: the PE IDs its handlespace lists (hsdump for
# RSPLIB's, `rserpool dump` for ours) are the same, and a handle resolution of each pool through
# it (`rserpool resolve`) names exactly that pool's live PEs. Under one capture, which tshark must
# decode with no malformed frame.
# Expects in the share dir: rserpool. Writes summary.env, summary.txt, logs/, mixed.pcapng.
set -u
S="${LAB_SHARE:-$PWD}"
L="$S/logs"; mkdir -p "$L"
cd "$S" || exit 2
SUMENV="$S/summary.env"; SUMTXT="$S/summary.txt"; : > "$SUMENV"; : > "$SUMTXT"
kv() { echo "$1=\"$2\"" >> "$SUMENV"; }
say() { echo "$*" | tee -a "$SUMTXT"; }
step() { echo; echo "=== [$(date +%T.%3N)] $*"; }
wait_log() {  # wait_log FILE REGEX SECONDS
  local i; for ((i = 0; i < $3 * 10; i++)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

A=10.255.255.1; B=10.255.255.2; C=10.255.255.3          # registrars: RSPLIB, RSPLIB, ours
HA=10.255.255.11; HB=10.255.255.12; HC=10.255.255.13    # hosts of our PEs
for a in $B $C $HA $HB $HC; do ip addr add $a/24 dev dummy0; done
COMMON="-logcolor=off -loglevel=3"
# Short ENRP and keep-alive timers on every registrar, so a step settles in seconds.
RSP_TIMERS="-peerheartbeatcycle=2000 -peermaxtimelastheard=5000 -peermaxtimenoresponse=2000 \
  -endpointkeepalivetransmissioninterval=2000 -endpointkeepalivetimeoutinterval=2000 \
  -takeoverexpiryinterval=5000"
OUR_TIMERS="--peer-heartbeat-cycle 2s --max-time-last-heard 5s \
  --max-time-no-response 2s --keep-alive-transmission-interval 2s \
  --keep-alive-timeout 2s --takeover-expiry 5s"
declare -A PID
bg() { local name=$1; shift; "$@" >> "$L/$name.log" 2>&1 & PID[$name]=$!; echo "started $name (pid $!): $*"; }

step "capture: dumpcap -i any (SCTP: ASAP/ENRP)"
dumpcap -q -i any -f 'sctp' -w /tmp/mixed.pcapng > "$L/dumpcap.log" 2>&1 & CAP=$!
wait_log "$L/dumpcap.log" 'Capturing on' 60 || echo "dumpcap not ready: $(cat "$L/dumpcap.log")"
sleep 1

start_rsp() {  # start_rsp NAME ADDR ID PEER1 PEER2
  # shellcheck disable=SC2086
  bg "$1" rspregistrar -asap=$2:3863 -enrp=$2:9901 -identifier=$3 -peer=$4:9901 -peer=$5:9901 \
    $RSP_TIMERS $COMMON
}
start_ours() {
  # shellcheck disable=SC2086
  RUST_LOG=info,rserpool=debug bg ours ./rserpool registrar --transport sctp --asap $C:3863 \
    --enrp $C:9901 --identifier 0x33 --peer $A:9901 --peer $B:9901 --no-announce $OUR_TIMERS
  wait_log "$L/ours.log" 'registrar started' 30 || say "our registrar did NOT start: $(tail -n 3 "$L/ours.log")"
}

step "registrars: RSPLIB A ($A, 0x11), RSPLIB B ($B, 0x22), ours C ($C, 0x33)"
start_rsp rspA $A 0x11 $B $C
start_rsp rspB $B 0x22 $A $C
start_ours
sleep 4

step "pool elements: RspPool (rspserver -echo) and OurPool (rserpool pe), one homed at each registrar"
i=0
for home in $A $B $C; do
  i=$((i + 1))
  others=""; for r in $A $B $C; do [ $r != $home ] && others="$others $r"; done
  set -- $others
  bg "rsppe$i" rspserver -echo -poolhandle=RspPool -registrar=$home:3863 -registrar=$1:3863 \
    -registrar=$2:3863 $COMMON
  host=$(eval echo "\$H$(printf '%s' ABC | cut -c$i)")
  RUST_LOG=info,rserpool=debug bg "ourpe$i" ./rserpool pe --transport sctp --pool OurPool \
    --service echo --registrar $home:3863 --registrar $1:3863 --registrar $2:3863 \
    --listen $host:0 --control $host:0
done
sleep 12

# ---- checks -----------------------------------------------------------------------------------
norm() { tr 'A-F' 'a-f' | sed 's/^0*//' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
pes_hsdump() { timeout -s INT 15 hsdump "$1:9901" -logcolor=off > "$2" 2>&1
  grep -o 'sel:#[0-9]*: \$[0-9a-fA-F]*' "$2" | sed 's/.*\$//' | norm; }
pes_dump() { timeout -s INT 20 ./rserpool dump --transport sctp --peer "$1:9901" > "$2" 2>&1
  grep -o '^  PE 0x[0-9a-f]*' "$2" | sed 's/.*0x//' | norm; }
pes_resolve() { timeout -s INT 20 ./rserpool resolve --transport sctp --pool "$2" \
    --registrar "$1:3863" > "$3" 2>&1
  grep -o '^PE 0x[0-9a-f]*' "$3" | sed 's/.*0x//' | norm; }
pe_ids_of_pool() {  # the PE IDs a registrar lists in one pool (from its dump/hsdump file)
  awk -v pool="$2" '
    /^Pool "/ || /Pool "/ { cur = ($0 ~ "\"" pool "\"") }
    cur && match($0, /sel:#[0-9]*: \$[0-9a-fA-F]+/) { s = substr($0, RSTART, RLENGTH); sub(/.*\$/, "", s); print s }
    cur && match($0, /^  PE 0x[0-9a-f]+/) { s = substr($0, RSTART, RLENGTH); sub(/.*0x/, "", s); print s }
  ' "$1" | norm; }
fails=0
check() {  # check STEP  (registrars listed in ALIVE as name:addr:kind)
  local tag=$1 first="" ok=1 n=0 r name addr kind pes f
  step "check after: $tag"
  for r in $ALIVE; do
    IFS=: read -r name addr kind <<< "$r"
    f="$L/$tag-$name.dump"
    if [ "$kind" = rsp ]; then
      pes=$(pes_hsdump "$addr" "$f")
      # `rserpool dump` and `rserpool monitor` read an RSPLIB registrar as its own hsdump does.
      local ours_view mon
      ours_view=$(pes_dump "$addr" "$f.rserpool-dump")
      timeout -s INT 20 ./rserpool monitor --once --transport sctp --peer "$addr:9901" \
        > "$f.monitor" 2>&1
      mon=$(grep -oiE '0x[0-9a-f]{8}' "$f.monitor" | sed 's/0x//' | norm)
      if [ -n "$pes" ] && [ "$ours_view" = "$pes" ]; then
        say "[$tag] rserpool dump of $name: the same $(echo "$pes" | wc -w) PEs as hsdump"
      else
        say "[$tag] rserpool dump of $name: MISMATCH (hsdump: $pes; rserpool dump: $ours_view; $(tail -n 1 "$f.rserpool-dump"))"
        ok=0
      fi
      local missing=0 id
      for id in $pes; do case " $mon " in *" $id "*) ;; *) missing=$((missing + 1));; esac; done
      if [ -n "$pes" ] && [ $missing = 0 ]; then say "[$tag] rserpool monitor --once of $name: shows every PE"
      else say "[$tag] rserpool monitor --once of $name: $missing PEs MISSING ($(tail -n 1 "$f.monitor"))"; ok=0; fi
    else
      pes=$(pes_dump "$addr" "$f")
    fi
    n=$(echo "$pes" | wc -w)
    say "[$tag] $name lists $n PEs: $pes"
    if [ -z "$first" ]; then first="$pes"; elif [ "$pes" != "$first" ]; then ok=0; fi
    for pool in RspPool OurPool; do
      local listed resolved
      listed=$(pe_ids_of_pool "$f" "$pool")
      resolved=$(pes_resolve "$addr" "$pool" "$L/$tag-$name-$pool.resolve")
      if [ -n "$listed" ] && [ "$resolved" = "$listed" ]; then
        say "[$tag] resolution of $pool through $name: all $(echo "$listed" | wc -w) listed PEs"
      else
        say "[$tag] resolution of $pool through $name: MISMATCH (listed: $listed; resolved: $resolved; $(head -c 200 "$L/$tag-$name-$pool.resolve"))"
        ok=0
      fi
    done
  done
  local want=$(( EXPECT ))
  [ "$(echo "$first" | wc -w)" -eq "$want" ] || { ok=0; say "[$tag] expected $want PEs"; }
  if [ $ok = 1 ]; then say "STEP $tag: PASS (every registrar lists the same $want PEs; every pool resolves to them)"
  else say "STEP $tag: FAIL"; fails=$((fails + 1)); fi
  kv "step_${tag//-/_}" "$([ $ok = 1 ] && echo pass || echo fail)"
}

EXPECT=6
ALIVE="rspA:$A:rsp rspB:$B:rsp ours:$C:ours"
check start

step "kill -9 of RSPLIB registrar A"
kill -9 "${PID[rspA]}"
sleep 20
ALIVE="rspB:$B:rsp ours:$C:ours"
check kill-rsplib

step "kill -9 of our registrar C"
kill -9 "${PID[ours]}"
sleep 20
ALIVE="rspB:$B:rsp"
check kill-ours

step "restart of our registrar C"
start_ours
sleep 20
ALIVE="rspB:$B:rsp ours:$C:ours"
check restart-ours

step "stop everything, capture"
for p in "${PID[@]}"; do kill -INT "$p" 2>/dev/null; done
sleep 3
kill -INT $CAP; wait $CAP
cp /tmp/mixed.pcapng "$S/mixed.pcapng"

step "decode (tshark in the guest)"
frames=$(tshark -r "$S/mixed.pcapng" 2>/dev/null | wc -l)
malformed=$(tshark -r "$S/mixed.pcapng" -Y '_ws.malformed' 2>/dev/null | wc -l)
enrp=$(tshark -r "$S/mixed.pcapng" -Y 'enrp' 2>/dev/null | wc -l)
enrp_err=$(tshark -r "$S/mixed.pcapng" -Y 'enrp.message_type == 13' 2>/dev/null | wc -l)
tshark -r "$S/mixed.pcapng" -Y '_ws.malformed' 2>/dev/null | head -n 20
./rserpool inspect --verify "$S/mixed.pcapng" > "$L/inspect.log" 2>&1; inspect_rc=$?
tail -n 5 "$L/inspect.log"
say "capture: $frames frames, $enrp ENRP, ENRP Error messages: $enrp_err, tshark malformed: $malformed"
say "rserpool inspect --verify: exit $inspect_rc ($(grep -E 'messages|malformed|mismatch' "$L/inspect.log" | tail -n 2 | tr '\n' ' '))"
inv=$(cat "$L"/rspA.log "$L"/rspB.log 2>/dev/null | grep -ciE 'invalid registrator')
usable=$(cat "$L"/rspA.log "$L"/rspB.log 2>/dev/null | grep -c 'no usable ENRP endpoint')
say "RSPLIB registrars: 'invalid registrator' $inv times, 'no usable ENRP endpoint addresses' $usable times"
say "our registrar: ENRP Errors from peers: $(grep -c 'peer answered with ENRP Error' "$L/ours.log")"
[ "$malformed" -eq 0 ] || fails=$((fails + 1))
[ "$inv" -eq 0 ] || fails=$((fails + 1))
[ "$usable" -eq 0 ] || fails=$((fails + 1))
kv malformed "$malformed"; kv fails "$fails"
say "mixed scope: $([ $fails = 0 ] && echo PASS || echo "FAIL ($fails)")"
exit 0
