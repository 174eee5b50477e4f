#include "edge/edge_server.h"

#include <spdlog/spdlog.h>

namespace firehose::edge {

HttpServerOptions EdgeServerOptions(const Config& config) {
  HttpServerOptions options;
  options.name = "edge";
  options.listen_host = config.server.listen_host;
  options.listen_port = config.server.listen_port;
  options.io_threads = config.server.io_threads;
  options.limits = config.limits;
  return options;
}

EdgeServer::EdgeServer(const Config& config, Queue& queue, WebhookObserver* observer)
    : webhooks_(config, queue, observer), server_(EdgeServerOptions(config)) {
  webhooks_.AddRoutes(server_);
  server_.Handle("GET", "/healthz", [](HttpRequest, Responder responder) {
    responder.Send(JsonResponse(200, R"({"status":"ok"})"));
  });
  const std::int64_t retry_after_s = config.limits.retry_after_s;
  server_.Handle("GET", "/readyz", [this, retry_after_s](HttpRequest, Responder responder) {
    const std::string_view reason = webhooks_.NotReadyReason();
    if (reason.empty()) return responder.Send(JsonResponse(200, R"({"status":"ready"})"));
    HttpResponse response =
        ErrorResponse(503, reason,
                      reason == "queue_full" ? "the durable queue is at its size limit"
                                             : "the server is shutting down");
    response.headers.push_back({"Retry-After", std::to_string(retry_after_s)});
    responder.Send(std::move(response));
  });
}

EdgeServer::~EdgeServer() { Stop(std::chrono::milliseconds(0)); }

Status EdgeServer::Start() { return server_.Start(); }

void EdgeServer::Stop(std::chrono::milliseconds drain) {
  webhooks_.BeginShutdown();
  server_.Stop(drain);
}

}  // namespace firehose::edge
