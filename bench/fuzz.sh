#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan + coverage) into
# build/fuzz and runs each for a set time, starting from its committed corpus.
#   bench/fuzz.sh [seconds per target, default 60] [target ...]
# Prints one Markdown row per target (executions, exec/s, corpus growth, findings). A finding
# (crash, leak, timeout, out of memory) is saved under build/fuzz/findings/<target>/; copy it to
# tests/fuzz/corpus/<target>/regression_<what> so the replay test keeps it fixed. Exit status: 0
# when no target found anything, 1 otherwise, 3 when the build failed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all_targets=(mapping_fuzz signature_fuzz money_fuzz config_fuzz record_fuzz log_recovery_fuzz lake_line_fuzz)
# The ledger's statements reader joins when its target is in the tree.
[[ -f tests/fuzz/statements_fuzz.cc ]] && all_targets+=(statements_fuzz)
[[ -f tests/fuzz/poll_page_fuzz.cc ]] && all_targets+=(poll_page_fuzz)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
build=build/fuzz
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}

if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFIREHOSE_FUZZ=ON -DFIREHOSE_SANITIZE=ON -DFIREHOSE_WERROR=OFF -DFIREHOSE_BENCH=OFF >/dev/null \
    || exit 3
fi
cmake --build "$build" -j "${FIREHOSE_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}" || exit 3

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
findings_total=0
echo "| target | seconds | executions | exec/s | corpus (seed → end) | findings |"
echo "|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$target
  work=$build/corpus/$target
  findings=$build/findings/$target
  log=$build/logs/$target.log
  mkdir -p "$work" "$findings" "$(dirname "$log")"
  seed_count=$(find "$seeds" -type f | wc -l)
  # -fork-less single process; a finding stops the run (its input is the artifact).
  "$build/bin/$target" "$work" "$seeds" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1 || true
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  end_count=$(find "$work" -type f | wc -l)
  found=$(find "$findings" -type f | wc -l)
  findings_total=$((findings_total + found))
  echo "| $target | $seconds | $executions | $rate | $seed_count → $((end_count + seed_count)) | $found |"
done
echo
echo "fuzz.sh: $findings_total finding(s); logs in $build/logs, inputs in $build/findings"
((findings_total == 0))
