// The `ops` consumer of the durable queue: maps each arrival with the partner's mapping and
// adds what it says to the partner's series (events, failed transactions, quarantined parts,
// amounts, estimated duplicates, receive lag), bucketed by receive time.
//
// Design constraints:
//   - It must be much faster than the edge (target >= 500 k events/s per core, see
//     bench/ops_consumer_bench.cc), so that a replay flood from one partner cannot make the
//     others' numbers stale: the edge tops out well below that (BASELINES: ~60 k requests/s),
//     so the consumer's lag stays near zero whatever the mix.
//   - Records older than the minute ring (a day) are counted without being mapped, so a
//     consumer that starts far behind catches up quickly.
//   - It commits its cursor every ops.commit_interval_ms. After a restart the series start
//     empty and the records after the last commit are counted again: at most one commit
//     interval's records are counted twice, and the history before the restart is gone from
//     the 1 s / 1 min views (the lake keeps the truth). Approximate by design.
// Thread safety: Start/Stop from one owner thread; the work runs on the consumer's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/mapping.h"
#include "core/metrics.h"
#include "ops/duplicate_sketch.h"
#include "ops/ops_state.h"
#include "queue/queue.h"

namespace firehose::ops {

inline constexpr std::string_view kConsumerName = "ops";

// The per-record work, without the thread: the benchmark and the unit tests drive it directly.
// Not thread-safe (one thread).
class ArrivalProcessor {
 public:
  explicit ArrivalProcessor(OpsState& state);
  // Counts one arrival; `now` is when the consumer read it (for the receive lag).
  void Process(const QueueRecord& record, TimestampUs now);

  std::uint64_t records() const { return records_; }
  std::uint64_t events() const { return events_; }
  const DuplicateSketch& sketch() const { return sketch_; }

 private:
  struct Partner {
    PartnerSeries* series = nullptr;
    const Mapping* mapping = nullptr;
    std::uint64_t seed = 0;
    Counter* received = nullptr;  // firehose_received_total{stage="ops",partner}
  };
  Partner* Lookup(const PartnerId& partner_id);

  OpsState& state_;
  Mapper mapper_;
  DuplicateSketch sketch_;
  std::unordered_map<std::string, Partner> partners_;
  std::uint64_t records_ = 0;
  std::uint64_t events_ = 0;
};

class OpsConsumer {
 public:
  // `state` and `queue` must outlive the consumer.
  OpsConsumer(OpsState& state, Queue& queue);
  ~OpsConsumer();
  OpsConsumer(const OpsConsumer&) = delete;
  OpsConsumer& operator=(const OpsConsumer&) = delete;

  // Opens the durable consumer "ops" and starts the thread.
  Status Start();
  // Commits what was processed and joins the thread. Idempotent.
  void Stop();

  std::uint64_t records() const { return records_.load(std::memory_order_relaxed); }

 private:
  void Run();
  void CommitIfDue(bool force);

  OpsState& state_;
  Queue& queue_;
  std::unique_ptr<QueueConsumer> consumer_;
  std::unique_ptr<ArrivalProcessor> processor_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<std::uint64_t> records_{0};
  bool have_uncommitted_ = false;
  QueueOffset last_offset_;
  std::chrono::steady_clock::time_point last_commit_;
};

}  // namespace firehose::ops
