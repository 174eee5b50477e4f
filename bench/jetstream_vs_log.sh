#!/usr/bin/env bash
# Gateway -> JetStream acknowledged throughput vs the embedded log, with a plain nats.c
# async-publish baseline in the same run (bench/RESULTS.md "## JetStream").
#
#   bench/jetstream_vs_log.sh        (env: RUNS=2 DURATION=15s WARMUP=3s THREADS=2 MESSAGES=100000
#                                          NODES=1; NODES=3 runs a 3-node cluster with an R3 stream)
#
# Builds the release tree, starts nats-server (JetStream, file storage on the build disk), then
# per run and in interleaved order:
#   nats-pub-64      nats_publish_bench: the nats.c client alone, async publish of MESSAGES
#                    ~700-byte messages with at most 64 waiting for their PubAck (the anchor:
#                    64 = wrk's connections, one request in flight each)
#   nats-pub-1024    the same with 1024 in flight (what JetStream does with a deep pipeline)
#   firehose-log     edge_bench_server --queue log: the real edge (Stripe signature verified,
#                    body mapped) appending to the embedded log, 202 after the group fsync
#   firehose-js      edge_bench_server --queue jetstream: the same edge, 202 after the PubAck
# The two firehose servers are loaded with `wrk -t2 -c64 -d$DURATION -s bench/ingest_post.lua`.
# Everything shares the machine's cores: read the ratios, not the absolute numbers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-2}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
MESSAGES=${MESSAGES:-100000}
NODES=${NODES:-1}

for tool in wrk nats-server; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || { echo "jetstream_vs_log: needs $tool" >&2; exit 3; }
done
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
# FIREHOSE_BENCH_NO_BUILD=1: use build/release as it is (edge_bench_server, nats_publish_bench).
if [[ "${FIREHOSE_BENCH_NO_BUILD:-0}" != 1 ]]; then
  (cd "$ROOT" && FIREHOSE_BUILD_JOBS=${FIREHOSE_BUILD_JOBS:-2} scripts/build.sh release >/dev/null)
fi
BIN=${FIREHOSE_BENCH_BIN:-$ROOT/build/release/bin}  # where edge_bench_server, nats_publish_bench are

WORK=$(mktemp -d "$ROOT/build/jetstream-bench.XXXXXX")
SRV_PID=""
NATS_PIDS=()
cleanup() {
  if [[ -n "$SRV_PID" ]] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  for p in "${NATS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${NATS_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
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
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $2"; }

# --- nats-server: one node, or a 3-node cluster on loopback -------------------------------------
CLIENT_PORTS=(); CLUSTER_PORTS=(); MONITOR_PORTS=()
for i in $(seq 0 $((NODES - 1))); do
  CLIENT_PORTS+=("$(free_port)"); CLUSTER_PORTS+=("$(free_port)"); MONITOR_PORTS+=("$(free_port)")
done
for i in $(seq 0 $((NODES - 1))); do
  conf="$WORK/n$i.conf"
  {
    echo "server_name: n$i"
    echo "listen: 127.0.0.1:${CLIENT_PORTS[$i]}"
    echo "http: 127.0.0.1:${MONITOR_PORTS[$i]}"
    echo "jetstream { store_dir: \"$WORK/n$i\" }"
    if ((NODES > 1)); then
      echo "cluster { name: bench, listen: 127.0.0.1:${CLUSTER_PORTS[$i]}, routes: ["
      for j in $(seq 0 $((NODES - 1))); do
        [[ $j -ne $i ]] && echo "  nats-route://127.0.0.1:${CLUSTER_PORTS[$j]}"
      done
      echo "] }"
    fi
  } > "$conf"
  "$NATS_SERVER" -c "$conf" > "$WORK/n$i.log" 2>&1 &
  NATS_PIDS+=("$!")
done
for i in $(seq 0 $((NODES - 1))); do
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:${MONITOR_PORTS[$i]}/healthz" > /dev/null && break
    sleep 0.1
  done
done
NATS_URL="nats://127.0.0.1:${CLIENT_PORTS[0]}"
REPLICAS=$NODES

# start KIND STREAM -> SRV_PID, PORT
start_firehose() {
  local kind=$1 stream=$2 out="$WORK/$1-$2.out"
  "$BIN/edge_bench_server" serve --port 0 --threads "$THREADS" --queue "$kind" \
    --nats "$NATS_URL" --stream "$stream" --replicas "$REPLICAS" \
    --data-dir "$WORK/data-$RANDOM$RANDOM" > "$out" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 1 300); do
    PORT=$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$out")
    [[ -n "$PORT" ]] && return 0
    sleep 0.05
  done
  echo "edge_bench_server did not start: $(cat "$out")" >&2; return 1
}
stop_firehose() {
  kill -TERM "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

TSV="$WORK/results.tsv"
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
REQUESTS="$WORK/requests.lua"

for run in $(seq 1 "$RUNS"); do
  for name in nats-pub-64 firehose-log firehose-js nats-pub-1024; do
    case "$name" in
      nats-pub-*)
        window=${name#nats-pub-}
        r=$("$BIN/nats_publish_bench" --url "$NATS_URL" --stream "PUB${run}W$window" \
              --replicas "$REPLICAS" --messages "$MESSAGES" --bytes 700 --window "$window" | grep '^RESULT ')
        rate=$(field rate "$r"); errors=$(field failed "$r"); p50=""; p99="" ;;
      firehose-*)
        kind=log; [[ "$name" == firehose-js ]] && kind=jetstream
        "$BIN/edge_bench_server" requests --count 1000 --events 1 --out "$REQUESTS" > /dev/null
        start_firehose "$kind" EDGE  # one stream for every run: two may not share firehose.raw.>
        url="http://127.0.0.1:$PORT/v1/webhooks/acme"
        FIREHOSE_BENCH_REQUESTS="$REQUESTS" wrk -t2 -c64 -d"$WARMUP" -s "$HERE/ingest_post.lua" "$url" > /dev/null
        log="$WORK/run$run-$name.wrk"
        FIREHOSE_BENCH_REQUESTS="$REQUESTS" wrk -t2 -c64 -d"$DURATION" --latency -s "$HERE/ingest_post.lua" "$url" > "$log"
        stop_firehose
        r=$(grep '^RESULT ' "$log")
        rate=$(field rps "$r"); p50=$(field p50_us "$r"); p99=$(field p99_us "$r")
        errors=$(( $(field err_connect "$r") + $(field err_read "$r") + $(field err_write "$r") + \
                   $(field err_status "$r") + $(field err_timeout "$r") )) ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$rate" "$p50" "$p99" "$errors" >> "$TSV"
    printf 'run %s %-14s rate=%-9s p50=%sus p99=%sus errors=%s\n' "$run" "$name" "$rate" "$p50" "$p99" "$errors"
  done
done

SECTION="$WORK/jetstream.md"
{
  echo "## JetStream"
  echo
  echo "Generated by \`bench/jetstream_vs_log.sh\` (RUNS=$RUNS DURATION=$DURATION THREADS=$THREADS MESSAGES=$MESSAGES NODES=$NODES), started $START_DATE."
  echo
  echo "- Machine: $(nproc) cores, kernel $(uname -r); load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "  Shared with other engineers' builds and tests, and nats-server, the gateway and wrk share the same cores: compare the ratios."
  echo "- nats-server $("$NATS_SERVER" --version | awk '{print $2}'), $NODES node(s), file storage on the build disk, stream replicas = $REPLICAS."
  echo "- nats-pub-N (anchor: N = 64): \`nats_publish_bench --messages $MESSAGES --bytes 700 --window N\`, the nats.c client alone publishing asynchronously, at most N waiting for a PubAck."
  echo "- firehose-log / firehose-js: \`edge_bench_server serve --queue log|jetstream\` (the real edge: Stripe signature verified, body mapped, 202 after the durable append: the group fsync, or the PubAck)"
  echo "  under \`wrk -t2 -c64 -d$DURATION --latency -s bench/ingest_post.lua\` (~600-byte single-event bodies, 1000 distinct signed requests), after a $WARMUP warm-up."
  echo
  echo "| run | what | acknowledged/s | p50 ms | p99 ms | errors | vs nats-pub-64 (same run) | vs firehose-log (same run) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '
    { key=$1 SUBSEP $2; rate[key]=$3; rows[NR]=$0 }
    END {
      for (i=1; i<=NR; i++) {
        split(rows[i], f, "\t"); run=f[1]
        a = rate[run SUBSEP "nats-pub-64"]; l = rate[run SUBSEP "firehose-log"]
        p50 = f[4] == "" ? "" : sprintf("%.2f", f[4]/1000); p99 = f[5] == "" ? "" : sprintf("%.2f", f[5]/1000)
        ra = (a > 0) ? f[3] / a : 0; rl = (l > 0) ? f[3] / l : 0
        printf "| %s | %s | %.0f | %s | %s | %s | %.2f | %.2f |\n", run, f[2], f[3], p50, p99, f[6], ra, rl
      }
    }' "$TSV"
  echo
} > "$SECTION"
cat "$SECTION"

RESULTS="$HERE/RESULTS.md"
touch "$RESULTS"
awk -v section="$SECTION" '
  BEGIN { while ((getline line < section) > 0) text = text line "\n" }
  /^## / { if (skipping) skipping = 0; if ($0 == "## JetStream") { printf "%s", text; skipping = 1; done = 1; next } }
  !skipping { print }
  END { if (!done) { if (NR > 0) print ""; printf "%s", text } }' "$RESULTS" > "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "wrote the JetStream section of $RESULTS"
