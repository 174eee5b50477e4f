// What log_append_bench (the embedded log) and log_floor_bench (its floor) share, so that
// bench/log_vs_dd.sh compares the two on the same cases and counters. Header-only and free of
// Firehose code: the floor must not share the code it is the anchor for.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

namespace firehose::bench {

// Where the benchmarks put their files: $FIREHOSE_BENCH_DIR, else the system temp directory (put
// it on the disk you compare with; bench/log_vs_dd.sh does).
inline std::filesystem::path LogBenchParent() {
  const char* chosen = std::getenv("FIREHOSE_BENCH_DIR");
  return chosen != nullptr ? std::filesystem::path(chosen) : std::filesystem::temp_directory_path();
}

// Records per appender for one iteration: ~50 full rounds of the window, but bounded so that an
// iteration stays short on a slow disk and small on a fast one.
inline std::int64_t LogBenchRecordsPerAppender(std::int64_t appenders, std::int64_t window,
                                               std::size_t record_bytes) {
  return std::clamp<std::int64_t>(window * 50, 200 / appenders + 1,
                                  static_cast<std::int64_t>(60'000'000 / record_bytes) / appenders);
}

// The counters log_vs_dd.sh reads: records and frame bytes made durable per second, records per
// fdatasync (the group size), the share of wall time inside fdatasync and its mean latency.
inline void SetLogBenchCounters(benchmark::State& state, std::int64_t records,
                                std::uint64_t frame_bytes, std::uint64_t fsyncs,
                                double fsync_seconds, double elapsed_seconds) {
  const auto fsync_count = static_cast<double>(std::max<std::uint64_t>(fsyncs, 1));
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * static_cast<std::int64_t>(frame_bytes));
  state.counters["per_fsync"] = static_cast<double>(records) / fsync_count;
  state.counters["fsync_share"] = fsync_seconds / elapsed_seconds;
  state.counters["fsync_ms"] = 1000 * fsync_seconds / fsync_count;
}

// One appender per webhook connection waiting for its answer: how group commit scales.
inline void OneInFlightPerAppender(benchmark::internal::Benchmark* b) {
  b->ArgNames({"appenders", "window", "group_mib", "record_bytes"})
      ->ArgsProduct({{1, 2, 4, 8, 16, 32, 64}, {1}, {4}, {600}})
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// Many requests in flight: groups fill group_commit_bytes_max (4 MiB by default), the
// large-group case; and the same with 16 MiB groups (fewer fsyncs per byte: the setting for a
// log that must keep up with a disk much faster than its fsync latency). Then batched webhooks:
// the same bytes in 100x fewer records, which leaves the per-byte costs (copies, checksum, the
// page cache, fdatasync) with the per-record ones (allocation, completion) spread thin.
inline void ManyInFlight(benchmark::internal::Benchmark* b) {
  b->ArgNames({"appenders", "window", "group_mib", "record_bytes"})
      ->Args({64, 64, 4, 600})
      ->Args({4, 4096, 4, 600})
      ->Args({4, 4096, 16, 600})
      ->Args({4, 64, 4, 60000})
      ->Args({4, 64, 16, 60000})
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace firehose::bench
