// POST /v1/webhooks/{partner_id}: the webhook endpoint of DESIGN §3.
//
// A request is checked in this order, and the first failing check answers:
//   before the body is read (from the header section alone)
//     1. partner: the path segment matches [a-z0-9_-]{1,64} exactly and names a configured
//        webhook partner                                            else 404 unknown_partner
//     2. shutting down / queue full / in_flight_appends_max reached   else 503 + Retry-After
//     3. Content-Length within body_bytes_max                         else 413 body_too_large
//     4. Content-Type application/json (parameters allowed)   else 415 unsupported_media_type
//   after the body is read
//     5. signature, per the partner's scheme                 else 401 signature_<failure>
//     6. rate limit (only authenticated requests spend tokens)   else 429 + Retry-After
//     7. mapping: a batch within batch_events_max                 else 413 batch_too_large
//     8. durable append to the queue; the 202 is sent from the append's callback, only once
//        the record is durable. A body that cannot be mapped still lands (the lake
//        quarantines it) and still gets 202, with "quarantine_reason".
//        Append refused: 503 + Retry-After (queue_full, disk_full, overloaded,
//        shutting_down, queue_unavailable); I/O error: 500 internal. Never a 2xx for a record
//        that is not stored.
//
// Every request is counted (core/metrics.h contract, stage "edge"): received, then exactly one
// of accepted or rejected{reason}, with partner = the configured id or "_unknown" (never the
// raw path text); plus firehose_edge_request_seconds{code} and written events/bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/log.h"
#include "core/mapping.h"
#include "core/metrics.h"
#include "edge/http_server.h"
#include "edge/rate_limiter.h"
#include "queue/queue.h"

namespace firehose::edge {

inline constexpr std::string_view kWebhookPathPrefix = "/v1/webhooks/";

// Told of every webhook request refused before the queue (ops keeps per-partner error rates
// from it). Called on io threads and the queue's thread: must be cheap and thread-safe.
class WebhookObserver {
 public:
  virtual ~WebhookObserver() = default;
  // `partner` is a configured partner id or "_unknown"; `reason` is the JSON error code.
  virtual void OnRejected(std::string_view partner, std::string_view reason) = 0;
};

// How an append failure is answered.
struct AppendFailureAnswer {
  int status = 503;
  std::string_view code;  // "queue_full", "disk_full", "shutting_down", ...
};
AppendFailureAnswer ClassifyAppendFailure(const Status& status, bool shutting_down);

// Thread-safe. `config`, `queue` and `observer` (optional) must outlive the handler; the
// destructor waits for the appends it started to complete (the queue promises each callback
// runs exactly once), so destroy it after the server stopped and the queue shut down or drained.
class WebhookHandler {
 public:
  WebhookHandler(const Config& config, Queue& queue, WebhookObserver* observer = nullptr);
  ~WebhookHandler();
  WebhookHandler(const WebhookHandler&) = delete;
  WebhookHandler& operator=(const WebhookHandler&) = delete;

  // Adds the webhook route to `server` (before it starts).
  void AddRoutes(HttpServer& server);

  // From now on webhook requests get 503 shutting_down before their body is read.
  void BeginShutdown() { shutting_down_.store(true, std::memory_order_release); }
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }

  // Why the edge would refuse a webhook now ("shutting_down", "queue_full"), or empty when it
  // would accept one: what /readyz reports.
  std::string_view NotReadyReason() const;

  std::int64_t appends_in_flight() const { return in_flight_.load(std::memory_order_acquire); }

 private:
  struct Partner {
    const PartnerConfig* config = nullptr;
    TokenBucket* bucket = nullptr;
    Counter* received = nullptr;
    Counter* accepted = nullptr;
  };
  struct ArrivalSummary {
    std::size_t events = 0;
    std::size_t quarantined = 0;
    std::string quarantine_reason;  // set when the whole body is unmappable
  };

  const Partner* FindPartner(std::string_view path_segment) const;
  std::optional<HttpResponse> CheckHead(const HttpRequest& head);
  void Handle(HttpRequest request, const Responder& responder);
  void OnRefused(const HttpRequest& head, std::string_view reason);
  void Append(const Partner& partner, HttpRequest request, const Responder& responder,
              std::string signature_id, TimestampUs received_at, ArrivalSummary summary);
  void OnAppended(const Partner& partner, std::chrono::steady_clock::time_point started_at,
                  const Responder& responder, const ArrivalId& arrival_id, std::size_t body_bytes,
                  const ArrivalSummary& summary, const Result<QueueOffset>& result);

  // One info line per partner and reason per second (LogThrottle), with the count held back.
  void LogRejection(std::string_view partner, std::string_view reason, int status,
                    std::string_view remote);
  // Counts a refusal (metrics, observer, log line, latency) and builds its answer.
  HttpResponse Refusal(const Partner* partner, std::chrono::steady_clock::time_point started_at,
                       int status, std::string_view code, std::string_view message);
  HttpResponse Unavailable(const Partner* partner, std::chrono::steady_clock::time_point started_at,
                           std::string_view code, std::string_view message);
  void ObserveLatency(int status, std::chrono::steady_clock::time_point started_at);
  Mapper& ThreadMapper();

  const Config& config_;
  Queue& queue_;
  WebhookObserver* observer_;
  const std::uint64_t instance_id_;  // tells this handler's per-thread Mappers from others'
  RateLimiter rate_limiter_;
  LogThrottle log_throttle_;
  std::map<std::string, Partner, std::less<>> partners_;  // webhook partners only
  std::atomic<bool> shutting_down_{false};
  std::atomic<std::int64_t> in_flight_{0};
  std::map<int, Histogram*> latency_by_status_;  // filled at construction, then read-only
  Counter& unknown_received_;
  Counter& written_events_;
  Counter& written_bytes_;
};

}  // namespace firehose::edge
