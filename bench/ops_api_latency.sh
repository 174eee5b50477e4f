#!/usr/bin/env bash
# API latency of the ops endpoints with 500 partners under synthetic traffic, against /healthz
# (the same server, the same connection handling, no work) as the anchor measured in the same run.
#
#   bench/ops_api_latency.sh [requests per endpoint, default 300]
# Needs a release build (build/release/bin/ops_dashboard_server) and curl. Prints p50 / p99 in
# milliseconds per endpoint and the ratio of each p50 to the anchor's.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-300}
server=build/release/bin/ops_dashboard_server
[[ -x $server ]] || { echo "build first: scripts/build.sh release" >&2; exit 3; }

fifo=$(mktemp -u)
mkfifo "$fifo"
exec 3<>"$fifo"
rm -f "$fifo"
"$server" --partners 500 --seconds 300 --rate 2000 <&3 >/tmp/ops_api_latency.out 2>/dev/null &
pid=$!
trap 'exec 3>&-; kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q listening /tmp/ops_api_latency.out 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*' /tmp/ops_api_latency.out)
sleep 3  # let every partner get traffic and the series fill

measure() {  # path -> "p50 p99" in ms
  for _ in $(seq "$count"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url$1"
  done | sort -n | awk '{ v[NR] = $1 * 1000 } END {
    printf "%.3f %.3f\n", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)] }'
}

echo "# $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg), $count requests each"
read -r anchor_p50 anchor_p99 < <(measure /healthz)
printf "%-42s p50 %8s ms  p99 %8s ms  (anchor)\n" /healthz "$anchor_p50" "$anchor_p99"
for path in "/api/ops/partners" "/api/ops/partners?sort=errors&limit=50" \
            "/api/ops/series?partner=p000&window=300" "/api/ops/series?partner=p000&window=1h" \
            "/api/ops/series?partner=p000&window=24h" "/api/ops/alerts" "/api/ops/status" "/metrics"; do
  read -r p50 p99 < <(measure "$path")
  ratio=$(awk -v a="$p50" -v b="$anchor_p50" 'BEGIN { printf "%.1f", a / b }')
  printf "%-42s p50 %8s ms  p99 %8s ms  %sx anchor p50\n" "$path" "$p50" "$p99" "$ratio"
done
