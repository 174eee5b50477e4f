// Durable appends to the embedded log (group commit), from N concurrent appenders.
//
// Each appender is closed-loop with a window of W outstanding appends: W = 1 is a webhook
// connection waiting for its 2xx; a large W is an edge with many requests in flight. A record
// encodes to `record_bytes`: 600 (a 624-byte frame, a single webhook as in BASELINES.md) or
// 60,000 (a batched webhook of 100 such events, one arrival: one record). Reported:
//   items_per_second   durable records/s
//   bytes_per_second   frame bytes made durable per second (what the disk wrote)
//   per_fsync          records acknowledged per fdatasync (the group size)
//   fsync_ms           mean fdatasync latency; fsync_share: the share of wall time spent in it
//
// The log lives in $FIREHOSE_BENCH_DIR (default: the system temp directory): put it on the disk
// you compare with (bench/log_vs_dd.sh does).
//
// FIREHOSE_BENCH_STEADY=1 measures the log in its steady state, where segments are retired as
// fast as they are written and later segments are written into their files
// (segment_recycle_max): before timing, segment_recycle_max + 1 segments are written and retired;
// while timing, a follower moves a consumer's cursor to the durable end every 100 ms and applies
// retention (retention_s = 0), standing in for a consumer that keeps up (its reading is not
// measured). Reported as well: recycled_share, the share of the timed part's new segments that
// were written into recycled files.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/arrival_id.h"
#include "core/check.h"
#include "core/log.h"
#include "core/metrics.h"
#include "log_bench_cases.h"
#include "queue/embedded_log.h"
#include "queue/log_format.h"

namespace firehose {
namespace {

namespace fs = std::filesystem;

QueueRecord MakeRecord(std::size_t record_bytes) {
  QueueRecord record;
  record.arrival_id = NewArrivalId(NowUs());
  record.partner_id = *PartnerId::Parse("acme");
  record.received_at = NowUs();
  record.signature_id = "t=1700000000";
  record.remote_address = "203.0.113.7:50522";
  const std::size_t envelope = EncodedRecordSize(record);
  record.body = "{\"id\":\"ch_1\",\"amount\":\"12.34\",\"pad\":\"";
  record.body.resize(record_bytes - envelope - 2, 'x');
  record.body += "\"}";
  FH_CHECK(EncodedRecordSize(record) == record_bytes, "record size");
  return record;
}

// Appends `count` records with at most `window` outstanding, and returns when all are durable.
// A full window is refilled once half of it is free (with window 1: at once), so that a large
// window costs the appender one wake-up per half window, not one per record: the benchmark
// measures the log, not the harness's thread switches.
void RunAppender(EmbeddedLog& log, const QueueRecord& prototype, std::int64_t count,
                 std::int64_t window) {
  std::mutex mutex;
  std::condition_variable changed;
  std::int64_t outstanding = 0;
  const std::int64_t refill_at = window - std::max<std::int64_t>(1, window / 2);
  bool waiting = false;
  for (std::int64_t i = 0; i < count; ++i) {
    {
      std::unique_lock lock(mutex);
      if (outstanding >= window) {
        waiting = true;
        changed.wait(lock, [&] { return outstanding <= refill_at; });
        waiting = false;
      }
      ++outstanding;
    }
    log.Append(prototype, [&](Result<QueueOffset> result) {
      FH_CHECK(result.ok(), result.status().ToString());
      std::lock_guard lock(mutex);
      --outstanding;
      if (waiting && (outstanding <= refill_at || outstanding == 0)) changed.notify_one();
    });
  }
  std::unique_lock lock(mutex);
  waiting = true;
  changed.wait(lock, [&] { return outstanding == 0; });
}

bool SteadyState() {
  const char* steady = std::getenv("FIREHOSE_BENCH_STEADY");
  return steady != nullptr && std::string(steady) == "1";
}

std::uint64_t SegmentsCreated(std::string_view file) {
  return Metrics().SumCounters("firehose_queue_segments_created_total", {{"file", std::string(file)}});
}

// Moves the consumer to the durable end and retires what it passed, every 100 ms until stopped.
class Follower {
 public:
  explicit Follower(EmbeddedLog& log) : log_(log) {
    auto consumer = log_.OpenConsumer("bench_follower");
    FH_CHECK(consumer.ok(), consumer.status().ToString());
    consumer_ = std::move(consumer).value();
    CatchUp();
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!stop_) {
        lock.unlock();
        CatchUp();
        lock.lock();
        changed_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; });
      }
    });
  }
  ~Follower() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void CatchUp() {
    FH_CHECK(consumer_->Seek(log_.Stats().next_offset).ok(), "seek");
    log_.EnforceRetention();
  }

 private:
  EmbeddedLog& log_;
  std::unique_ptr<QueueConsumer> consumer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  std::thread thread_;
};

void BM_DurableAppend(benchmark::State& state) {
  const std::int64_t appenders = state.range(0);
  const std::int64_t window = state.range(1);
  const std::int64_t group_mib = state.range(2);  // group_commit_bytes_max
  const auto record_bytes = static_cast<std::size_t>(state.range(3));
  const std::int64_t per_appender =
      bench::LogBenchRecordsPerAppender(appenders, window, record_bytes);

  std::string pattern = (bench::LogBenchParent() / "firehose-log-bench-XXXXXX").string();
  FH_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp under FIREHOSE_BENCH_DIR");
  const fs::path dir = pattern;
  Limits limits;
  limits.queue_bytes_max = 1LL << 40;  // the benchmark measures appends, never the size limit
  limits.group_commit_bytes_max = group_mib << 20;
  // FIREHOSE_BENCH_PREFILL_BYTES=0 measures the log without zeros written ahead (the default is
  // the limit's default).
  if (const char* prefill = std::getenv("FIREHOSE_BENCH_PREFILL_BYTES")) {
    limits.segment_prefill_bytes = std::stoll(prefill);
  }
  // FIREHOSE_BENCH_PAGE_CACHE_BYTES=0 leaves every written page in the page cache.
  if (const char* cache = std::getenv("FIREHOSE_BENCH_PAGE_CACHE_BYTES")) {
    limits.log_page_cache_bytes = std::stoll(cache);
  }
  // FIREHOSE_BENCH_WRITEBACK_BYTES=0 writes each group in one pwritev, the disk starting at the
  // fdatasync.
  if (const char* writeback = std::getenv("FIREHOSE_BENCH_WRITEBACK_BYTES")) {
    limits.log_writeback_bytes = std::stoll(writeback);
  }
  // FIREHOSE_BENCH_GROUP_WAIT_US: group_commit_wait_us (A/B runs of the group-commit wait).
  if (const char* wait = std::getenv("FIREHOSE_BENCH_GROUP_WAIT_US")) {
    limits.group_commit_wait_us = std::stoll(wait);
  }
  // FIREHOSE_BENCH_HEAP_RETAIN_BYTES=0: glibc's own heap trimming (see core/allocator.h).
  if (const char* retain = std::getenv("FIREHOSE_BENCH_HEAP_RETAIN_BYTES")) {
    limits.heap_retain_bytes = std::stoll(retain);
  }
  const bool steady = SteadyState();
  if (steady) limits.retention_s = 0;
  // As `firehose run` does (cli/platform.cc).
  FH_CHECK(RetainFreedHeap(limits.heap_retain_bytes).ok(), "heap_retain_bytes");
  auto opened = EmbeddedLog::Open(dir, limits);
  FH_CHECK(opened.ok(), opened.status().ToString());
  std::unique_ptr<EmbeddedLog> log = std::move(opened).value();
  const QueueRecord prototype = MakeRecord(record_bytes);
  std::unique_ptr<Follower> follower;
  if (steady) {
    // segment_recycle_max + 1 segments, then all but the active one retired into recycled files.
    const auto seed_records = static_cast<std::int64_t>(
        (limits.segment_recycle_max + 1) * limits.segment_bytes_max /
        static_cast<std::int64_t>(log_format::FrameBytes(record_bytes)));
    // 8 MiB in flight in all, well within queue_pending_bytes_max.
    const std::int64_t seed_window = std::clamp<std::int64_t>(
        (2 << 20) / static_cast<std::int64_t>(log_format::FrameBytes(record_bytes)), 1, 4096);
    std::vector<std::thread> seeders;
    for (int a = 0; a < 4; ++a) {
      seeders.emplace_back(
          [&] { RunAppender(*log, prototype, seed_records / 4 + 1, seed_window); });
    }
    for (auto& thread : seeders) thread.join();
    follower = std::make_unique<Follower>(*log);
    FH_CHECK(Metrics().GaugeFor("firehose_queue_recycled_segments").value() ==
                 static_cast<double>(limits.segment_recycle_max),
             "the seeded segments were not all recycled");
  }
  const std::uint64_t created_new_before = SegmentsCreated("new");
  const std::uint64_t created_recycled_before = SegmentsCreated("recycled");

  Counter& fsyncs = Metrics().CounterFor("firehose_queue_fsyncs_total");
  Histogram& fsync_seconds = Metrics().HistogramFor("firehose_queue_fsync_seconds");
  const std::uint64_t fsyncs_before = fsyncs.value();
  const double fsync_seconds_before = fsync_seconds.sum();
  const auto started = std::chrono::steady_clock::now();
  std::int64_t records = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (std::int64_t a = 0; a < appenders; ++a) {
      threads.emplace_back([&] { RunAppender(*log, prototype, per_appender, window); });
    }
    for (auto& thread : threads) thread.join();
    records += appenders * per_appender;
  }
  const double elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::uint64_t fsync_count = fsyncs.value() - fsyncs_before;
  const double fsync_total_seconds = fsync_seconds.sum() - fsync_seconds_before;
  bench::SetLogBenchCounters(state, records, log_format::FrameBytes(record_bytes), fsync_count,
                             fsync_total_seconds, elapsed_seconds);
  const auto recycled = static_cast<double>(SegmentsCreated("recycled") - created_recycled_before);
  const auto created = recycled + static_cast<double>(SegmentsCreated("new") - created_new_before);
  state.counters["recycled_share"] = created > 0 ? recycled / created : 0;
  follower.reset();
  log.reset();
  std::error_code error;
  fs::remove_all(dir, error);
}

BENCHMARK(BM_DurableAppend)->Apply(bench::OneInFlightPerAppender);
BENCHMARK(BM_DurableAppend)->Apply(bench::ManyInFlight);

}  // namespace
}  // namespace firehose

int main(int argc, char** argv) {
  firehose::InitLogging("warn");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
