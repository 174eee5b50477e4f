#!/usr/bin/env bash
# The embedded log's durable append throughput against dd on the same disk, in the same run.
#
#   bench/log_vs_dd.sh [build dir] [directory on the disk to test]
#   env: DD_MIB=1024 (bytes dd writes), REPETITIONS=3, MIN_TIME=2 (seconds per log case)
#
# The anchor is `dd if=<random file> of=<same disk> bs=1M count=$DD_MIB conv=fdatasync`, run
# before and after the log benchmark (their mean is the anchor). dd syncs once at the end; the
# log syncs after every group commit (<= group_commit_bytes_max = 4 MiB), so a ratio near 1 means
# group commit costs little over a single streaming write.
#
# The floor (bench/log_floor_bench.cc) runs the same cases on the least a log can do to acknowledge
# only after fdatasync (frames copied into contiguous groups, one writer, nothing else), between
# the log and the second dd: what group commit itself leaves of dd's rate on this machine, next to
# what the embedded log keeps of it. Its table follows the log's; a third runs the floor's large
# cases on a file that grows under every fdatasync (FIREHOSE_FLOOR_FILE=grow), as a log writing
# new segments does, where dd pays for the growth once, at its single fdatasync. A fourth runs
# them on the zero-filled file with the pages older than the last 64 MiB dropped from the page
# cache after each fdatasync (FIREHOSE_FLOOR_PAGE_CACHE_BYTES), as the log does by default
# (log_page_cache_bytes): the floor to hold the log's steady state against, where a recycled
# file's pages are no longer cached when it comes round.
#
# Then the log's large cases again in its steady state (FIREHOSE_BENCH_STEADY=1): segments are
# retired as fast as they are written and later ones are written into their files
# (segment_recycle_max), as in a running Firehose whose consumers keep up; the table adds the
# share of new segments that were recycled files.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
target_dir=${2:-${FIREHOSE_BENCH_DIR:-${TMPDIR:-/tmp}}}
dd_mib=${DD_MIB:-1024}
repetitions=${REPETITIONS:-3}
min_time=${MIN_TIME:-2}
bench="$build/bin/log_append_bench"
floor="$build/bin/log_floor_bench"
for program in "$bench" "$floor"; do
  [[ -x "$program" ]] || { echo "log_vs_dd.sh: $program not built (scripts/build.sh release)" >&2; exit 3; }
done

work=$(mktemp -d "$target_dir/log_vs_dd.XXXXXX")
trap 'rm -rf "$work"' EXIT

# MB/s (10^6 bytes) of one dd run, computed from dd's own byte count and seconds.
dd_mbps() {
  dd if="$work/random.bin" of="$work/dd.out" bs=1M count="$dd_mib" conv=fdatasync 2>&1 |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^copied,?$/) secs = $(i + 1); printf "%.1f\n", $1 / secs / 1e6 }'
  rm -f "$work/dd.out"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(df -h "$work" | awk 'NR==2 {print $1 " (" $2 ")"}')"
head -c "$((dd_mib << 20))" /dev/urandom > "$work/random.bin"
# One dd thrown away first: writing random.bin just took cold pages, and on a virtual machine
# that hands free pages back to its host the first dd after it would fill cold pages too and
# run at about half the speed of the dd after the log (which fills the pages the log freed).
dd_mbps > /dev/null
dd_before=$(dd_mbps)
echo "dd before: $dd_before MB/s"

FIREHOSE_BENCH_DIR="$work" "$bench" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true --benchmark_format=json --benchmark_out="$work/log.json" \
  --benchmark_out_format=json >/dev/null
FIREHOSE_BENCH_STEADY=1 FIREHOSE_BENCH_DIR="$work" "$bench" --benchmark_filter='window:(64|4096)/' \
  --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true --benchmark_format=json --benchmark_out="$work/log_steady.json" \
  --benchmark_out_format=json >/dev/null
FIREHOSE_BENCH_DIR="$work" "$floor" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true --benchmark_format=json --benchmark_out="$work/floor.json" \
  --benchmark_out_format=json >/dev/null
FIREHOSE_FLOOR_FILE=grow FIREHOSE_BENCH_DIR="$work" "$floor" --benchmark_filter='window:(64|4096)/' \
  --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true --benchmark_format=json --benchmark_out="$work/floor_grow.json" \
  --benchmark_out_format=json >/dev/null

FIREHOSE_FLOOR_PAGE_CACHE_BYTES=$((64 << 20)) FIREHOSE_BENCH_DIR="$work" "$floor" --benchmark_filter='window:(64|4096)/' \
  --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true --benchmark_format=json --benchmark_out="$work/floor_dropped.json" \
  --benchmark_out_format=json >/dev/null

# Likewise after the log: it reused the same 64 MiB of pages (log_page_cache_bytes) for a
# minute, the rest of free memory went cold meanwhile, and dd would fill cold pages again.
dd_mbps > /dev/null
dd_after=$(dd_mbps)
echo "dd after:  $dd_after MB/s"
anchor=$(awk -v a="$dd_before" -v b="$dd_after" 'BEGIN { printf "%.1f", (a + b) / 2 }')

# One table per engine: records/s, MB/s, group size, fdatasync, MB/s against the dd anchor.
table() {
  echo
  echo "$1:"
  echo
  echo "| record bytes | appenders x window (group MiB) | records/s | x (1 x 1) | MB/s | records per fsync | fsync ms (share of time) | MB/s vs dd ($anchor MB/s) |${3:+ recycled share |}"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|${3:+---:|}"
  jq -r --argjson anchor "$anchor" --argjson steady "${3:-false}" '
    [.benchmarks[] | select(.aggregate_name == "median")] as $rows |
    (if ($rows[0].name | test("appenders:1/window:1/")) then $rows[0].items_per_second else null end) as $single |
    $rows[] |
    (.name | capture("appenders:(?<a>[0-9]+)/window:(?<w>[0-9]+)/group_mib:(?<g>[0-9]+)/record_bytes:(?<r>[0-9]+)")) as $n |
    "| \($n.r) | \($n.a) x \($n.w) (\($n.g)) | \(.items_per_second | floor) | \(if $single then .items_per_second / $single * 10 | floor / 10 else "-" end) | \(.bytes_per_second / 1e6 * 10 | floor / 10) | \(.per_fsync * 10 | floor / 10) | \(.fsync_ms * 100 | floor / 100) (\(.fsync_share * 100 | floor)%) | \(.bytes_per_second / 1e6 / $anchor * 1000 | floor / 1000) |\(if $steady then " \(.recycled_share * 100 | floor)% |" else "" end)"
  ' "$2"
}
table "Embedded log (log_append_bench)" "$work/log.json"
table "Embedded log in its steady state, segments written into recycled files (FIREHOSE_BENCH_STEADY=1)" "$work/log_steady.json" true
table "Floor (log_floor_bench), a zero-filled file written round and round" "$work/floor.json"
table "Floor, appending to a growing file (FIREHOSE_FLOOR_FILE=grow)" "$work/floor_grow.json"
table "Floor, the zero-filled file with pages dropped 64 MiB behind the writer (FIREHOSE_FLOOR_PAGE_CACHE_BYTES=67108864)" "$work/floor_dropped.json"
echo
echo "command: bench/log_vs_dd.sh $build $target_dir  (DD_MIB=$dd_mib REPETITIONS=$repetitions MIN_TIME=$min_time; medians of $repetitions repetitions)"
