#!/usr/bin/env bash
# Latency of the HTTP API's handle resolution: N requests of
# GET /api/v1/pools/POOL/resolve over one keep-alive connection (curl),
# p50/p90/p99/max of curl's time_total per request.
# usage: scripts/http-resolve-latency.sh HTTP_ADDR:PORT POOL [N]
# e.g. while `rserpool bench scope --target ...` loads the registrar:
#   scripts/http-resolve-latency.sh 127.0.0.1:9090 scope-bench 5000
set -euo pipefail
addr=$1; pool=$2; n=${3:-2000}
cfg=$(mktemp)
trap 'rm -f "$cfg" "$cfg.out"' EXIT
for _ in $(seq "$n"); do
  echo "url = \"http://$addr/api/v1/pools/$pool/resolve\""
  echo 'output = "/dev/null"'
done > "$cfg"
curl -s -K "$cfg" -w '%{http_code} %{time_total}\n' > "$cfg.out"
echo "answers other than 200: $(grep -vc '^200 ' "$cfg.out" || true)"
awk '{print $2 * 1e6}' "$cfg.out" | sort -n | awk '{a[NR] = $1} END {
  printf "n=%d p50=%.0f us p90=%.0f us p99=%.0f us max=%.0f us\n",
    NR, a[int(NR * 0.5)], a[int(NR * 0.9)], a[int(NR * 0.99)], a[NR] }'
