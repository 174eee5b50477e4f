#!/usr/bin/env bash
# Webhook ingest vs nginx on the same machine (bench/RESULTS.md "## Ingest").
#
#   bench/ingest_vs_nginx.sh          (env: RUNS=2 DURATION=15s WARMUP=3s THREADS=2 BATCH=100
#                                      CONNECTIONS=64)
#
# Builds the release tree, then per run and in interleaved order loads
#   nginx-2w    nginx `return 204;` with 2 worker processes (the anchor; body read and dropped)
#   floor       durable_floor_server: the durable floor, what acknowledging only after fdatasync
#               costs here with nothing else done (HTTP framing, one pwrite + fdatasync per group,
#               202 after it; no signature, no mapping, no frame)
#   firehose    edge_bench_server: the real edge (Stripe signatures verified, body mapped,
#               durable group-committed append to the embedded log, 202 after the fsync)
#   firehose-nodisk  diagnostic: the same edge, but appends are acknowledged by a thread that
#               keeps nothing (--queue discard): the edge's own cost without the disk
#   nginx-2w-batch / floor-batch / firehose-batch / firehose-nodisk-batch   bodies of $BATCH events
#               (~600 B each)
# with `wrk -t2 -c$CONNECTIONS -d$DURATION --latency -s bench/ingest_post.lua`, the requests signed
# right before each run. Reports req/s (events/s for the batched variant), p50/p99, the ratio
# against nginx in the same run, firehose against the floor, the server's peak RSS (VmHWM) and
# CPU, and wrk's errors (any non-2xx counts). Writes the section "## Ingest" into
# bench/RESULTS.md (other sections are kept); with CONNECTIONS other than 64, "## Ingest, <N>
# connections".
# wrk, nginx and the server share the machine's cores: the numbers are relative.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-2}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
TITLE="Ingest"
[[ "$CONNECTIONS" == 64 ]] || TITLE="Ingest, $CONNECTIONS connections"
BATCH=${BATCH:-100}

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "ingest_vs_nginx: needs $tool (apt-get install wrk nginx)" >&2; exit 3; }
done
(cd "$ROOT" && FIREHOSE_BUILD_JOBS=${FIREHOSE_BUILD_JOBS:-2} scripts/build.sh release >/dev/null)
SERVER_BIN="$ROOT/build/release/bin/edge_bench_server"
FLOOR_BIN="$ROOT/build/release/bin/durable_floor_server"

# The log's data goes to a real disk next to the build (not a tmpfs): fsync must cost what it costs.
WORK=$(mktemp -d "$ROOT/build/ingest-bench.XXXXXX")
SRV_PID=""
cleanup() {
  if [[ -n "$SRV_PID" ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    [[ -z "$(ss -Hltn "sport = :$p")" ]] && { echo "$p"; return 0; }
  done
  return 1
}

nginx_conf() {  # dir port workers
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<NGINX
worker_processes $3;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_max_body_size 2m;
  client_body_buffer_size 128k;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  server {
    listen 127.0.0.1:$2;
    location / { return 204; }
  }
}
NGINX
}

# start NAME -> SRV_PID, PORT
start() {
  local name=$1
  case "$name" in
    nginx*)
      PORT=$(free_port)
      local dir="$WORK/$name-$PORT"
      nginx_conf "$dir" "$PORT" 2
      nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" > "$dir/stdout" 2>&1 &
      SRV_PID=$!
      for _ in $(seq 1 200); do
        [[ -n "$(ss -Hltn "sport = :$PORT")" ]] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
      done
      echo "nginx did not start on port $PORT: $(cat "$dir/stdout" "$dir/error.log" 2>/dev/null)" >&2
      return 1 ;;
    firehose*|floor*)
      local data="$WORK/data-$RANDOM$RANDOM"
      if [[ "$name" == floor* ]]; then
        "$FLOOR_BIN" --port 0 --threads "$THREADS" --data-dir "$data" > "$WORK/$name.out" 2>&1 &
      else
        local queue=log
        [[ "$name" == *nodisk* ]] && queue=discard
        "$SERVER_BIN" serve --port 0 --threads "$THREADS" --queue "$queue" --data-dir "$data" > "$WORK/$name.out" 2>&1 &
      fi
      SRV_PID=$!
      for _ in $(seq 1 200); do
        PORT=$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$WORK/$name.out")
        [[ -n "$PORT" ]] && return 0
        sleep 0.05
      done
      echo "$name did not start: $(cat "$WORK/$name.out")" >&2; return 1 ;;
  esac
}

stop() {
  kill -TERM "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

server_pids() { echo "$SRV_PID" $(pgrep -P "$SRV_PID" || true); }
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

CANDIDATES=(nginx-2w floor firehose firehose-nodisk nginx-2w-batch floor-batch firehose-batch firehose-nodisk-batch)
TSV="$WORK/results.tsv"
TICK=$(getconf CLK_TCK)
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

for run in $(seq 1 "$RUNS"); do
  for name in "${CANDIDATES[@]}"; do
    events=1; path=/v1/webhooks/acme
    if [[ "$name" == *-batch ]]; then events=$BATCH; path=/v1/webhooks/batcher; fi
    requests="$WORK/requests-$events.lua"
    count=1000; [[ $events -gt 1 ]] && count=100
    "$SERVER_BIN" requests --count "$count" --events "$events" --out "$requests" > /dev/null
    start "$name"
    url="http://127.0.0.1:$PORT$path"
    FIREHOSE_BENCH_REQUESTS="$requests" wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s "$HERE/ingest_post.lua" "$url" > /dev/null
    c0=$(sum_cpu_ticks)
    log="$WORK/run$run-$name.wrk"
    FIREHOSE_BENCH_REQUESTS="$requests" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/ingest_post.lua" "$url" > "$log"
    c1=$(sum_cpu_ticks)
    rss=$(sum_hwm_kb)
    stop
    stats=""
    [[ "$name" == firehose* || "$name" == floor* ]] && stats=$(grep '^STATS ' "$WORK/$name.out" || true)
    r=$(grep '^RESULT ' "$log")
    secs=$(awk -v d="$(field duration_us "$r")" 'BEGIN{print d/1e6}')
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" -v s="$secs" 'BEGIN{printf "%.0f", 100*(b-a)/t/s}')
    errs=$(( $(field err_connect "$r") + $(field err_read "$r") + $(field err_write "$r") + \
             $(field err_status "$r") + $(field err_timeout "$r") ))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$(field rps "$r")" \
      "$(field p50_us "$r")" "$(field p99_us "$r")" "$rss" "$cpu" "$errs" "$events" \
      "$(field body_bytes "$r")" "${stats#STATS }" >> "$TSV"
    printf 'run %s %-15s rps=%-9s p50=%sus p99=%sus rss=%skB cpu=%s%% errors=%s %s\n' "$run" "$name" \
      "$(field rps "$r")" "$(field p50_us "$r")" "$(field p99_us "$r")" "$rss" "$cpu" "$errs" "$stats"
  done
done

SECTION="$WORK/ingest.md"
{
  echo "## $TITLE"
  echo
  echo "Generated by \`bench/ingest_vs_nginx.sh\` (RUNS=$RUNS DURATION=$DURATION THREADS=$THREADS BATCH=$BATCH CONNECTIONS=$CONNECTIONS), started $START_DATE."
  echo
  echo "- Machine: $(nproc) cores, kernel $(uname -r); load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "  The machine is shared with other engineers' builds and tests: compare the ratios, not the absolute numbers."
  echo "- Load: \`wrk -t2 -c$CONNECTIONS -d$DURATION --latency -s bench/ingest_post.lua <url>\` after a $WARMUP warm-up; wrk shares the 2 cores with the server."
  echo "- firehose: \`edge_bench_server serve --threads $THREADS\` = EdgeServer + EmbeddedLog (data on the build disk, fsync per group commit)."
  echo "  Every request carries its own Stripe signature (1000 distinct signed bodies, 100 for batches), verified for real; the body is mapped; the 202 is sent after the durable append."
  echo "- nginx: \`return 204;\`, 2 worker processes, body read and discarded. Single: ~600-byte bodies; batch: $BATCH events of ~600 bytes per body."
  echo "- floor: \`durable_floor_server --threads $THREADS\` (bench/durable_floor_server.cc), the durable floor: nginx-like epoll loops that frame requests by Content-Length and nothing more, one writer thread that writes every queued body with one pwrite + fdatasync into a zero-filled file, the 202 after it. What acknowledging after fdatasync costs a server of one simple design that does nothing else (a reference, not a proven bound); the last column is firehose against it."
  echo "- RSS = peak (VmHWM) of the server (nginx: master + workers). CPU = server CPU time / wall time. Errors = wrk connect/read/write/timeout errors + non-2xx answers."
  echo
  echo "| run | server | req/s | events/s | p50 ms | p99 ms | peak RSS MiB | CPU % | errors | vs nginx (same run, same bodies) | vs floor |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '
    { key=$1 SUBSEP $2; rps[key]=$3 }
    { rows[NR]=$0 }
    END {
      for (i=1; i<=NR; i++) {
        split(rows[i], f, "\t"); run=f[1]; name=f[2]
        anchor = (name ~ /-batch$/) ? "nginx-2w-batch" : "nginx-2w"
        ratio = rps[run SUBSEP anchor] > 0 ? f[3] / rps[run SUBSEP anchor] : 0
        floor = (name ~ /-batch$/) ? "floor-batch" : "floor"
        vs_floor = ""
        if (name ~ /^firehose/ && name !~ /nodisk/ && rps[run SUBSEP floor] > 0)
          vs_floor = sprintf("%.2f", f[3] / rps[run SUBSEP floor])
        printf "| %s | %s | %.0f | %.0f | %.3f | %.3f | %.1f | %s | %s | %.2f | %s |\n", run, name, f[3], f[3]*f[9],
          f[4]/1000, f[5]/1000, f[6]/1024, f[7], f[8], ratio, vs_floor
      }
    }' "$TSV"
  echo
  echo "- firehose-nodisk: diagnostic only, the same edge with appends acknowledged by a thread that keeps nothing (\`--queue discard\`): what the edge costs without the disk. Not durable."
  echo
  echo "The server's own counters per run (they include the warm-up): accepted arrivals, the embedded log's fdatasync count, appends per fdatasync and fdatasync latency, and the server-side time from the handler's start to the 202 handed to the io thread (accepted_p50/p99: the durable wait; wrk's p50 minus it is the time spent outside the server's handler, in answer delivery, wrk and the request's read):"
  echo
  awk -F'\t' '($2 ~ /^firehose/ && $2 !~ /nodisk/) || $2 ~ /^floor/ {printf "- run %s %s: %s\n", $1, $2, $11}' "$TSV"
  echo
  echo "How to read it: a durable webhook waits for its group's fdatasync, and $CONNECTIONS closed-loop connections"
  echo "can only form groups as fast as the edge answers and wrk sends again. So durable req/s is bounded twice:"
  echo "by appends_per_fsync over the fdatasync time (plus group_commit_wait_us, 0 by default), and by firehose-nodisk, the edge's"
  echo "own ceiling on the same machine at the same moment (the edge, wrk and the log share 2 cores). Compare the"
  echo "fdatasync latency above with BASELINES.md (p50 0.31 ms unloaded); since the log prefills its segment with"
  echo "zeros (bench/RESULTS.md \"Embedded log\") it is close to that, and the edge's CPU per request is the nearer bound."
  echo "The floor rows measure the same for a server that does nothing but acknowledge after fdatasync: its"
  echo "ratio against nginx is what such a server keeps of nginx's rate on this machine at this moment, and"
  echo "firehose's \"vs floor\" is the share of that which the edge keeps while it verifies, maps and frames."
  if [[ "$CONNECTIONS" != 64 ]]; then
    echo
    echo "Why a second connection count: with 64 closed-loop connections a durable webhook's wait for its group's"
    echo "fdatasync leaves the cores idle part of the time (compare the CPU column with \"## Ingest\"); with more"
    echo "connections the groups are larger and durable ingest runs close to the edge's own CPU-bound rate"
    echo "(firehose against firehose-nodisk above), so the ratio measures the edge's CPU per request against nginx's."
  fi
  echo
} > "$SECTION"
cat "$SECTION"

# Splice the section into bench/RESULTS.md: replace an existing "## Ingest" section, else append.
RESULTS="$HERE/RESULTS.md"
touch "$RESULTS"
awk -v section="$SECTION" -v title="## $TITLE" '
  BEGIN { while ((getline line < section) > 0) text = text line "\n" }
  /^## / { if (skipping) skipping = 0; if ($0 == title) { printf "%s", text; skipping = 1; done = 1; next } }
  !skipping { print }
  END { if (!done) { if (NR > 0) print ""; printf "%s", text } }' "$RESULTS" > "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "wrote the $TITLE section of $RESULTS"
