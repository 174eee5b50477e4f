#!/usr/bin/env bash
# The native ledger job against DuckDB running sql/ledger.sql on the same lake, same machine,
# same run (bench/RESULTS.md "## Ledger").
#
#   bench/ledger_vs_duckdb.sh [BUILD_DIR] [WORK_DIR]
#   EVENTS=20000000 RUNS=2 THREADS=2 SPILL_MEMORY=268435456 DAY=2025-11-27
#
# Makes WORK_DIR/data with `firehose sim lake` unless it is there, reads the lake once so that
# both engines start from the page cache, then per run: the native job (`ledger run`, committing
# to SQLite) and DuckDB (the SQL twin into in-memory tables, then its digest), each under
# /usr/bin/time for peak RSS; then one native run with a memory bound that forces spilling.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build=${1:-build/release}
work=${2:-/tmp/firehose-ledger-bench}
events=${EVENTS:-20000000}
runs=${RUNS:-2}
threads=${THREADS:-2}
spill_memory=${SPILL_MEMORY:-268435456}
day=${DAY:-2025-11-27}
firehose="$repo/$build/bin/firehose"
data="$work/data"
mkdir -p "$work"

if [[ ! -f "$data/firehose.toml" ]]; then
  echo "sim lake: $events transactions into $data" >&2
  "$firehose" sim lake --day "$day" --events "$events" --partners 12 --seed 1 --out "$data" --json \
    > "$work/simlake.json"
fi
lines=$("$firehose" lake ls --data-dir "$data" --json | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["totals"]["events"])')
bytes=$(du -sb "$data/lake/raw" | cut -f1)
cat "$data"/lake/raw/*/*.jsonl.zst > /dev/null

rss_of() { grep "Maximum resident" "$1" | awk '{print $6}'; }
wall_of() { grep "Elapsed (wall" "$1" | awk '{print $8}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); lake: $lines lines, $bytes compressed bytes"
printf '| run | engine | wall s | ledger s | events/s | vs DuckDB | peak RSS MiB | notes |\n|---|---|---:|---:|---:|---:|---:|---|\n'
for run in $(seq 1 "$runs"); do
  /usr/bin/time -v "$firehose" --config "$data/firehose.toml" ledger run --day "$day" \
    --threads "$threads" --json > "$work/native.json" 2> "$work/native.time"
  /usr/bin/time -v node "$repo/bench/ledger/duckdb_ledger.mjs" "$repo" "$data/lake" "$day" "$threads" \
    > "$work/duckdb.json" 2> "$work/duckdb.time"
  python3 - "$work" "$run" "$lines" "$(rss_of "$work/native.time")" "$(rss_of "$work/duckdb.time")" \
    "$(wall_of "$work/native.time")" "$(wall_of "$work/duckdb.time")" <<'PY'
import json, sys
work, run, lines, native_rss, duck_rss, native_wall, duck_wall = sys.argv[1:]
lines = int(lines)
native = json.load(open(f"{work}/native.json"))
duck = json.load(open(f"{work}/duckdb.json"))
t = native["run"]["timings"]
compute_s = (t["total_ms"] - t["write_ms"]) / 1000
total_s = t["total_ms"] / 1000
duck_s = duck["ledger_ms"] / 1000
same = "digests equal" if duck["digest"] == native["run"]["digest"] else "DIGESTS DIFFER"
print(f"| {run} | native, computed (scan..process) | {native_wall} | {compute_s:.1f} | {lines/compute_s:,.0f} | {duck_s/compute_s:.2f}x | {int(native_rss)//1024} | scan {t['scan_ms']/1000:.1f} s, neighbours {t['neighbours_ms']/1000:.1f} s, process {t['process_ms']/1000:.1f} s |")
print(f"| {run} | native, committed to SQLite | {native_wall} | {total_s:.1f} | {lines/total_s:,.0f} | {duck_s/total_s:.2f}x | {int(native_rss)//1024} | write {t['write_ms']/1000:.1f} s ({native['run']['keys_booked']:,} rows) |")
print(f"| {run} | DuckDB sql/ledger.sql | {duck_wall} | {duck_s:.1f} | {lines/duck_s:,.0f} | 1 | {int(duck_rss)//1024} | + digest {duck['digest_ms']/1000:.1f} s; {same} |")
PY
done
/usr/bin/time -v "$firehose" --config "$data/firehose.toml" ledger run --day "$day" \
  --threads "$threads" --memory-max "$spill_memory" --json > "$work/spill.json" 2> "$work/spill.time"
python3 - "$work" "$lines" "$(rss_of "$work/spill.time")" "$spill_memory" <<'PY'
import json, sys
work, lines, rss, bound = sys.argv[1:]
native = json.load(open(f"{work}/spill.json"))
t = native["run"]["timings"]
compute_s = (t["total_ms"] - t["write_ms"]) / 1000
print(f"| spill | native, --memory-max {int(bound)>>20} MiB | | {t['total_ms']/1000:.1f} | {int(lines)/compute_s:,.0f} (computed) | | {int(rss)//1024} | spilled {native['run']['spilled_bytes']>>20} MiB; budget peak {native['peak_memory_bytes']>>20} MiB; write {t['write_ms']/1000:.1f} s |")
PY
