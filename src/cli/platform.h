// The stages one Firehose process hosts, started and stopped in the right order.
//
// `firehose run` hosts every role; `firehose ingest` the producers (the edge and the poller);
// `firehose land` only the lake writer; `firehose ops` only the ops view (consumer, alerts, API
// and dashboard on its own HTTP server, no webhook route). Scale-out roles need a shared queue:
// with the embedded log, one process owns the queue directory, so its edge and lake writer run
// together. The demo and the tests host a Platform in-process.
//
// The ops consumer's cursor: "ops" is a durable consumer (DESIGN §4), so that a restart resumes
// where it stopped and rebuilds the last day's series from the queue. A durable cursor that
// nobody advances would pin every later segment (and, at queue_bytes_max, make the edge answer
// 503) for a view that is approximate by design. So a process on the embedded log that does
// not host ops drops the "ops" cursor at start: with the embedded log one process owns the
// queue, so no ops runs elsewhere. Hosting ops again recreates it at the oldest stored record.
//
// Ingest errors on JetStream: the ops view counts webhook refusals and poll failures, which only
// the process hosting the edge or the poller sees. A process that hosts them together with ops
// records them directly; a process that hosts them without ops (`firehose ingest`) sends its
// counts over the ops error relay (ops/error_relay.h), and a process that hosts ops without the
// edge (`firehose ops`) receives them. A process never both records directly and relays.
//
// On JetStream, several `firehose land` processes may run for one lake writer id: each takes the
// writer's lease (queue/jetstream_lease.h) before it reads the `lake` consumer or touches the
// writer's part of the lake, the others stand by, and a writer that loses its lease stops
// (its open range is not published: the fence refuses the manifest) and stands by again.
//
// Stop order, so that nothing acknowledged is lost and nothing is left half-done:
//   0. the ledger scheduler cancels a run in progress (nothing of it is written);
//   1. the edge stops accepting (503 shutting_down), drains requests in flight; the poller stops
//      (transfers in flight are abandoned: their pages were neither appended nor their cursors
//      saved) and waits for its appends in flight;
//   1a. the ops error relay sends the edge's and the poller's last error counts;
//   1b. ops stops (ends its streams, commits its consumer's cursor);
//   2. the lake writer lands what the queue holds (bounded by LakeConsumerOptions::
//      stop_drain_max), publishes its open range and commits;
//   3. the queue completes any append still in flight (durable, or failed) and closes; what the
//      lake did not land by then lands at the next start.
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
class HttpServer;
}  // namespace firehose::edge
namespace firehose::ledger {
class LedgerScheduler;
}
namespace firehose::ops {
class ErrorRelayPublisher;
class ErrorRelaySubscriber;
class OpsService;
}  // namespace firehose::ops
namespace firehose::poll {
class Poller;
}

namespace firehose {
class JetStreamLease;
}

namespace firehose::cli {

struct Roles {
  bool edge = true;    // webhook ingest (HTTP)
  bool lake = true;    // queue -> raw lake
  bool ops = true;     // the ops consumer, alerts, the ops API + dashboard (on the edge's HTTP
                       // server, or on its own one at server.listen without the edge role)
  bool poll = true;    // the poller (poll partners -> queue)
  bool ledger = true;  // the ledger scheduler: books each day once it closes, re-runs stale
                       // days ([ledger] schedule_tick_s; 0 turns it off)
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
  // The bound HTTP port: the edge's, or the ops server's without the edge (0 without either).
  std::uint16_t port() const;
  const Config& config() const { return config_; }
  Queue& queue() { return *queue_; }
  // The poller (null without the poll role or poll partners): per-partner state for ops.
  const poll::Poller* poller() const { return poller_.get(); }
  // The ops service (null without the ops role): its alerts, for reports.
  ops::OpsService* ops() { return ops_.get(); }

 private:
  Platform(const Config& config, Roles roles);
  Status StartLake();
  Status StartLeasedLake();
  void RunLeasedLake();
  Status StartErrorRelay();
  Status StartEdge();
  Status StartOpsAlone();
  Status StartLedger();
  Status StartPoller();
  Status ReleaseOpsCursor();

  Config config_;
  Roles roles_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<ops::OpsService> ops_;  // before edge_: the edge's routes call into it
  // The edge or the poller without ops, on JetStream; before edge_: the edge calls into it.
  std::unique_ptr<ops::ErrorRelayPublisher> relay_publisher_;
  std::unique_ptr<edge::EdgeServer> edge_;
  std::unique_ptr<edge::HttpServer> ops_server_;  // the ops role without the edge
  // The ops role without the edge, on JetStream; after ops_: it writes into ops' state.
  std::unique_ptr<ops::ErrorRelaySubscriber> relay_subscriber_;
  std::unique_ptr<poll::Poller> poller_;
  std::unique_ptr<QueueConsumer> lake_consumer_;
  std::unique_ptr<ledger::LedgerScheduler> ledger_;
  std::unique_ptr<JetStreamLease> lake_lease_;
  std::atomic<bool> lake_stop_{false};
  std::atomic<bool> failed_{false};
  std::thread lake_thread_;
  bool stopped_ = false;
};

}  // namespace firehose::cli
