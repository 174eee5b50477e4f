#!/usr/bin/env bash
# The native ledger job against DuckDB running sql/ledger.sql on the same lake, same machine,
# same run (bench/RESULTS.md "## Ledger"). Each native run starts from an empty warehouse (the
# first booking of the day, not a replacement: deleting the previous 20 M rows is another cost).
# CPU seconds (user + sys) are reported next to wall: the machine is shared.
#
#   bench/ledger_vs_duckdb.sh [BUILD_DIR] [WORK_DIR]
#   EVENTS=20000000 RUNS=2 THREADS=2 SPILL_MEMORY=268435456 DAY=2025-11-27 DUCKDB_MEMORY=6GB
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
duck_memory=${DUCKDB_MEMORY:-6GB}
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
cpu_of() { awk '/User time|System time/ {s += $4} END {printf "%.1f", s}' "$1"; }
wall_of() { grep "Elapsed (wall" "$1" | awk '{print $8}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); lake: $lines lines, $bytes compressed bytes"
printf '| run | engine | wall s | CPU s | lines/s (wall) | vs DuckDB (wall) | peak RSS MiB | notes |\n|---|---|---:|---:|---:|---:|---:|---|\n'
for run in $(seq 1 "$runs"); do
  rm -f "$data"/warehouse.sqlite*
  /usr/bin/time -v "$firehose" --config "$data/firehose.toml" ledger run --day "$day" \
    --threads "$threads" --json > "$work/native.json" 2> "$work/native.time"
  mkdir -p "$work/duckdb-tmp"
  /usr/bin/time -v node "$repo/bench/ledger/duckdb_ledger.mjs" "$repo" "$data/lake" "$day" "$threads" \
    "$duck_memory" "$work/duckdb-tmp" > "$work/duckdb.json" 2> "$work/duckdb.time" || true
  python3 - "$work" "$run" "$lines" "$(rss_of "$work/native.time")" "$(rss_of "$work/duckdb.time")" \
    "$(wall_of "$work/native.time")" "$(wall_of "$work/duckdb.time")" \
    "$(cpu_of "$work/native.time")" "$(cpu_of "$work/duckdb.time")" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
work, run, lines, native_rss, duck_rss, native_wall, duck_wall, native_cpu, duck_cpu, load = sys.argv[1:]
lines = int(lines)
native = json.load(open(f"{work}/native.json"))
t = native["run"]["timings"]
wall = float(native_wall)
commit_s = wall - t["total_ms"] / 1000  # the commit and checkpoint come after the run record
try:
    duck = json.load(open(f"{work}/duckdb.json"))
    duck_wall_s = float(duck_wall)
    same = "digests equal" if duck["digest"] == native["run"]["digest"] else "DIGESTS DIFFER"
    ratio = f"{duck_wall_s / wall:.2f}x"
except Exception:
    duck, duck_wall_s, same, ratio = None, None, "DuckDB did not finish", "n/a"
print(f"| {run} | native `ledger run` (commit included) | {wall:.1f} | {native_cpu} | {lines/wall:,.0f} | {ratio} | {int(native_rss)//1024} | scan {t['scan_ms']/1000:.1f} s, neighbours {t['neighbours_ms']/1000:.1f} s, process {t['process_ms']/1000:.1f} s, write {t['write_ms']/1000:.1f} s, commit {commit_s:.1f} s; load {load} |")
if duck:
    print(f"| {run} | DuckDB sql/ledger.sql (memory_limit) | {duck_wall_s:.1f} | {duck_cpu} | {lines/duck_wall_s:,.0f} | 1 | {int(duck_rss)//1024} | ledger {duck['ledger_ms']/1000:.1f} s + digest {duck['digest_ms']/1000:.1f} s; {same} |")
else:
    print(f"| {run} | DuckDB sql/ledger.sql (memory_limit) | {duck_wall} | {duck_cpu} | | | {int(duck_rss or 0)//1024} | {same} |")
PY
done
rm -f "$data"/warehouse.sqlite*
/usr/bin/time -v "$firehose" --config "$data/firehose.toml" ledger run --day "$day" \
  --threads "$threads" --memory-max "$spill_memory" --json > "$work/spill.json" 2> "$work/spill.time"
python3 - "$work" "$lines" "$(rss_of "$work/spill.time")" "$spill_memory" "$(wall_of "$work/spill.time")" \
  "$(cpu_of "$work/spill.time")" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
work, lines, rss, bound, wall, cpu, load = sys.argv[1:]
native = json.load(open(f"{work}/spill.json"))
t = native["run"]["timings"]
wall = float(wall)
print(f"| spill | native, --memory-max {int(bound)>>20} MiB | {wall:.1f} | {cpu} | {int(lines)/wall:,.0f} | | {int(rss)//1024} | spilled {native['run']['spilled_bytes']>>20} MiB; budget peak {native['peak_memory_bytes']>>20} MiB; write {t['write_ms']/1000:.1f} s; load {load} |")
PY
