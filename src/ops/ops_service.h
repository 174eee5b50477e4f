// The ops path as one runnable piece (DESIGN §6): the `ops` queue consumer, the alert
// evaluator and its webhook notifier, a once-a-second ticker, and the HTTP routes it adds to the
// edge's server:
//
//   GET /api/ops/partners   every partner: rate, error %, duplicate %, last seen, state
//                           (?sort=volume|errors|duplicates|id &q=<id substring> &limit=N)
//   GET /api/ops/series     ?partner=<id>&window=<300 | 90s | 15m | 1h | 24h>: 1 s buckets for
//                           windows up to 1 h, 1 min buckets beyond (at most a day)
//   GET /api/ops/alerts     active (pending, firing) and recent (resolved) alerts
//   GET /api/ops/status     queue depth and consumer lag, ops memory, the last ledger run
//   GET /api/ops/stream     Server-Sent Events: one "update" event per second (at most
//                           limits.sse_clients_max subscribers; a subscriber that reads too slowly
//                           is dropped by the server, never waited for)
//   GET /metrics            Prometheus text exposition of every series in core/metrics.h
//   GET /  /dashboard/...   the dashboard (embedded files)
// With server.ops_token set, /api/... and /metrics need "Authorization: Bearer <token>"
// (compared in constant time; 401 with a JSON error otherwise). The dashboard's files, the
// webhook route, /healthz and /readyz stay open.
//
// Wiring (what `firehose run` does):
//   ops::OpsService ops(config, queue);
//   edge::EdgeServer edge(config, queue, ops.webhook_observer());
//   ops.AddRoutes(edge.http());
//   edge.Start(); ops.Start();
//   ...
//   edge.Stop(drain); ops.Stop(); queue.Shutdown();
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "edge/http_server.h"
#include "ops/alerts.h"
#include "ops/ops_consumer.h"
#include "ops/ops_state.h"
#include "queue/queue.h"

namespace firehose::ops {

// Whether `request` carries [server] ops_token as "Authorization: Bearer <token>" (compared in
// constant time); always true when no token is set.
bool OpsTokenAccepted(const Config& config, const edge::HttpRequest& request);
// Answers with `answer()` (Cache-Control: no-store) when OpsTokenAccepted, else 401.
void ServeWithOpsToken(const Config& config, const edge::HttpRequest& request,
                       const edge::Responder& responder,
                       const std::function<edge::HttpResponse()>& answer);
// GET /metrics: the process's metrics in the Prometheus text format, behind the ops token. The ops
// view adds it with its routes; a gateway without the ops view (`firehose ingest`) adds it alone.
void AddMetricsRoute(edge::HttpServer& server, const Config& config);

class OpsService {
 public:
  // `config` and `queue` must outlive the service; so must the HttpServer given to AddRoutes
  // (stop the server before destroying the service).
  OpsService(const Config& config, Queue& queue, Clock clock = NowUs);
  ~OpsService();  // Stop()
  OpsService(const OpsService&) = delete;
  OpsService& operator=(const OpsService&) = delete;

  // For EdgeServer / WebhookHandler: requests refused before the queue.
  edge::WebhookObserver* webhook_observer() { return state_.webhook_observer(); }

  // Adds the routes above to `server` (before it starts).
  void AddRoutes(edge::HttpServer& server);

  // Opens the "ops" consumer and starts the consumer, the notifier and the ticker.
  Status Start();
  // Ends the SSE streams, stops the threads, commits the consumer's cursor. Idempotent.
  void Stop();

  OpsState& state() { return state_; }
  AlertEvaluator& alerts() { return alerts_; }

  // The JSON bodies of the API (also what the stream sends), at the state's clock.
  std::string PartnersJson(std::string_view query) const;
  std::string AlertsJson() const;
  std::string StatusJson() const;
  // InvalidArgument / NotFound for a bad query.
  Result<std::string> SeriesJson(std::string_view query) const;

 private:
  struct Subscriber;
  void Tick();
  void RunTicker();
  void Broadcast(const std::string& event);
  void UpdateGauges(std::int64_t now_s);
  void RefreshLedger();
  bool Authorized(const edge::HttpRequest& request) const;
  void Serve(const edge::HttpRequest& request, const edge::Responder& responder,
             const std::function<edge::HttpResponse()>& answer) const;
  void Subscribe(const edge::Responder& responder);
  std::string PartnerState(const PartnerSeries& series, const BucketValues& window,
                           std::int64_t now_s) const;

  const Config& config_;
  Queue& queue_;
  OpsState state_;
  OpsConsumer consumer_;
  AlertEvaluator alerts_;
  AlertNotifier notifier_;

  std::thread ticker_;
  std::mutex ticker_mutex_;
  std::condition_variable ticker_wake_;
  bool stopping_ = false;
  bool started_ = false;

  mutable std::mutex subscribers_mutex_;
  std::vector<std::shared_ptr<edge::ResponseStream>> subscribers_;

  mutable std::mutex ledger_mutex_;
  std::string ledger_json_ = R"({"available":false,"reason":"not read yet"})";
  std::int64_t ledger_read_at_s_ = 0;
};

}  // namespace firehose::ops
