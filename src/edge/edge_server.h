// The webhook edge as one runnable piece: an HttpServer on `server.listen` with
// `server.io_threads` io threads (0: one per core), the webhook route appending to a Queue, and
//   GET /healthz   200 while the process serves HTTP
//   GET /readyz    200 when a webhook would be accepted now, else 503 with the reason
//                  ("queue_full", "shutting_down") and Retry-After
// `firehose run` / `firehose ingest` wire it together with the lake writer; the ops API adds
// its routes through http() before Start().
#pragma once

#include <chrono>
#include <cstdint>

#include "core/config.h"
#include "edge/http_server.h"
#include "edge/webhook_handler.h"
#include "queue/queue.h"

namespace firehose::edge {

// The HTTP server options of the edge: listen address, io threads and limits from `config`.
HttpServerOptions EdgeServerOptions(const Config& config);

class EdgeServer {
 public:
  // `config`, `queue` and `observer` (optional) must outlive the EdgeServer.
  EdgeServer(const Config& config, Queue& queue, WebhookObserver* observer = nullptr);
  // Stops with no drain time if still running, then waits for appends still in flight.
  ~EdgeServer();
  EdgeServer(const EdgeServer&) = delete;
  EdgeServer& operator=(const EdgeServer&) = delete;

  // For adding routes (ops API, /metrics) before Start().
  HttpServer& http() { return server_; }
  WebhookHandler& webhooks() { return webhooks_; }

  // Binds and starts serving; Unavailable if the address cannot be bound.
  Status Start();
  // The bound port (listen on port 0 in tests).
  std::uint16_t port() const { return server_.port(); }

  // Graceful stop: /readyz turns 503 and new webhooks get 503 shutting_down at once, the
  // listener closes, requests in flight (and their durable appends) finish within `drain`,
  // then whatever is left is closed. The queue is not shut down here: its owner does that
  // after this returns (appends still in flight then complete with their own answer). Not
  // from an io thread.
  void Stop(std::chrono::milliseconds drain);

 private:
  WebhookHandler webhooks_;  // declared first: outlives the server that calls into it
  HttpServer server_;
};

}  // namespace firehose::edge
