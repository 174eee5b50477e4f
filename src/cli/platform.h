// The stages one Firehose process hosts, started and stopped in the right order.
//
// `firehose run` hosts every role; `firehose ingest` only the edge; `firehose land` only the
// lake writer (scale-out roles need a shared queue: with the embedded log, one process owns the
// queue directory, so its edge and lake writer run together). The demo and the tests host a
// Platform in-process.
//
// Stop order, so that nothing acknowledged is lost and nothing is left half-done:
//   0. the ledger scheduler cancels a run in progress (nothing of it is written: the day is
//      replaced in one transaction) and stops;
//   1. the edge stops accepting (503 shutting_down), drains requests in flight;
//   2. the queue completes every append in flight (durable, or failed) and refuses new ones;
//   3. the lake writer lands what is durable, publishes its open range and commits.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/config.h"
#include "core/status.h"
#include "queue/queue.h"

namespace firehose::edge {
class EdgeServer;
}
namespace firehose::ledger {
class LedgerScheduler;
}

namespace firehose::cli {

struct Roles {
  bool edge = true;     // webhook ingest (HTTP)
  bool lake = true;     // queue -> raw lake
  bool ledger = false;  // LedgerScheduler: books closed days, re-runs stale ones (`firehose run`)
};

class Platform {
 public:
  // Opens the queue and starts the selected roles. `config` is copied: the stages keep
  // references into the Platform's copy.
  static Result<std::unique_ptr<Platform>> Start(const Config& config, Roles roles);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Graceful stop (see the order above). Idempotent; not from a stage's own thread.
  void Stop();

  // A stage that cannot go on (the lake cannot be opened, ...): the process should exit.
  bool failed() const { return failed_.load(); }
  // The edge's bound port (0 without the edge role).
  std::uint16_t port() const;
  const Config& config() const { return config_; }
  Queue& queue() { return *queue_; }

 private:
  Platform(const Config& config, Roles roles);
  Status StartLake();
  Status StartEdge();
  Status StartLedger();

  Config config_;
  Roles roles_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<edge::EdgeServer> edge_;
  std::unique_ptr<QueueConsumer> lake_consumer_;
  std::unique_ptr<ledger::LedgerScheduler> ledger_;
  std::atomic<bool> lake_stop_{false};
  std::atomic<bool> failed_{false};
  std::thread lake_thread_;
  bool stopped_ = false;
};

}  // namespace firehose::cli
