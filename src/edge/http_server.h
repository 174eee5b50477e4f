// A small HTTP/1.1 server for the webhook edge and the ops API (Boost.Beast/Asio underneath;
// no Boost type appears in this header).
//
// Design constraints:
//   - One io_context per io thread; the acceptor hands connections out round-robin. A
//     connection lives on one thread for its whole life, so its state needs no lock.
//   - Handlers may answer later, from any thread (the webhook answers from the queue's thread
//     once its append is durable): a Responder posts the answer back to the connection's
//     thread. No io thread ever blocks on a handler.
//   - Every resource a client can hold has a limit (core/limits.h): header section bytes
//     (431), body bytes (413, from Content-Length before reading, or as soon as a chunked body
//     passes it), open connections in total and per remote address (closed at accept), and the
//     time for each phase of a request: idle keep-alive wait, header section (from its first
//     byte: slowloris; from accept for a connection's first request, so that a client that
//     sends nothing is closed no later), body, and writing the answer (a client that never
//     reads).
//   - Request smuggling is refused: Content-Length with Transfer-Encoding, conflicting
//     Content-Lengths, or any Transfer-Encoding other than exactly "chunked" -> 400 and close.
//   - Every error answer has the JSON body {"error":"<code>","message":"<human text>"}; the
//     code is the same stable snake_case reason the metrics and logs use.
//
// A request goes through: route by method + path (exact, or longest prefix) -> the route's
// header check (may answer before any body byte is read) -> body -> the route's handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.h"
#include "core/status.h"

namespace firehose::edge {

struct HttpHeader {
  std::string name;
  std::string value;
};

// A request as a handler sees it.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/path?query"
  std::vector<HttpHeader> headers;
  std::optional<std::uint64_t> content_length;  // absent for chunked bodies and none at all
  bool chunked = false;
  std::string body;            // empty until the body has been read (handlers get it read)
  std::string remote_address;  // the peer's IP address ("127.0.0.1", "::1")
  // When the first byte of the request arrived (for latency metrics).
  std::chrono::steady_clock::time_point started_at;
  // For a prefix route: how many bytes of path() the route's prefix matched.
  std::size_t route_prefix_bytes = 0;

  std::string_view path() const;   // the target without its query
  std::string_view query() const;  // after '?', empty if none
  // The path after the route's prefix ("acme" for "/v1/webhooks/acme" on "/v1/webhooks/").
  std::string_view path_suffix() const { return path().substr(route_prefix_bytes); }
  // The first header with this name (case-insensitive), or empty.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Whether the request announces a body (Content-Length > 0 or chunked).
  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<HttpHeader> headers;  // extra headers; CR/LF in names or values are replaced
  std::string body;
  bool close_connection = false;  // close after this answer even if keep-alive was possible
};

// {"error":"<code>","message":"<message>"} with the given status.
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);
// A JSON body with the given status.
HttpResponse JsonResponse(int status, std::string body);

namespace internal {
class Exchange;
class Connection;
struct ServerCore;
}  // namespace internal

// A response sent in pieces over time (Server-Sent Events): after the head, each Write is sent
// as it comes (one HTTP chunk each). Thread-safe; never blocks.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues `data` for the client. Returns false once the stream has ended (client gone,
  // server stopping, write timeout, or more than stream_buffer_bytes_max queued because the
  // client reads too slowly): drop the stream then. Empty data is ignored.
  virtual bool Write(std::string data) = 0;
  // Ends the stream after what is already queued. Idempotent.
  virtual void End() = 0;
  virtual bool ended() const = 0;
};

// The handle a handler answers through. Copyable; every copy refers to the same exchange.
// Thread-safe: use it from any thread. The first answer wins and later ones are ignored. If
// every copy is dropped without an answer, the client gets 500 ("handler_no_answer"), so a
// forgotten path never leaves a client hanging. An answer given after the server stopped is
// dropped (the connection is gone).
class Responder {
 public:
  explicit Responder(std::shared_ptr<internal::Exchange> exchange);

  void Send(HttpResponse response) const;
  // Answers with `status` and `headers` (plus Content-Type) and then streams the body.
  std::shared_ptr<ResponseStream> Stream(int status, std::string content_type,
                                         std::vector<HttpHeader> headers = {}) const;
  bool answered() const;

 private:
  std::shared_ptr<internal::Exchange> exchange_;
};

// Runs on the connection's io thread with the complete request. Must not block: answer
// through the responder now or later.
using HttpHandler = std::function<void(HttpRequest request, Responder responder)>;
// Runs on the io thread once the header section is parsed, before any body byte is read
// (`head.body` is empty). Returning a response answers at once: the body is never read and
// the connection closes after the answer if a body was announced.
using HeaderCheck = std::function<std::optional<HttpResponse>(const HttpRequest& head)>;
// Told when the server itself refuses a routed request after its header check: reason is
// "body_too_large", "body_timeout", "write_timeout" (of a "100 Continue"), "client_closed",
// "bad_request" or "server_stopping". Lets
// a route count every request it saw as accepted or rejected.
using RefusalObserver = std::function<void(const HttpRequest& head, std::string_view reason)>;

struct Route {
  std::string method;  // exact, upper case; a GET route also answers HEAD
  std::string path;    // exact path, or a prefix when `prefix` is set
  bool prefix = false;
  HttpHandler handler;
  HeaderCheck check_headers;   // optional
  RefusalObserver on_refused;  // optional
};

struct HttpServerOptions {
  // Names the server in metrics (the `stage` label) and logs: "edge".
  std::string name = "http";
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: any free port (see HttpServer::port())
  int io_threads = 1;             // 0: one per core
  Limits limits;                  // the edge limits: sizes, connections, timeouts
};

// Metrics (stage = options.name):
//   firehose_received_total / firehose_rejected_total{partner="_unknown",reason}
//       requests refused before a route took them (400s, 404 no route, 405, 431)
//   firehose_http_connections_open{stage}                   gauge
//   firehose_http_connections_refused_total{stage,reason}   connections_max | ..._per_address_max
//   firehose_http_connections_closed_total{stage,reason}    idle_timeout, header_timeout, ...
//   firehose_errors_total{stage,kind}                       header/body/write timeouts, accept
class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  // Stops (with no drain time) if still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a route. Only before Start().
  void AddRoute(Route route);
  // Shorthands for a route with only a handler: an exact path, or every path under a prefix.
  void Handle(std::string method, std::string path, HttpHandler handler);
  void HandlePrefix(std::string method, std::string prefix, HttpHandler handler);

  // Binds, listens and starts the io threads. Fails (Unavailable / InvalidArgument) when the
  // address cannot be bound.
  Status Start();

  // The bound port (after Start).
  std::uint16_t port() const;

  // Graceful stop: stops accepting, closes idle keep-alive connections, lets requests in
  // progress finish and answers them with "Connection: close", ends streams, and after
  // `drain` force-closes whatever is left. Returns once every io thread has exited.
  // Idempotent. Call it from a thread of your own, never from a handler (it joins the io
  // threads).
  void Stop(std::chrono::milliseconds drain);

  std::size_t connections_open() const;
  const HttpServerOptions& options() const;

 private:
  // Shared with connections and responders, so that a late answer finds its io_context.
  std::shared_ptr<internal::ServerCore> core_;
};

}  // namespace firehose::edge
