#!/bin/bash
# CMDFILE for the lab VM's run.sh (started by bench-scope-sctp.sh; runs as root in the guest).
# Expects in the share dir: rserpool, settings.env, and sctp-floor (built from sctp-floor.c;
# without it the floor is skipped). Drives our registrar and RSPLIB's rspregistrar, both over
# kernel SCTP, with the same `rserpool bench scope` loads, alternating between them round by
# round, and compares registrar CPU per operation. With FLOOR=1 sctp-floor is benched too in the
# single-registrar rounds: one recv and one send per request and no handlespace, so its CPU per
# operation is the kernel's SCTP work that any registrar pays (the reachable floor).
# Writes: summary.txt, commands.txt, all.csv (every row, tagged), csv/, logs/.
# `guest-bench-scope-sctp.sh --table ALL.CSV` only prints the table and ratios of an all.csv
# (also on the host, e.g. for target/lab/bench-scope-sctp/all.csv).
set -u

# table ALL.CSV: per phase, load and implementation the means over the rounds, then the ratios
# of each contender (ours, ours-mt, floor) to RSPLIB.
table() {
  awk -F, '
  function tq(n,   t) { split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228", t, " ")
    return n >= 12 ? 2.2 : t[n - 1] + 0 }
  function mean(k,   i, s) { s = 0; for (i = 1; i <= cnt[k]; i++) s += v[k, i]; return cnt[k] ? s / cnt[k] : 0 }
  function ci(k,   i, m, s) { if (cnt[k] < 2) return 0; m = mean(k); s = 0
    for (i = 1; i <= cnt[k]; i++) s += (v[k, i] - m)^2; return tq(cnt[k]) * sqrt(s / (cnt[k] - 1)) / sqrt(cnt[k]) }
  function add(k, x) { v[k, ++cnt[k]] = x }
  function fmt(k, d) { return cnt[k] ? sprintf("%." d "f ± %." d "f", mean(k), ci(k)) : "-" }
  BEGIN { nimp = split("ours rsplib ours1to1 oursmt floor", imps, " ")   # row order; the impl tags of bench()
    name["ours"] = "ours"; name["rsplib"] = "RSPLIB"; name["ours1to1"] = "ours-1:1"; name["oursmt"] = "ours-mt"; name["floor"] = "floor" }
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  {
    ph = $1; ld = $2; im = $3; rd = $4
    rr = $col["rereg_per_s"]; rs = $col["resolutions_per_s"]
    c1 = $col["cpu_pr1_pct"]; c2 = $col["cpu_pr2_pct"]
    k = ph SUBSEP ld SUBSEP im
    isrr = ld ~ /^rereg/   # rereg, rereg2k: re-registrations; res, res2k: resolutions
    if (!(ld in seenld)) { seenld[ld] = 1; lds[++nld] = ld }
    rows[k]++; err[k] += $col["errors"]
    off = isrr ? $col["offered_rereg_per_s"] : $col["offered_resolutions_per_s"]
    got = isrr ? rr : rs
    if (got < 0.99 * off || $col["errors"] > 0) bad[k]++
    add(k SUBSEP "rate", got); add(k SUBSEP "off", off)
    add(k SUBSEP "cpu1", c1); if (c2 != "") add(k SUBSEP "cpu2", c2)
    cg = $col["cpu_generator_pct"]
    if (cg > 0) { add(k SUBSEP "norm", c1 / cg); norm[k, rd] = c1 / cg }
    add(k SUBSEP "p99", isrr ? $col["reg_p99_ms"] : $col["res_p99_ms"])
    us = $col["user_share_pr1"]
    if (us != "") add(k SUBSEP "us", us)
    if (us != "" && got > 0) { add(k SUBSEP "uper1", 10 * c1 * us / got); uper1[k, rd] = 10 * c1 * us / got }
    if (isrr && rr > 0) {
      add(k SUBSEP "per1", 10 * c1 / rr); per1[k, rd] = 10 * c1 / rr
      if (c2 != "") { add(k SUBSEP "per2", 10 * c2 / rr); per2[k, rd] = 10 * c2 / rr }
    }
    if (!isrr && rs > 0) {
      add(k SUBSEP "per1", 10 * c1 / rs); per1[k, rd] = 10 * c1 / rs
      resrow[k, rd] = c1 SUBSEP rr SUBSEP rs
      if (c2 != "") { add(k SUBSEP "per2", 10 * c2 / rs); per2[k, rd] = 10 * c2 / rs }
    }
    # The whole machine (registrars, generator, softirqs): over loopback a send carries the
    # protocol work of the receiver, and an acknowledgement sent at once is charged to the sender
    # of what it acknowledges, so only this total is free of who pays for whom.
    cs = ("cpu_system_pct" in col) ? $col["cpu_system_pct"] : ""
    if (cs != "" && got > 0) { add(k SUBSEP "sper", 10 * cs / got); sper[k, rd] = 10 * cs / got }
    rounds[rd] = 1; phases[ph] = 1
  }
  END {
    # Resolution cost net of the re-registrations in the same load, at the
    # re-registration cost of the matching rereg load (res -> rereg, res2k -> rereg2k).
    for (kr in resrow) {
      split(kr, a, SUBSEP); split(resrow[kr], b, SUBSEP)
      kk = a[1] SUBSEP "rereg" substr(a[2], 4) SUBSEP a[3]; c = mean(kk SUBSEP "per1")
      k = a[1] SUBSEP a[2] SUBSEP a[3]
      x = 10 * (b[1] - b[2] * c / 10) / b[3]; add(k SUBSEP "net1", x); net1[k, a[4]] = x
    }
    n = split("single pair", order, " ")
    for (o = 1; o <= n; o++) {
      ph = order[o]; if (!(ph in phases)) continue
      printf "\n[%s] %s\n", ph, ph == "single" ? "one registrar" : "two registrars peered by ENRP; PEs and PUs at PR 1, PR 2 learns by ENRP"
      printf "%-8s %-7s %-18s %-7s %-14s %-14s %-15s %-7s %-6s %s\n", "load", "impl", "rate/s (offered)", "runs ok", "PR1 CPU %", \
        "PR2 CPU %", "PR1 CPU/gen CPU", "p99 ms", "errors", "CPU s per 1000 ops at PR1 [PR2]"
      for (li = 1; li <= nld; li++) {
        ld = lds[li]
        for (ii = 1; ii <= nimp; ii++) {
          im = imps[ii]; k = ph SUBSEP ld SUBSEP im
          if (!rows[k]) continue
          extra = ""
          if (cnt[k SUBSEP "per2"]) extra = " [" fmt(k SUBSEP "per2", 4) "]"
          if (ld !~ /^rereg/) extra = extra "; net of rereg " fmt(k SUBSEP "net1", 4)
          extra = extra "; user share " fmt(k SUBSEP "us", 2) ", user CPU s per 1000 " fmt(k SUBSEP "uper1", 4)
          if (cnt[k SUBSEP "sper"]) extra = extra "; whole machine CPU s per 1000 " fmt(k SUBSEP "sper", 4)
          printf "%-8s %-7s %-18s %-7s %-15s %-15s %-16s %-7s %-6s %s%s\n", ld, name[im], \
            sprintf("%.1f (%.0f)", mean(k SUBSEP "rate"), mean(k SUBSEP "off")), (rows[k] - bad[k]) "/" rows[k], \
            fmt(k SUBSEP "cpu1", 1), cnt[k SUBSEP "cpu2"] ? fmt(k SUBSEP "cpu2", 1) : "-", fmt(k SUBSEP "norm", 2), \
            sprintf("%.2f", mean(k SUBSEP "p99")), err[k] + 0, fmt(k SUBSEP "per1", 4), extra
        }
      }
      # Each contender against RSPLIB: ours, ours-1:1, ours-mt, and the floor (what is reachable at all).
      for (ii = 1; ii <= nimp; ii++) for (li = 1; li <= nld; li++) {
        im = imps[ii]; ld = lds[li]
        ko = ph SUBSEP ld SUBSEP im; kr = ph SUBSEP ld SUBSEP "rsplib"
        if (im == "rsplib" || !rows[ko] || !rows[kr]) continue
        for (rd in rounds) if (((ko, rd) in per1) && ((kr, rd) in per1) && per1[kr, rd] > 0) add("q" ph ld im, per1[ko, rd] / per1[kr, rd])
        line = sprintf("ratio %s/RSPLIB, CPU per %s at PR1 (load %s): %.3f (per-round ratios %s)", \
          name[im], ld ~ /^rereg/ ? "re-registration" : "handle resolution", ld, mean(ko SUBSEP "per1") / mean(kr SUBSEP "per1"), fmt("q" ph ld im, 3))
        for (rd in rounds) if (((ko, rd) in norm) && ((kr, rd) in norm) && norm[kr, rd] > 0) add("n" ph ld im, norm[ko, rd] / norm[kr, rd])
        line = line sprintf("; normalised by generator CPU %s", fmt("n" ph ld im, 3))
        if (ld !~ /^rereg/ && mean(kr SUBSEP "net1") > 0) line = line sprintf("; net of rereg %.3f", mean(ko SUBSEP "net1") / mean(kr SUBSEP "net1"))
        if (mean(kr SUBSEP "uper1") > 0) line = line sprintf("; user CPU only %.3f", mean(ko SUBSEP "uper1") / mean(kr SUBSEP "uper1"))
        for (rd in rounds) if (((ko, rd) in sper) && ((kr, rd) in sper) && sper[kr, rd] > 0) add("s" ph ld im, sper[ko, rd] / sper[kr, rd])
        if (cnt["s" ph ld im]) line = line sprintf("; whole machine %s", fmt("s" ph ld im, 3))
        if (cnt[ko SUBSEP "per2"] && cnt[kr SUBSEP "per2"] && mean(kr SUBSEP "per2") > 0) line = line sprintf("; at PR2 %.3f", mean(ko SUBSEP "per2") / mean(kr SUBSEP "per2"))
        print line
      }
    }
  }' "$1"
}
if [ "${1:-}" = --table ]; then
  [ -r "${2:-}" ] || { echo "usage: $0 --table ALL.CSV" >&2; exit 2; }
  table "$2"; exit
fi

S="${LAB_SHARE:-$PWD}"
L="$S/logs"; C="$S/csv"; mkdir -p "$L" "$C"
cd "$S" || exit 2
REREG_PES=200 REREG_MS=1000 RES_PES=10 RES_PES_MS=10000 RES_PUS=25 RES_MS=200
MANY=1 MANY_PES=2000 MANY_MS=10000 MANY_RES_MS=60000
DURATION=10 WARMUP=3 ROUNDS=3 RSP_LOGLEVEL=1 PAIR=1 OURS_MT=0 OURS_1TO1=1 FLOOR=1 SNDBUF_POLICY=1
# shellcheck disable=SC1091
[ -r settings.env ] && . ./settings.env
FLOOR_NOTE=
if [ "$FLOOR" = 1 ] && [ ! -x ./sctp-floor ]; then
  FLOOR=0 FLOOR_NOTE="floor skipped: no sctp-floor in the share dir (no gcc on the host?)"
fi
SUMTXT="$S/summary.txt"; CMDS="$S/commands.txt"; ALL="$S/all.csv"
: > "$SUMTXT"; : > "$CMDS"; : > "$ALL"
say() { echo "$*" | tee -a "$SUMTXT"; }
step() { echo; echo "=== [$(date +%T.%3N)] $*"; }

# dummy0 addresses: RSPLIB refuses loopback-only PE addresses.
OURS=10.255.255.1 RSP=10.255.255.2 OURS2=10.255.255.3 RSP2=10.255.255.4 GEN=10.255.255.10
OURSMT=10.255.255.5 FLOOR_AT=10.255.255.6 OURS1TO1=10.255.255.7
for a in $RSP $OURS2 $RSP2 $OURSMT $FLOOR_AT $OURS1TO1 $GEN; do ip addr add $a/24 dev dummy0; done
ulimit -n 65536
# net.sctp.sndbuf_policy 1: a send buffer per association of a one-to-many socket (0, Linux's
# default: one for all, and every acknowledged chunk wakes the socket's waiters once per
# association). Ours picks one-to-many sockets only with 1 (--sctp-sockets auto); RSPLIB uses
# them either way.
sysctl -w net.sctp.sndbuf_policy="$SNDBUF_POLICY"

step "guest"
uname -r; nproc; ip -brief addr
lsmod | grep -w sctp || echo "sctp module NOT loaded"
rspregistrar -h 2>&1 | head -n 3 || true

PIDS=()
bg() { local name=$1; shift; "$@" > "$L/$name.log" 2>&1 & PIDS+=($!); echo "started $name (pid $!): $*" | tee -a "$CMDS"; }
stop_all() {
  local p; for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
  sleep 2; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null; PIDS=()
}
ours() {  # ours NAME ADDR ID [PEER]  (OURS_ARGS: more registrar flags, e.g. --threads 2)
  # shellcheck disable=SC2086
  bg "$1" env RUST_LOG=warn ./rserpool registrar ${OURS_ARGS:-} --transport sctp --asap "$2:3863" --enrp "$2:9901" \
    --identifier "$3" --no-announce --max-hres-items 3 ${4:+--peer "$4:9901"}
}
rsplib() {  # rsplib NAME ADDR ID [PEER]
  bg "$1" rspregistrar -asap="$2:3863" -enrp="$2:9901" -identifier="$3" -asapannounce=off \
    -enrpannounce=off -maxhresitems=3 -loglevel="$RSP_LOGLEVEL" -logcolor=off ${4:+-peer="$4:9901"}
}
alive() { kill -0 "$1" 2>/dev/null; }
ticks() { awk '{sub(/^.*\) /, ""); print $12, $13}' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }  # utime stime

REREG_LOAD="--pes $REREG_PES --rereg-interval ${REREG_MS}ms"
RES_LOAD="--pes $RES_PES --rereg-interval ${RES_PES_MS}ms --pus $RES_PUS --resolve-interval ${RES_MS}ms"
# The same rates with many more associations (one per PE), as a registrar serving a large pool sees.
REREG2K_LOAD="--pes $MANY_PES --rereg-interval ${MANY_MS}ms"
RES2K_LOAD="--pes $MANY_PES --rereg-interval ${MANY_RES_MS}ms --pus $RES_PUS --resolve-interval ${RES_MS}ms"
SINGLE_LOADS="rereg res"; [ "$MANY" = 1 ] && SINGLE_LOADS="rereg res rereg2k res2k"
COMMON="--transport sctp --endpoint-address $GEN --duration ${DURATION}s --warmup ${WARMUP}s --reps 1"

# bench PHASE LOAD IMPL ROUND TARGET-ARGS...: one run; its row goes to all.csv, tagged.
bench() {
  local phase=$1 load=$2 impl=$3 round=$4; shift 4
  local name="$phase-$load-$impl-r$round" loadargs
  case $load in
    rereg) loadargs=$REREG_LOAD ;; res) loadargs=$RES_LOAD ;;
    rereg2k) loadargs=$REREG2K_LOAD ;; res2k) loadargs=$RES2K_LOAD ;;
  esac
  # shellcheck disable=SC2086
  set -- "$@" $loadargs $COMMON --output "$C/$name.csv"
  [ "$round" = 1 ] && echo "./rserpool bench scope $*" >> "$CMDS"
  echo "--- $name"
  local pid1 a prev=; for a in "$@"; do [ "$prev" = --target-pid ] && { pid1=$a; break; }; prev=$a; done
  local t0 t1; t0=$(ticks "$pid1")
  ./rserpool bench scope "$@" > "$L/bench-$name.log" 2>&1
  local rc=$?
  t1=$(ticks "$pid1")
  # PR 1's user share of its CPU time over the whole run (setup and warm-up included).
  local share; share=$(echo "$t0 $t1" | awk '{u = $3 - $1; s = $4 - $2; print (u + s > 0) ? u / (u + s) : ""}')
  grep -E '^\[1/1\]|keep-alive|Keep-Alive|associations failed|runs failed' "$L/bench-$name.log" | sed 's/^/    /'
  [ $rc -eq 0 ] || echo "    bench exit $rc"
  if [ ! -s "$ALL" ] && [ -s "$C/$name.csv" ]; then
    head -n1 "$C/$name.csv" | sed 's/^/phase,load,impl,round,/; s/$/,user_share_pr1/' > "$ALL"
  fi
  tail -n +2 "$C/$name.csv" 2>/dev/null | sed "s/^/$phase,$load,$impl,$round,/; s/\$/,$share/" >> "$ALL"
  sleep 6   # lets the PEs of this run expire before the next run
}

# ---------------------------------------------------------------- one registrar each
floor_at=; [ "$FLOOR" = 1 ] && floor_at=", sctp-floor at $FLOOR_AT"
step "single registrars: ours at $OURS, RSPLIB at $RSP$floor_at (no ENRP peers, no announces)"
ours ours1 $OURS 0x1; P_OURS=${PIDS[-1]}
rsplib rsp1 $RSP 0x2; P_RSP=${PIDS[-1]}
# Ours again on one tokio worker thread (diagnostic: cost of cross-thread wake-ups).
[ "$OURS_MT" = 1 ] && { OURS_ARGS="--threads 2" ours oursmt $OURSMT 0x3; P_MT=${PIDS[-1]}; }
# Ours with a socket per association (ours above: one one-to-many socket for all).
[ "$OURS_1TO1" = 1 ] && { OURS_ARGS="--sctp-sockets one-to-one" ours ours1to1 $OURS1TO1 0x4; P_1TO1=${PIDS[-1]}; }
# The floor: answers each request with one recv and one send, keeps no handlespace.
[ "$FLOOR" = 1 ] && { bg floor ./sctp-floor "$FLOOR_AT:3863"; P_FLOOR=${PIDS[-1]}; }
sleep 8   # mentor discovery: both serve alone after it
alive $P_OURS || { say "our registrar did not start"; tail "$L/ours1.log"; }
alive $P_RSP || { say "rspregistrar did not start"; tail "$L/rsp1.log"; }
[ "$FLOOR" = 1 ] && { alive "$P_FLOOR" || { say "sctp-floor did not start"; tail "$L/floor.log"; }; }
for r in $(seq 1 "$ROUNDS"); do
  for load in $SINGLE_LOADS; do
    bench single $load ours "$r" --target $OURS:3863 --target-pid $P_OURS
    bench single $load rsplib "$r" --target $RSP:3863 --target-pid $P_RSP
    [ "$OURS_1TO1" = 1 ] && bench single $load ours1to1 "$r" --target $OURS1TO1:3863 --target-pid $P_1TO1
    [ "$OURS_MT" = 1 ] && bench single $load oursmt "$r" --target $OURSMT:3863 --target-pid $P_MT
    [ "$FLOOR" = 1 ] && bench single $load floor "$r" --target "$FLOOR_AT:3863" --target-pid "$P_FLOOR"
  done
done
single_alive="ours $(alive $P_OURS && echo alive || echo DEAD), RSPLIB $(alive $P_RSP && echo alive || echo DEAD)"
[ "$FLOOR" = 1 ] && single_alive="$single_alive, floor $(alive "$P_FLOOR" && echo alive || echo DEAD)"
stop_all

# ---------------------------------------------------------------- pairs peered by ENRP
if [ "$PAIR" = 1 ]; then
  step "registrar pairs peered by ENRP: ours $OURS+$OURS2, RSPLIB $RSP+$RSP2 (PEs and PUs at PR 1)"
  ours ours1 $OURS 0x11 $OURS2; P_O1=${PIDS[-1]}
  ours ours2 $OURS2 0x12 $OURS; P_O2=${PIDS[-1]}
  rsplib rsp1 $RSP 0x21 $RSP2; P_R1=${PIDS[-1]}
  rsplib rsp2 $RSP2 0x22 $RSP; P_R2=${PIDS[-1]}
  sleep 12
  for r in $(seq 1 "$ROUNDS"); do
    for load in rereg res; do
      bench pair $load ours "$r" --target $OURS:3863 --target $OURS2:3863 --target-pid $P_O1 --target-pid $P_O2
      bench pair $load rsplib "$r" --target $RSP:3863 --target $RSP2:3863 --target-pid $P_R1 --target-pid $P_R2
    done
  done
  pair_alive="ours $(alive $P_O1 && alive $P_O2 && echo alive || echo DEAD), RSPLIB $(alive $P_R1 && alive $P_R2 && echo alive || echo DEAD)"
  stop_all
fi

# ---------------------------------------------------------------- summary
step "summary"
say "Registrar CPU per operation over kernel SCTP, ours (rserpool registrar) vs RSPLIB 3.4.4 rspregistrar"
say "VM: $(nproc) vCPUs (emulated; absolute times mean little, compare the ratios)."
say "rspregistrar -loglevel=$RSP_LOGLEVEL; ours RUST_LOG=warn; both MaxHResItems 3, no announces."
say "net.sctp.sndbuf_policy=$SNDBUF_POLICY; ours: --sctp-sockets auto (one-to-many sockets for ASAP and ENRP with policy 1, else one-to-one)."
[ "$OURS_1TO1" = 1 ] && say "ours-1:1: our registrar with --sctp-sockets one-to-one (a socket per association), one registrar only."
[ "$OURS_MT" = 1 ] && say "ours-mt: our registrar with --threads 2 (two runtime workers), one registrar only."
if [ "$FLOOR" = 1 ]; then
  say "floor: sctp-floor (scripts/lab/sctp-floor.c), one registrar only: one recv and one send per request,"
  say "no handlespace (resolutions get the last 3 PEs registered). Its CPU per operation is the kernel's"
  say "SCTP work that any registrar pays: floor/RSPLIB is the least ratio reachable at all."
fi
[ -n "$FLOOR_NOTE" ] && say "$FLOOR_NOTE"
say "Loads: rereg = $REREG_PES PEs re-registering every $REREG_MS ms;" \
  "res = $RES_PUS PUs resolving every $RES_MS ms (plus $RES_PES PEs every $RES_PES_MS ms)."
[ "$MANY" = 1 ] && say "Many associations (one registrar only): rereg2k = $MANY_PES PEs re-registering every $MANY_MS ms;" \
  "res2k = $RES_PUS PUs resolving every $RES_MS ms with $MANY_PES PEs registered (every $MANY_RES_MS ms)."
say "Each run: --warmup ${WARMUP}s --duration ${DURATION}s; $ROUNDS rounds, ours and RSPLIB (and the others) alternating."
say "CPU s per 1000 ops = registrar CPU % / 100 x window / ops in the window (= 10 x CPU% / rate)."
say "res corrected: minus the re-registrations of its PEs at that registrar's rereg cost."
say "Means ± 95 % t-intervals over the rounds; ratio = mean ours / mean RSPLIB, and the mean of"
say "the per-round ratios (± its interval). ok = achieved rate >= 99 % of offered and 0 errors."
say "Normalised by generator CPU: per round, (registrar CPU / generator CPU) ours over the same for"
say "RSPLIB. It cancels the VM's varying speed (host contention inflates every guest process's CPU"
say "time alike), but not who pays for what: over loopback a send carries the receiver's SCTP work,"
say "and RSPLIB acknowledges every DATA chunk at once (SCTP_DELAYED_SACK freq 1), so the generator's"
say "send pays for RSPLIB's SACK and the generator's handling of it; ours bundles the SACK with its"
say "answer, whose send then pays for the generator's handling of it. Whole machine: /proc/stat busy"
say "time of the guest over the same window (registrar, generator, softirqs, idle contenders) per"
say "operation, ours over RSPLIB per round: the comparison free of that accounting."
say "user share: PR 1's utime/(utime+stime) over the whole bench run (setup included); user CPU"
say "per 1000 = CPU per 1000 x user share: the registrar's own code, without the kernel's SCTP work."
table "$ALL" 2>&1 | tee -a "$SUMTXT"
say ""
say "registrars alive at the end: single: ${single_alive:-?}${pair_alive:+; pair: $pair_alive}"
say "bench runs that failed: $(grep -l 'runs failed\|^error' "$L"/bench-*.log 2>/dev/null | wc -l)"
say "keep-alives answered by the generator (RSPLIB runs): $(cat "$L"/bench-*-rsplib-*.log 2>/dev/null | grep -o 'answered [0-9]*' | awk '{s+=$2} END {print s+0}'); (ours): $(cat "$L"/bench-*-ours-*.log 2>/dev/null | grep -o 'answered [0-9]*' | awk '{s+=$2} END {print s+0}')"
say "rspregistrar log lines: $(cat "$L"/rsp*.log | wc -l); warnings/errors: $(grep -ciE 'warning|error' "$L"/rsp*.log | awk -F: '{s+=$NF} END {print s+0}')"
grep -hiE 'warning|error' "$L"/rsp*.log | sed 's/^.*\(Warning\|Error\|ERROR\|WARNING\)/\1/' | sort | uniq -c | sort -rn | head -n 5 | tee -a "$SUMTXT"
say "our registrar WARN/ERROR lines: $(cat "$L"/ours*.log | grep -cE ' (WARN|ERROR) ')"
grep -hE ' (WARN|ERROR) ' "$L"/ours*.log | sed 's/^.* \(WARN\|ERROR\) //; s/from=.*//' | sort | uniq -c | sort -rn | head -n 5 | tee -a "$SUMTXT"
say ""
say "commands:"
tee -a "$SUMTXT" < "$CMDS"
exit 0
