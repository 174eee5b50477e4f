#!/usr/bin/env bash
# Firehose HTTP-library bake-off: nginx (anchor) vs Boost.Beast/Asio vs libmicrohttpd.
# usage: bench/http_choice/run.sh        (env: RUNS=2 DURATION=10s WARMUP=3s KEEP_BUILD=0)
# Installs what is missing (Debian packages only), builds into a temp dir, loads each
# candidate on 127.0.0.1 with wrk, probes slow-client/size limits, writes RESULTS.md here.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=2
LIMIT_TIMEOUT=3   # seconds; timeouts used only by the limits probe instances
PROBE_CAP=8       # seconds a slow client is allowed before we call it "still open"

# ---------- 1. packages (idempotent) ----------
need=()
for p in wrk nginx libmicrohttpd-dev libboost-dev g++ gcc curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then  # keep the nginx package from starting a daemon
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "packages: all present"
fi

# ---------- 2. build ----------
BUILD=$(mktemp -d /tmp/http_choice.XXXXXX)
SRV_PID=""
cleanup() {
  if [[ -n "$SRV_PID" ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP_BUILD:-0}" == 1 ]]; then echo "build/logs kept in $BUILD"; else rm -rf "$BUILD"; fi
}
trap cleanup EXIT
CXX="g++ -O2 -std=c++20 -pthread"
$CXX -I"$HERE" "$HERE/beast_server.cpp" -o "$BUILD/beast_server"
$CXX -I"$HERE" "$HERE/mhd_server.cpp" -o "$BUILD/mhd_server" -lmicrohttpd
$CXX "$HERE/slow_probe.cpp" -o "$BUILD/slow_probe"
echo "built into $BUILD"

# ---------- helpers ----------
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    [[ -z "$(ss -Hltn "sport = :$p")" ]] && { echo "$p"; return 0; }
  done
  return 1
}

nginx_conf() {  # dir port workers timeout_s
  local dir=$1 port=$2 workers=$3 to=$4
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;   # Debian default 1000 would force wrk to reconnect; the others never do
  keepalive_timeout ${to}s;
  client_header_timeout ${to}s;
  client_body_timeout ${to}s;
  client_max_body_size 64k;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 204; }
  }
}
EOF
}

# start_candidate NAME TIMEOUT_S -> sets SRV_PID, PORT, EXPECT
start_candidate() {
  local name=$1 to=$2
  PORT=$(free_port)
  EXPECT=202
  case "$name" in
    nginx-1w|nginx-2w)
      local w=${name#nginx-}; w=${w%w}
      local dir="$BUILD/$name-$PORT"
      nginx_conf "$dir" "$PORT" "$w" "$to"
      nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" > "$dir/stdout" 2>&1 &
      EXPECT=204 ;;
    beast-shared)       "$BUILD/beast_server" "$PORT" $THREADS shared sync "$to" > "$BUILD/$name.out" 2>&1 & ;;
    beast-perthread)    "$BUILD/beast_server" "$PORT" $THREADS perthread sync "$to" > "$BUILD/$name.out" 2>&1 & ;;
    beast-shared-defer) "$BUILD/beast_server" "$PORT" $THREADS shared deferred "$to" > "$BUILD/$name.out" 2>&1 & ;;
    beast-perthread-defer) "$BUILD/beast_server" "$PORT" $THREADS perthread deferred "$to" > "$BUILD/$name.out" 2>&1 & ;;
    mhd)                "$BUILD/mhd_server" "$PORT" $THREADS sync "$to" > "$BUILD/$name.out" 2>&1 & ;;
    mhd-defer)          "$BUILD/mhd_server" "$PORT" $THREADS deferred "$to" > "$BUILD/$name.out" 2>&1 & ;;
    *) echo "unknown candidate $name" >&2; return 1 ;;
  esac
  SRV_PID=$!
  local code=""
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
             --data-binary '{"ping":1}' "http://127.0.0.1:$PORT/v1/webhooks/acme" || true)
    [[ "$code" == "$EXPECT" ]] && return 0
    sleep 0.1
  done
  echo "$name did not answer $EXPECT on port $PORT (last: $code)" >&2
  return 1
}

stop_candidate() {
  kill -TERM "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

server_pids() { echo "$SRV_PID" $(pgrep -P "$SRV_PID" || true); }  # nginx: master + workers
sum_hwm_kb() {
  local t=0 p v
  for p in $(server_pids); do
    v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0); t=$((t + ${v:-0}))
  done
  echo "$t"
}
sum_cpu_ticks() {
  local t=0 p v
  for p in $(server_pids); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}'); t=$((t + ${v:-0}))
  done
  echo "$t"
}
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $2"; }

CANDIDATES=(nginx-1w nginx-2w beast-shared beast-perthread beast-shared-defer beast-perthread-defer mhd mhd-defer)
TSV="$BUILD/results.tsv"
TICK=$(getconf CLK_TCK)
WRK_CMD="wrk -t2 -c64 -d$DURATION --latency -s post.lua http://127.0.0.1:<port>/v1/webhooks/acme"
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------- 3. throughput runs (rounds interleave candidates to spread machine noise) ----------
for run in $(seq 1 "$RUNS"); do
  for name in "${CANDIDATES[@]}"; do
    start_candidate "$name" 10
    url="http://127.0.0.1:$PORT/v1/webhooks/acme"
    (cd "$HERE" && wrk -t2 -c64 -d"$WARMUP" -s post.lua "$url" > /dev/null)
    c0=$(sum_cpu_ticks)
    log="$BUILD/run$run-$name.wrk"
    (cd "$HERE" && wrk -t2 -c64 -d"$DURATION" --latency -s post.lua "$url" > "$log")
    c1=$(sum_cpu_ticks)
    rss=$(sum_hwm_kb)
    stop_candidate
    r=$(grep '^RESULT ' "$log")
    secs=$(awk -v d="$(field duration_us "$r")" 'BEGIN{print d/1e6}')
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" -v s="$secs" 'BEGIN{printf "%.0f", 100*(b-a)/t/s}')
    errs=$(( $(field err_connect "$r") + $(field err_read "$r") + $(field err_write "$r") + \
             $(field err_status "$r") + $(field err_timeout "$r") ))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$(field rps "$r")" \
      "$(field p50_us "$r")" "$(field p99_us "$r")" "$(field max_us "$r")" "$rss" "$cpu" "$errs" >> "$TSV"
    printf 'run %s %-21s rps=%-9s p50=%sus p99=%sus rss=%skB cpu=%s%% errors=%s\n' "$run" "$name" \
      "$(field rps "$r")" "$(field p50_us "$r")" "$(field p99_us "$r")" "$rss" "$cpu" "$errs"
  done
done

# ---------- 4. limits probe (timeouts set to ${LIMIT_TIMEOUT}s for these instances) ----------
LIM="$BUILD/limits.tsv"
head -c 100000 /dev/zero | tr '\0' 'a' > "$BUILD/big_body"
BIG_HDR=$(head -c 20000 /dev/zero | tr '\0' 'h')
for name in nginx-2w beast-shared mhd; do
  start_candidate "$name" "$LIMIT_TIMEOUT"
  url="http://127.0.0.1:$PORT/v1/webhooks/acme"
  body=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Expect:' -X POST --data-binary @"$BUILD/big_body" "$url" || true)
  hdr=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "X-Big: $BIG_HDR" -X POST --data-binary '{}' "$url" || true)
  probes=()
  for m in idle header body; do "$BUILD/slow_probe" "$PORT" "$m" "$PROBE_CAP" > "$BUILD/probe-$name-$m" & probes+=($!); done
  wait "${probes[@]}"
  stop_candidate
  pr() { awk '{sub("result=","",$2); sub("after_s=","",$3); print $2 " @" $3 "s"}' "$BUILD/probe-$name-$1"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${body:-none}" "${hdr:-none}" "$(pr idle)" "$(pr header)" "$(pr body)" >> "$LIM"
  echo "limits $name: 100kB body->$body 20kB header->$hdr idle:$(pr idle) header-trickle:$(pr header) body-trickle:$(pr body)"
done

# ---------- 5. RESULTS.md ----------
{
  echo "# HTTP library bake-off for the Firehose webhook edge"
  echo
  echo "Generated by \`bench/http_choice/run.sh\` (RUNS=$RUNS), started $START_DATE."
  echo
  echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), kernel $(uname -r), Debian $(cat /etc/debian_version); load average before start: $LOAD_BEFORE"
  echo "- Versions: $(dpkg-query -W -f='${Package} ${Version}, ' nginx libboost-dev libmicrohttpd-dev wrk g++ | sed 's/, $//')"
  echo "- Build: \`g++ -O2 -std=c++20 -pthread\` (sources in this folder, built into a temp dir)"
  echo "- Load command (per candidate, after a $WARMUP warm-up with the same script): \`$WRK_CMD\`"
  echo "- Body: 624-byte JSON, \`Content-Type: application/json\`, \`Stripe-Signature: t=1700000000,v1=<64 hex>\` (post.lua)"
  echo "- Servers: 2 worker threads each (nginx: 1 and 2 worker processes), keep-alive on, bound to 127.0.0.1 on a random free port."
  echo "  wrk (2 threads) shares the same 2 cores with the server, so these are relative numbers, not capacity."
  echo "- nginx answers \`return 204;\` (body read and discarded); the others read the full body and answer 202 + \`{\"arrival_id\":...}\`."
  echo "- \`*-defer\`: the 202 is sent only after a separate 'appender' thread completes (no fsync; measures the thread hop)."
  echo "- RSS = VmHWM (peak) from /proc right before stop, summed over master+workers for nginx. CPU = server CPU time / wall time during the measured ${DURATION}."
  echo
  for run in $(seq 1 "$RUNS"); do
    echo "## Run $run"
    echo
    echo "| candidate | req/s | p50 ms | p99 ms | max ms | peak RSS MiB | server CPU % | errors | vs nginx-1w | vs nginx-2w |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v run="$run" '
      $1==run { n[++k]=$2; rps[$2]=$3; p50[$2]=$4; p99[$2]=$5; mx[$2]=$6; rss[$2]=$7; cpu[$2]=$8; err[$2]=$9 }
      END { for (i=1;i<=k;i++) { c=n[i];
        printf "| %s | %.0f | %.3f | %.3f | %.1f | %.1f | %s | %s | %.2f | %.2f |\n", c, rps[c], p50[c]/1000, p99[c]/1000,
          mx[c]/1000, rss[c]/1024, cpu[c], err[c], rps[c]/rps["nginx-1w"], rps[c]/rps["nginx-2w"] } }' "$TSV"
    echo
  done
  echo "## Across runs (req/s ratio vs nginx-2w of the same run)"
  echo
  echo "| candidate | req/s per run | ratio per run |"
  echo "|---|---|---|"
  for name in "${CANDIDATES[@]}"; do
    awk -F'\t' -v c="$name" '
      $2=="nginx-2w" { ng[$1]=$3 } $2==c { r[$1]=$3; if (!($1 in seen)) { seen[$1]=1; order[++k]=$1 } }
      END { s=""; t=""; for (i=1;i<=k;i++) { s=s (i>1?" / ":"") sprintf("%.0f", r[order[i]]); t=t (i>1?" / ":"") sprintf("%.2f", r[order[i]]/ng[order[i]]) }
            printf "| %s | %s | %s |\n", c, s, t }' "$TSV"
  done
  echo
  echo "## Limits probe (timeouts configured to ${LIMIT_TIMEOUT}s, body limit 64 KiB, header limit 8-16 KiB)"
  echo
  echo "Slow clients (slow_probe.cpp): *idle* connects and sends nothing; *header-trickle* sends one header line every"
  echo "500 ms and never ends the header; *body-trickle* sends full headers (Content-Length: 624) then one body byte every"
  echo "500 ms. 'open_at_cap' = the server still held the connection after ${PROBE_CAP}s."
  echo
  echo "| server | 100 kB body | 20 kB header | idle | header-trickle | body-trickle |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$LIM"
  echo
  echo "Finished $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
} > "$HERE/RESULTS.md.tmp"
mv "$HERE/RESULTS.md.tmp" "$HERE/RESULTS.md"
echo "wrote $HERE/RESULTS.md"
