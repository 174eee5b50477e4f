#include "edge/http_server.h"

// Boost 1.74's asio headers use std::exchange without including <utility> (g++ 12, C++20).
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <iterator>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/json_writer.h"
#include "core/metrics.h"

namespace firehose::edge {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

namespace {

constexpr std::string_view kUnknownPartner = "_unknown";
// Bytes one read asks for when waiting for a new request or discarding input.
constexpr std::size_t kReadChunkBytes = 16 * 1024;
// Room in a connection's input buffer beyond header_bytes_max, so that an oversized header
// section is reported by the parser (431) rather than as a full buffer.
constexpr std::size_t kBufferSlackBytes = 8 * 1024;
// Pause before accepting again after accept() failed (EMFILE: let connections close first).
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// Deadlines are checked by one sweep per io thread (no timer per connection): it runs at a
// tenth of the shortest timeout, within these bounds, so a timeout fires at most ~10% late.
constexpr auto kSweepIntervalMin = std::chrono::milliseconds(5);
constexpr auto kSweepIntervalMax = std::chrono::milliseconds(250);
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

// The IMF-fixdate for the Date header, cached per thread for the current second.
const std::string& HttpDate() {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[64];
    const std::size_t length =
        std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &parts);
    cached.assign(text, length);
    cached_second = now;
  }
  return cached;
}

// Header text from a handler goes on the wire: a CR or LF in it would split the response.
void AppendHeaderText(std::string* out, std::string_view text) {
  for (char c : text) out->push_back(c == '\r' || c == '\n' ? ' ' : c);
}

enum class Framing { kContentLength, kChunked, kUntilClose };

// Appends a response head: status line, Date, Content-Type, framing, Connection, extras.
void AppendHead(std::string* out, int status, std::string_view content_type,
                const std::vector<HttpHeader>& headers, Framing framing, std::size_t body_bytes,
                bool close, bool http10_keep_alive) {
  fmt::format_to(std::back_inserter(*out), "HTTP/1.1 {} {}\r\nDate: {}\r\n", status,
                 ReasonPhrase(status), HttpDate());
  if (!content_type.empty()) {
    out->append("Content-Type: ");
    AppendHeaderText(out, content_type);
    out->append("\r\n");
  }
  if (framing == Framing::kContentLength) {
    fmt::format_to(std::back_inserter(*out), "Content-Length: {}\r\n", body_bytes);
  } else if (framing == Framing::kChunked) {
    out->append("Transfer-Encoding: chunked\r\n");
  }
  if (close) {
    out->append("Connection: close\r\n");
  } else if (http10_keep_alive) {
    out->append("Connection: keep-alive\r\n");
  }
  for (const HttpHeader& header : headers) {
    AppendHeaderText(out, header.name);
    out->append(": ");
    AppendHeaderText(out, header.value);
    out->append("\r\n");
  }
  out->append("\r\n");
}

const boost::system::error_category& HttpErrorCategory() {
  static const boost::system::error_category& category =
      http::make_error_code(http::error::end_of_stream).category();
  return category;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpRequest, responses

std::string_view HttpRequest::path() const {
  const std::string_view whole = target;
  return whole.substr(0, whole.find('?'));
}

std::string_view HttpRequest::query() const {
  const std::size_t mark = target.find('?');
  return mark == std::string::npos ? std::string_view() : std::string_view(target).substr(mark + 1);
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const HttpHeader& header : headers) {
    if (EqualsIgnoreCase(header.name, name)) return header.value;
  }
  return {};
}

bool HttpRequest::HasHeader(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const HttpHeader& header) { return EqualsIgnoreCase(header.name, name); });
}

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  HttpResponse response;
  response.status = status;
  JsonWriter(&response.body)
      .BeginObject()
      .Field("error", code)
      .Field("message", message)
      .EndObject();
  return response;
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

// ---------------------------------------------------------------------------------------------
// Routing

namespace {

struct RouteMatch {
  const Route* route = nullptr;
  std::string allowed_methods;  // when no route matched the method but some matched the path
};

bool PathMatches(const Route& route, std::string_view path) {
  return route.prefix ? path.starts_with(route.path) : path == route.path;
}

// Exact paths win over prefixes, longer prefixes over shorter ones; a route whose path matches
// but whose method does not only contributes to the 405's Allow list.
RouteMatch FindRoute(const std::vector<Route>& routes, std::string_view method,
                     std::string_view path) {
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  RouteMatch match;
  std::size_t best_specificity = 0;
  for (const Route& route : routes) {
    if (!PathMatches(route, path)) continue;
    if (route.method != wanted && route.method != method) {
      if (match.allowed_methods.find(route.method) == std::string::npos) {
        if (!match.allowed_methods.empty()) match.allowed_methods.append(", ");
        match.allowed_methods.append(route.method);
      }
      continue;
    }
    const std::size_t specificity = route.prefix ? route.path.size() + 1 : SIZE_MAX;
    if (match.route == nullptr || specificity > best_specificity) {
      match.route = &route;
      best_specificity = specificity;
    }
  }
  return match;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server state shared by the server, its connections and responders

namespace internal {

class Connection;

// An answer handed to an io thread from another thread.
struct PendingAnswer {
  std::shared_ptr<Connection> connection;
  std::uint64_t exchange_id = 0;
  HttpResponse response;
};

struct IoThread {
  asio::io_context io{1};
  std::thread thread;
  std::optional<asio::steady_timer> sweep_timer;
  bool sweeping = true;  // io thread only

  // Guards posts_open and connections. Connections register on their io thread but may be
  // destroyed on any thread (the last Responder copy can die on the queue's thread).
  std::mutex mutex;
  bool posts_open = true;  // false once the server has stopped: answers are dropped
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;

  // Runs `work` on this io thread: at once if called from it, else posted. Returns false (and
  // drops `work`) when the server has stopped.
  template <typename Work>
  bool Run(Work&& work) {
    if (io.get_executor().running_in_this_thread()) {
      work();
      return true;
    }
    return Post(std::forward<Work>(work));
  }
  template <typename Work>
  bool Post(Work&& work) {
    std::lock_guard lock(mutex);
    if (!posts_open) return false;
    asio::post(io, std::forward<Work>(work));
    return true;
  }

  // Answers from other threads (the queue's, once an append is durable) wait in `answers` and
  // one posted handler delivers all that arrived meanwhile: a group commit acknowledges tens of
  // appends at once, and a post per answer cost each its own allocation, scheduler lock and
  // wake-up. At most one answer per connection is ever in flight, so the connection limit
  // bounds it. Dropped (false) once the server has stopped.
  bool PostAnswer(PendingAnswer answer);
  void DeliverAnswers();
  std::vector<PendingAnswer> answers;     // guarded by mutex
  bool answers_posted = false;            // guarded by mutex: a DeliverAnswers is queued
  std::vector<PendingAnswer> delivering;  // io thread only: the batch being delivered
};

struct ServerCore : std::enable_shared_from_this<ServerCore> {
  explicit ServerCore(HttpServerOptions server_options);

  void Accept();
  void OnAccept(const ErrorCode& error, tcp::socket socket, IoThread& target);
  bool Admit(const std::string& address);
  void Release(const std::string& address);
  void ScheduleSweep(IoThread& thread);
  void Sweep(IoThread& thread);
  void CountRefusedBeforeRoute(std::string_view reason);
  void CountClosed(std::string_view reason);
  void CountError(std::string_view kind);

  HttpServerOptions options;
  std::vector<Route> routes;  // fixed once started
  std::vector<std::unique_ptr<IoThread>> threads;
  std::optional<tcp::acceptor> acceptor;  // on threads[0]
  std::optional<asio::steady_timer> accept_retry_timer;
  std::size_t next_thread = 0;  // acceptor thread only
  std::uint16_t port = 0;
  std::chrono::milliseconds sweep_interval{100};
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_guards;

  // Connection slots: taken at accept, given back when the connection closes.
  std::mutex slots_mutex;
  std::condition_variable all_closed;
  std::size_t open = 0;
  std::unordered_map<std::string, std::size_t> open_by_address;

  Gauge& open_gauge;
};

// ---------------------------------------------------------------------------------------------
// Connection: one client connection and the requests on it. Every member is touched only on
// its io thread, except through the Post* entry points (any thread).

enum class Phase : std::uint8_t {
  kIdle,       // waiting for the first byte of a request (a new connection's, or the next one)
  kHeader,     // reading the header section
  kContinue,   // writing "100 Continue"
  kBody,       // reading the body
  kHandling,   // the handler has the request; no I/O until it answers
  kWriting,    // writing the answer
  kStreaming,  // a streaming answer is in progress
  kLingering,  // answered with close: discarding the client's input until EOF or a deadline
  kClosed,
};

class StreamImpl;

class Connection : public std::enable_shared_from_this<Connection> {
  friend struct IoThread;  // delivers answers posted from other threads (OnAnswer)

 public:
  Connection(std::shared_ptr<ServerCore> core, IoThread& io, tcp::socket socket,
             std::string address);
  ~Connection();

  void Start();
  void OnDeadlineCheck(Clock::time_point now);
  // Closes after a failed read or write: write_timeout if the kernel gave up on an
  // unacknowledging client (TCP_USER_TIMEOUT), client_closed otherwise.
  void CloseAfterSocketError(const ErrorCode& error);
  void OnServerStop();
  void ForceClose();

  // Entry points from any thread (responders and streams).
  void PostAnswer(std::uint64_t exchange_id, HttpResponse response);
  void PostStreamStart(std::uint64_t exchange_id, int status, std::string content_type,
                       std::vector<HttpHeader> headers, std::weak_ptr<StreamImpl> stream);
  void PostStreamChunk(std::uint64_t exchange_id, std::string data);
  void PostStreamEnd(std::uint64_t exchange_id);
  void PostStreamAbort(std::uint64_t exchange_id);

  std::size_t stream_buffer_bytes_max() const {
    return static_cast<std::size_t>(core_->options.limits.stream_buffer_bytes_max);
  }

 private:
  struct StreamPiece {
    std::string bytes;
    std::size_t payload_bytes = 0;  // the caller's data in it (for the buffer limit)
  };

  const Limits& limits() const { return core_->options.limits; }
  void SetDeadline(std::int64_t timeout_ms) {
    deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  void ClearDeadline() { deadline_ = Clock::time_point::max(); }
  std::size_t ReadRoom() const {
    return std::min(buffer_.max_size() - buffer_.size(), kReadChunkBytes);
  }

  void ReadNextRequest();
  void OnFirstBytes(const ErrorCode& error, std::size_t bytes);
  void ReadHeader();
  void OnHeader(const ErrorCode& error);
  void OnHeaderError(const ErrorCode& error);
  void FillRequestHead();
  bool RefuseBadFraming();
  void SendContinue();
  void ReadBody();
  void OnBody(const ErrorCode& error);
  void Dispatch();

  void RefuseBeforeRoute(int status, std::string_view code, std::string_view message,
                         std::vector<HttpHeader> headers = {});
  void RefuseRouted(int status, std::string_view code, std::string_view message);
  void NotifyRefused(std::string_view reason);

  void OnAnswer(std::uint64_t exchange_id, HttpResponse response);
  void WriteAnswer(HttpResponse response);
  void OnAnswerWritten(const ErrorCode& error);

  void OnStreamStart(std::uint64_t exchange_id, int status, const std::string& content_type,
                     const std::vector<HttpHeader>& headers, std::weak_ptr<StreamImpl> stream);
  void OnStreamChunk(std::uint64_t exchange_id, std::string data);
  void OnStreamEnd(std::uint64_t exchange_id);
  void WriteNextStreamPiece();
  void OnStreamPieceWritten(const ErrorCode& error);

  void Linger();
  void DiscardInput();
  void OnDiscarded(const ErrorCode& error);
  void Close(std::string_view reason);
  void ReleaseSlot();

  std::shared_ptr<ServerCore> core_;  // first: outlives the socket, which needs its io_context
  IoThread& io_;
  tcp::socket socket_;
  const std::string address_;
  bool slot_released_ = false;

  Phase phase_ = Phase::kIdle;
  // True until the first request's header section is complete: until then the connection is
  // timed by header_timeout_ms from accept, not by idle_timeout_ms.
  bool first_request_ = true;
  Clock::time_point deadline_ = Clock::time_point::max();
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  const Route* route_ = nullptr;
  unsigned http_version_ = 11;
  bool keep_alive_ = false;
  bool head_only_ = false;
  bool close_after_write_ = false;
  bool read_pending_ = false;
  std::uint64_t exchange_id_ = 0;
  std::string output_;

  // Streaming answers.
  std::weak_ptr<StreamImpl> stream_;
  bool stream_chunked_ = true;
  bool stream_end_requested_ = false;
  bool stream_writing_ = false;
  std::deque<StreamPiece> stream_pending_;
  StreamPiece stream_current_;
};

// One request's answer slot, shared by every copy of its Responder.
class Exchange {
 public:
  Exchange(std::shared_ptr<Connection> connection, std::uint64_t id)
      : connection_(std::move(connection)), id_(id) {}
  ~Exchange() {
    if (Claim()) {
      connection_->PostAnswer(id_,
                              ErrorResponse(500, "handler_no_answer",
                                            "the server dropped this request without an answer"));
    }
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // True for the first caller only: that caller owns the answer.
  bool Claim() { return !answered_.exchange(true, std::memory_order_acq_rel); }
  bool answered() const { return answered_.load(std::memory_order_acquire); }
  Connection& connection() const { return *connection_; }
  const std::shared_ptr<Connection>& connection_ptr() const { return connection_; }
  std::uint64_t id() const { return id_; }

 private:
  std::shared_ptr<Connection> connection_;
  const std::uint64_t id_;
  std::atomic<bool> answered_{false};
};

class StreamImpl final : public ResponseStream {
 public:
  StreamImpl(std::shared_ptr<Connection> connection, std::uint64_t id)
      : connection_(std::move(connection)),
        id_(id),
        bytes_max_(connection_->stream_buffer_bytes_max()) {}
  // Dropping every reference ends the stream.
  ~StreamImpl() override { End(); }

  bool Write(std::string data) override {
    if (ended()) return false;
    if (data.empty()) return true;
    const std::size_t queued =
        queued_bytes_.fetch_add(data.size(), std::memory_order_relaxed) + data.size();
    if (queued > bytes_max_) {
      if (!ended_.exchange(true)) connection_->PostStreamAbort(id_);
      return false;
    }
    connection_->PostStreamChunk(id_, std::move(data));
    return true;
  }
  void End() override {
    if (ended_.exchange(true)) return;
    connection_->PostStreamEnd(id_);
  }
  bool ended() const override { return ended_.load(std::memory_order_acquire); }

  void MarkEnded() { ended_.store(true, std::memory_order_release); }
  void OnWritten(std::size_t bytes) { queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  std::shared_ptr<Connection> connection_;
  const std::uint64_t id_;
  const std::size_t bytes_max_;
  std::atomic<bool> ended_{false};
  std::atomic<std::size_t> queued_bytes_{0};
};

// --- Connection: lifecycle ---

Connection::Connection(std::shared_ptr<ServerCore> core, IoThread& io, tcp::socket socket,
                       std::string address)
    : core_(std::move(core)),
      io_(io),
      socket_(std::move(socket)),
      address_(std::move(address)),
      buffer_(static_cast<std::size_t>(core_->options.limits.header_bytes_max) +
              kBufferSlackBytes) {
  // From accept, on the acceptor thread (Start is posted after): the first request's bytes must
  // begin and its header section complete within header_timeout_ms. A client that connects and
  // stays silent holds its slot no longer than one that trickles a header (slowloris).
  SetDeadline(limits().header_timeout_ms);
}

Connection::~Connection() {
  {
    std::lock_guard lock(io_.mutex);
    io_.connections.erase(this);
  }
  ReleaseSlot();
}

void Connection::ReleaseSlot() {
  if (slot_released_) return;
  slot_released_ = true;
  core_->Release(address_);
}

void Connection::Start() {
  {
    std::lock_guard lock(io_.mutex);
    io_.connections.emplace(this, weak_from_this());
  }
  ReadNextRequest();
}

void Connection::Close(std::string_view reason) {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  core_->CountClosed(reason);  // before the client can see the close
  ClearDeadline();
  ErrorCode ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);  // pending operations complete with operation_aborted
  if (auto stream = stream_.lock()) stream->MarkEnded();
  stream_pending_.clear();
  ReleaseSlot();
}

void Connection::OnDeadlineCheck(Clock::time_point now) {
  if (now < deadline_) return;
  switch (phase_) {
    case Phase::kIdle:
      if (!first_request_) return Close("idle_timeout");
      [[fallthrough]];  // a new connection that has sent nothing: its header section is late
    case Phase::kHeader:
      core_->CountError("header_timeout");
      spdlog::debug("{}: header timeout from {}", core_->options.name, address_);
      return Close("header_timeout");
    case Phase::kBody:
      core_->CountError("body_timeout");
      NotifyRefused("body_timeout");
      return Close("body_timeout");
    case Phase::kContinue:
      core_->CountError("write_timeout");
      NotifyRefused("write_timeout");
      return Close("write_timeout");
    case Phase::kWriting:
    case Phase::kStreaming:
      core_->CountError("write_timeout");
      return Close("write_timeout");
    case Phase::kLingering:
      return Close("closed_after_answer");
    case Phase::kHandling:
    case Phase::kClosed:
      return;
  }
}

void Connection::ForceClose() {
  if (phase_ == Phase::kContinue || phase_ == Phase::kBody) NotifyRefused("server_stopping");
  Close("server_stopping");
}

void Connection::OnServerStop() {
  switch (phase_) {
    case Phase::kIdle:
      return Close("server_stopping");
    case Phase::kStreaming:
      return OnStreamEnd(exchange_id_);
    case Phase::kLingering:
      return Close("closed_after_answer");
    default:
      keep_alive_ = false;  // the request in progress is answered, then the connection closes
      return;
  }
}

// --- Connection: reading a request ---

void Connection::ReadNextRequest() {
  if (core_->stopping.load(std::memory_order_acquire)) return Close("server_stopping");
  request_ = HttpRequest{};
  request_.remote_address = address_;
  route_ = nullptr;
  head_only_ = false;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits().header_bytes_max));
  // No body limit while the header is parsed: the route decides first (its 404 or 503 comes
  // before a 413), then ReadBody sets the limit for chunked bodies. (Not boost::none: Beast
  // 1.74 compares Content-Length > optional, and any value is greater than none.)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here

  phase_ = Phase::kIdle;
  // A new connection keeps the header deadline it got at accept; keep-alive waits get their own.
  if (!first_request_) SetDeadline(limits().idle_timeout_ms);
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(ReadRoom()),
                          [self = shared_from_this()](const ErrorCode& error, std::size_t bytes) {
                            self->OnFirstBytes(error, bytes);
                          });
}

void Connection::CloseAfterSocketError(const ErrorCode& error) {
  if (error == asio::error::timed_out) {  // TCP_USER_TIMEOUT: the client stopped acknowledging
    core_->CountError("write_timeout");
    return Close("write_timeout");
  }
  Close("client_closed");  // EOF, reset, or aborted
}

void Connection::OnFirstBytes(const ErrorCode& error, std::size_t bytes) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (error) return CloseAfterSocketError(error);
  buffer_.commit(bytes);
  ReadHeader();
}

void Connection::ReadHeader() {
  phase_ = Phase::kHeader;
  request_.started_at = Clock::now();
  // From the first byte (from accept for the first request): a trickle does not extend it.
  if (!first_request_) SetDeadline(limits().header_timeout_ms);
  read_pending_ = true;
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](const ErrorCode& error, std::size_t) {
                            self->read_pending_ = false;
                            self->OnHeader(error);
                          });
}

void Connection::OnHeaderError(const ErrorCode& error) {
  if (error == http::error::header_limit || error == http::error::buffer_overflow) {
    return RefuseBeforeRoute(
        431, "header_too_large",
        fmt::format("the request line and headers exceed header_bytes_max ({} bytes)",
                    limits().header_bytes_max));
  }
  if (error == http::error::bad_content_length) {
    return RefuseBeforeRoute(400, "bad_content_length",
                             "Content-Length is invalid, repeated with another value, or sent "
                             "together with Transfer-Encoding");
  }
  if (error == http::error::bad_transfer_encoding) {
    return RefuseBeforeRoute(400, "bad_transfer_encoding",
                             "Transfer-Encoding is repeated or sent together with Content-Length");
  }
  if (error.category() == HttpErrorCategory() && error != http::error::end_of_stream &&
      error != http::error::partial_message) {
    return RefuseBeforeRoute(400, "bad_request", "malformed request: " + error.message());
  }
  CloseAfterSocketError(error);
}

void Connection::FillRequestHead() {
  const auto& message = parser_->get();
  request_.method.assign(message.method_string());
  request_.target.assign(message.target());
  request_.headers.reserve(8);
  for (const auto& field : message) {
    request_.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  if (const auto length = parser_->content_length()) request_.content_length = *length;
  request_.chunked = parser_->chunked();
  http_version_ = message.version();
  keep_alive_ = parser_->keep_alive();
  head_only_ = request_.method == "HEAD";
}

// Framing the parser lets through but that a proxy in front could read differently.
bool Connection::RefuseBadFraming() {
  for (const HttpHeader& header : request_.headers) {
    if (!EqualsIgnoreCase(header.name, "Transfer-Encoding")) continue;
    if (!EqualsIgnoreCase(header.value, "chunked") || http_version_ < 11) {
      RefuseBeforeRoute(400, "bad_transfer_encoding",
                        "only 'Transfer-Encoding: chunked' is accepted, and only with HTTP/1.1");
      return true;
    }
  }
  if (request_.target.empty() || request_.target.front() != '/') {
    RefuseBeforeRoute(400, "bad_target", "the request target must be a path starting with '/'");
    return true;
  }
  if (http_version_ >= 11 && !request_.HasHeader("Host")) {
    RefuseBeforeRoute(400, "missing_host", "an HTTP/1.1 request must carry a Host header");
    return true;
  }
  return false;
}

void Connection::OnHeader(const ErrorCode& error) {
  if (phase_ == Phase::kClosed) return;
  if (error) return OnHeaderError(error);
  first_request_ = false;
  FillRequestHead();
  if (RefuseBadFraming()) return;

  const RouteMatch match = FindRoute(core_->routes, request_.method, request_.path());
  if (match.route == nullptr) {
    if (!match.allowed_methods.empty()) {
      return RefuseBeforeRoute(
          405, "method_not_allowed",
          request_.method + " is not allowed here; allowed: " + match.allowed_methods,
          {{"Allow", match.allowed_methods}});
    }
    return RefuseBeforeRoute(404, "not_found", "no such endpoint");
  }
  route_ = match.route;
  if (route_->prefix) request_.route_prefix_bytes = route_->path.size();

  if (route_->check_headers) {
    if (std::optional<HttpResponse> answer = route_->check_headers(request_)) {
      answer->close_connection = answer->close_connection || request_.has_body();
      return WriteAnswer(std::move(*answer));
    }
  }
  const auto body_bytes_max = static_cast<std::uint64_t>(limits().body_bytes_max);
  if (request_.content_length.value_or(0) > body_bytes_max) {
    return RefuseRouted(413, "body_too_large",
                        fmt::format("the body is {} bytes, over body_bytes_max ({} bytes)",
                                    *request_.content_length, body_bytes_max));
  }
  if (!request_.has_body()) return Dispatch();
  if (http_version_ >= 11 && EqualsIgnoreCase(request_.Header("Expect"), "100-continue")) {
    return SendContinue();
  }
  ReadBody();
}

void Connection::SendContinue() {
  phase_ = Phase::kContinue;
  SetDeadline(limits().write_timeout_ms);
  asio::async_write(socket_, asio::buffer(kContinueResponse.data(), kContinueResponse.size()),
                    [self = shared_from_this()](const ErrorCode& error, std::size_t) {
                      if (self->phase_ == Phase::kClosed) return;
                      if (error) {
                        self->NotifyRefused("client_closed");
                        return self->Close("client_closed");
                      }
                      self->ReadBody();
                    });
}

void Connection::ReadBody() {
  phase_ = Phase::kBody;
  parser_->body_limit(static_cast<std::uint64_t>(limits().body_bytes_max));
  SetDeadline(limits().body_timeout_ms);
  read_pending_ = true;
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](const ErrorCode& error, std::size_t) {
                     self->read_pending_ = false;
                     self->OnBody(error);
                   });
}

void Connection::OnBody(const ErrorCode& error) {
  if (phase_ == Phase::kClosed) return;
  if (error == http::error::body_limit) {
    return RefuseRouted(
        413, "body_too_large",
        fmt::format("the chunked body passed body_bytes_max ({} bytes)", limits().body_bytes_max));
  }
  if (error.category() == HttpErrorCategory() && error != http::error::end_of_stream &&
      error != http::error::partial_message) {
    return RefuseRouted(400, "bad_request", "malformed body: " + error.message());
  }
  if (error) {
    NotifyRefused("client_closed");
    return Close("client_closed");
  }
  request_.body = std::move(parser_->get().body());
  Dispatch();
}

void Connection::Dispatch() {
  phase_ = Phase::kHandling;
  ClearDeadline();  // the handler, not the client, decides how long this takes
  auto exchange = std::make_shared<Exchange>(shared_from_this(), ++exchange_id_);
  route_->handler(std::move(request_), Responder(std::move(exchange)));
}

// --- Connection: refusals ---

void Connection::RefuseBeforeRoute(int status, std::string_view code, std::string_view message,
                                   std::vector<HttpHeader> headers) {
  core_->CountRefusedBeforeRoute(code);
  spdlog::debug("{}: refused {} from {}: {}", core_->options.name, request_.target, address_, code);
  HttpResponse response = ErrorResponse(status, code, message);
  response.headers = std::move(headers);
  // After a malformed head the parser's state is unknown: never reuse the connection.
  response.close_connection = status != 404 && status != 405 ? true : request_.has_body();
  WriteAnswer(std::move(response));
}

void Connection::RefuseRouted(int status, std::string_view code, std::string_view message) {
  NotifyRefused(code);
  HttpResponse response = ErrorResponse(status, code, message);
  response.close_connection = true;  // the rest of the body is never read
  WriteAnswer(std::move(response));
}

void Connection::NotifyRefused(std::string_view reason) {
  if (route_ != nullptr && route_->on_refused) {
    route_->on_refused(request_, reason);
  } else {
    core_->CountRefusedBeforeRoute(reason);
  }
}

// --- Connection: answers ---

void Connection::PostAnswer(std::uint64_t exchange_id, HttpResponse response) {
  if (io_.io.get_executor().running_in_this_thread()) {
    return OnAnswer(exchange_id, std::move(response));
  }
  io_.PostAnswer({shared_from_this(), exchange_id, std::move(response)});
}

bool IoThread::PostAnswer(PendingAnswer answer) {
  std::lock_guard lock(mutex);
  if (!posts_open) return false;
  answers.push_back(std::move(answer));
  if (!answers_posted) {
    answers_posted = true;
    asio::post(io, [this] { DeliverAnswers(); });
  }
  return true;
}

void IoThread::DeliverAnswers() {
  {
    std::lock_guard lock(mutex);
    delivering.swap(answers);
    answers_posted = false;
  }
  for (PendingAnswer& answer : delivering) {
    answer.connection->OnAnswer(answer.exchange_id, std::move(answer.response));
  }
  delivering.clear();  // keeps its capacity (and `answers` the other vector's) for the next batch
}

void Connection::OnAnswer(std::uint64_t exchange_id, HttpResponse response) {
  if (phase_ != Phase::kHandling || exchange_id != exchange_id_) return;  // closed meanwhile
  WriteAnswer(std::move(response));
}

void Connection::WriteAnswer(HttpResponse response) {
  const bool close =
      response.close_connection || !keep_alive_ || core_->stopping.load(std::memory_order_acquire);
  output_.clear();
  AppendHead(&output_, response.status, response.content_type, response.headers,
             Framing::kContentLength, response.body.size(), close,
             /*http10_keep_alive=*/http_version_ < 11 && !close);
  if (!head_only_) output_.append(response.body);
  close_after_write_ = close;
  phase_ = Phase::kWriting;
  SetDeadline(limits().write_timeout_ms);
  asio::async_write(socket_, asio::buffer(output_),
                    [self = shared_from_this()](const ErrorCode& error, std::size_t) {
                      self->OnAnswerWritten(error);
                    });
}

void Connection::OnAnswerWritten(const ErrorCode& error) {
  if (phase_ == Phase::kClosed) return;
  if (error) return CloseAfterSocketError(error);
  if (close_after_write_) return Linger();
  ReadNextRequest();
}

// --- Connection: streaming answers ---

void Connection::PostStreamStart(std::uint64_t exchange_id, int status, std::string content_type,
                                 std::vector<HttpHeader> headers,
                                 std::weak_ptr<StreamImpl> stream) {
  io_.Run([self = shared_from_this(), exchange_id, status, content_type = std::move(content_type),
           headers = std::move(headers), stream = std::move(stream)]() mutable {
    self->OnStreamStart(exchange_id, status, content_type, headers, std::move(stream));
  });
}

// Chunks and the end are always posted, never run inline, so that they keep the order in
// which they were written whatever thread writes them.
void Connection::PostStreamChunk(std::uint64_t exchange_id, std::string data) {
  io_.Post([self = shared_from_this(), exchange_id, data = std::move(data)]() mutable {
    self->OnStreamChunk(exchange_id, std::move(data));
  });
}

void Connection::PostStreamEnd(std::uint64_t exchange_id) {
  io_.Post([self = shared_from_this(), exchange_id] { self->OnStreamEnd(exchange_id); });
}

void Connection::PostStreamAbort(std::uint64_t exchange_id) {
  io_.Post([self = shared_from_this(), exchange_id] {
    if (self->phase_ == Phase::kStreaming && exchange_id == self->exchange_id_) {
      self->core_->CountError("stream_overflow");
      self->Close("stream_overflow");
    }
  });
}

void Connection::OnStreamStart(std::uint64_t exchange_id, int status,
                               const std::string& content_type,
                               const std::vector<HttpHeader>& headers,
                               std::weak_ptr<StreamImpl> stream) {
  if (phase_ != Phase::kHandling || exchange_id != exchange_id_) {
    if (auto alive = stream.lock()) alive->MarkEnded();
    return;
  }
  stream_ = std::move(stream);
  stream_chunked_ = http_version_ >= 11;
  stream_end_requested_ = head_only_;
  StreamPiece head;
  AppendHead(&head.bytes, status, content_type, headers,
             stream_chunked_ ? Framing::kChunked : Framing::kUntilClose, 0, /*close=*/true,
             /*http10_keep_alive=*/false);
  phase_ = Phase::kStreaming;
  stream_pending_.push_back(std::move(head));
  WriteNextStreamPiece();
  // Reading while streaming is how a client that goes away is noticed without a write.
  if (!read_pending_) DiscardInput();
}

void Connection::OnStreamChunk(std::uint64_t exchange_id, std::string data) {
  if (phase_ != Phase::kStreaming || exchange_id != exchange_id_ || stream_end_requested_) return;
  StreamPiece piece;
  piece.payload_bytes = data.size();
  if (stream_chunked_) {
    piece.bytes.reserve(data.size() + 16);
    fmt::format_to(std::back_inserter(piece.bytes), "{:x}\r\n", data.size());
    piece.bytes.append(data);
    piece.bytes.append("\r\n");
  } else {
    piece.bytes = std::move(data);
  }
  stream_pending_.push_back(std::move(piece));
  WriteNextStreamPiece();
}

void Connection::OnStreamEnd(std::uint64_t exchange_id) {
  if (phase_ != Phase::kStreaming || exchange_id != exchange_id_ || stream_end_requested_) return;
  stream_end_requested_ = true;
  if (auto stream = stream_.lock()) stream->MarkEnded();
  if (stream_chunked_) stream_pending_.push_back({std::string(kLastChunk), 0});
  WriteNextStreamPiece();
}

void Connection::WriteNextStreamPiece() {
  if (stream_writing_ || phase_ != Phase::kStreaming) return;
  if (stream_pending_.empty()) {
    ClearDeadline();
    if (stream_end_requested_) Linger();
    return;
  }
  stream_writing_ = true;
  stream_current_ = std::move(stream_pending_.front());
  stream_pending_.pop_front();
  SetDeadline(limits().write_timeout_ms);
  asio::async_write(socket_, asio::buffer(stream_current_.bytes),
                    [self = shared_from_this()](const ErrorCode& error, std::size_t) {
                      self->OnStreamPieceWritten(error);
                    });
}

void Connection::OnStreamPieceWritten(const ErrorCode& error) {
  stream_writing_ = false;
  if (phase_ == Phase::kClosed) return;
  if (error) return CloseAfterSocketError(error);
  if (auto stream = stream_.lock()) stream->OnWritten(stream_current_.payload_bytes);
  WriteNextStreamPiece();
}

// --- Connection: closing ---

// Half-closes and reads until the client closes too (or close_linger_ms passes), so that the
// client reads the answer before the kernel resets the connection over unread input.
void Connection::Linger() {
  phase_ = Phase::kLingering;
  ErrorCode ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  // While stopping, nobody waits for the client: a close now sends a FIN after the answer (a
  // reset only if the client's unread request bytes are still here).
  if (limits().close_linger_ms <= 0 || core_->stopping.load(std::memory_order_acquire)) {
    return Close("closed_after_answer");
  }
  SetDeadline(limits().close_linger_ms);
  if (!read_pending_) DiscardInput();
}

void Connection::DiscardInput() {
  buffer_.consume(buffer_.size());
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(ReadRoom()),
                          [self = shared_from_this()](const ErrorCode& error, std::size_t) {
                            self->OnDiscarded(error);
                          });
}

void Connection::OnDiscarded(const ErrorCode& error) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (error) return Close(phase_ == Phase::kStreaming ? "client_closed" : "closed_after_answer");
  DiscardInput();
}

// ---------------------------------------------------------------------------------------------
// ServerCore

ServerCore::ServerCore(HttpServerOptions server_options)
    : options(std::move(server_options)),
      open_gauge(Metrics().GaugeFor("firehose_http_connections_open", {{"stage", options.name}})) {
  MetricsRegistry& metrics = Metrics();
  metrics.Describe("firehose_http_connections_open", "Client connections open, by server");
  metrics.Describe("firehose_http_connections_refused_total",
                   "Connections closed at accept because a connection limit was reached");
  metrics.Describe("firehose_http_connections_closed_total",
                   "Client connections closed, by reason");
  const Limits& limits = options.limits;
  std::int64_t shortest_ms = std::min({limits.header_timeout_ms, limits.body_timeout_ms,
                                       limits.idle_timeout_ms, limits.write_timeout_ms});
  if (limits.close_linger_ms > 0) shortest_ms = std::min(shortest_ms, limits.close_linger_ms);
  sweep_interval =
      std::clamp(std::chrono::milliseconds(shortest_ms / 10), kSweepIntervalMin, kSweepIntervalMax);
}

void ServerCore::CountRefusedBeforeRoute(std::string_view reason) {
  MetricsRegistry& metrics = Metrics();
  metrics
      .CounterFor("firehose_received_total",
                  {{"stage", options.name}, {"partner", std::string(kUnknownPartner)}})
      .Add();
  metrics
      .CounterFor("firehose_rejected_total", {{"stage", options.name},
                                              {"partner", std::string(kUnknownPartner)},
                                              {"reason", std::string(reason)}})
      .Add();
}

void ServerCore::CountClosed(std::string_view reason) {
  Metrics()
      .CounterFor("firehose_http_connections_closed_total",
                  {{"stage", options.name}, {"reason", std::string(reason)}})
      .Add();
}

void ServerCore::CountError(std::string_view kind) {
  Metrics()
      .CounterFor("firehose_errors_total", {{"stage", options.name}, {"kind", std::string(kind)}})
      .Add();
}

bool ServerCore::Admit(const std::string& address) {
  std::string_view refusal;
  {
    std::lock_guard lock(slots_mutex);
    std::size_t& from_address = open_by_address[address];
    if (open >= static_cast<std::size_t>(options.limits.connections_max)) {
      refusal = "connections_max";
    } else if (from_address >=
               static_cast<std::size_t>(options.limits.connections_per_address_max)) {
      refusal = "connections_per_address_max";
    } else {
      ++open;
      ++from_address;
    }
    if (from_address == 0) open_by_address.erase(address);
  }
  if (!refusal.empty()) {
    Metrics()
        .CounterFor("firehose_http_connections_refused_total",
                    {{"stage", options.name}, {"reason", std::string(refusal)}})
        .Add();
    spdlog::debug("{}: refused a connection from {}: {}", options.name, address, refusal);
    return false;
  }
  open_gauge.Add(1);
  return true;
}

void ServerCore::Release(const std::string& address) {
  {
    std::lock_guard lock(slots_mutex);
    FH_CHECK(open > 0, "connection slot released twice");
    --open;
    auto found = open_by_address.find(address);
    FH_CHECK(found != open_by_address.end() && found->second > 0, "per-address slot missing");
    if (--found->second == 0) open_by_address.erase(found);
    if (open == 0) all_closed.notify_all();
  }
  open_gauge.Add(-1);
}

void ServerCore::Accept() {
  IoThread& target = *threads[next_thread++ % threads.size()];
  acceptor->async_accept(
      target.io, [self = shared_from_this(), &target](const ErrorCode& error, tcp::socket socket) {
        self->OnAccept(error, std::move(socket), target);
      });
}

void ServerCore::OnAccept(const ErrorCode& error, tcp::socket socket, IoThread& target) {
  if (stopping.load(std::memory_order_acquire) || error == asio::error::operation_aborted) return;
  if (error) {
    // EMFILE and friends: pause instead of spinning; connections closing will free descriptors.
    CountError("accept_failed");
    spdlog::warn("{}: accept failed: {}", options.name, error.message());
    accept_retry_timer->expires_after(kAcceptRetryDelay);
    accept_retry_timer->async_wait([self = shared_from_this()](const ErrorCode& wait_error) {
      if (!wait_error && !self->stopping.load()) self->Accept();
    });
    return;
  }
  ErrorCode endpoint_error;
  const tcp::endpoint peer = socket.remote_endpoint(endpoint_error);
  if (!endpoint_error) {
    std::string address = peer.address().to_string();
    if (Admit(address)) {
      ErrorCode ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      // Answers the kernel accepted but the client never acknowledges (a zero window, or a
      // window it advertised and then dropped the data of) are not covered by the write
      // deadline, which ends when async_write hands the bytes over: the kernel aborts such a
      // connection after write_timeout_ms of unacknowledged data, and the pending read ends
      // with timed_out.
      const unsigned int user_timeout_ms =
          static_cast<unsigned int>(options.limits.write_timeout_ms);
      ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                   sizeof user_timeout_ms);
      auto connection = std::make_shared<Connection>(shared_from_this(), target, std::move(socket),
                                                     std::move(address));
      target.Post([connection] { connection->Start(); });
    }
  }
  Accept();  // a refused socket is closed as it goes out of scope
}

void ServerCore::ScheduleSweep(IoThread& thread) {
  thread.sweep_timer->expires_after(sweep_interval);
  thread.sweep_timer->async_wait([self = shared_from_this(), &thread](const ErrorCode& error) {
    if (error || !thread.sweeping) return;
    self->Sweep(thread);
    self->ScheduleSweep(thread);
  });
}

void ServerCore::Sweep(IoThread& thread) {
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(thread.mutex);
    connections.reserve(thread.connections.size());
    for (const auto& [raw, weak] : thread.connections) {
      if (auto connection = weak.lock()) connections.push_back(std::move(connection));
    }
  }
  const Clock::time_point now = Clock::now();
  for (const auto& connection : connections) connection->OnDeadlineCheck(now);
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Responder

Responder::Responder(std::shared_ptr<internal::Exchange> exchange)
    : exchange_(std::move(exchange)) {}

void Responder::Send(HttpResponse response) const {
  if (!exchange_->Claim()) return;
  exchange_->connection().PostAnswer(exchange_->id(), std::move(response));
}

std::shared_ptr<ResponseStream> Responder::Stream(int status, std::string content_type,
                                                  std::vector<HttpHeader> headers) const {
  auto stream =
      std::make_shared<internal::StreamImpl>(exchange_->connection_ptr(), exchange_->id());
  if (!exchange_->Claim()) {
    stream->MarkEnded();
    return stream;
  }
  exchange_->connection().PostStreamStart(exchange_->id(), status, std::move(content_type),
                                          std::move(headers), stream);
  return stream;
}

bool Responder::answered() const { return exchange_->answered(); }

// ---------------------------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(HttpServerOptions options)
    : core_(std::make_shared<internal::ServerCore>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

void HttpServer::AddRoute(Route route) {
  FH_CHECK(!core_->started, "routes are added before the server starts");
  core_->routes.push_back(std::move(route));
}

void HttpServer::Handle(std::string method, std::string path, HttpHandler handler) {
  Route route;
  route.method = std::move(method);
  route.path = std::move(path);
  route.handler = std::move(handler);
  AddRoute(std::move(route));
}

void HttpServer::HandlePrefix(std::string method, std::string prefix, HttpHandler handler) {
  Route route;
  route.method = std::move(method);
  route.path = std::move(prefix);
  route.prefix = true;
  route.handler = std::move(handler);
  AddRoute(std::move(route));
}

const HttpServerOptions& HttpServer::options() const { return core_->options; }

std::uint16_t HttpServer::port() const { return core_->port; }

std::size_t HttpServer::connections_open() const {
  std::lock_guard lock(core_->slots_mutex);
  return core_->open;
}

Status HttpServer::Start() {
  internal::ServerCore& core = *core_;
  if (core.started) return FailedPrecondition("the HTTP server was already started");
  const HttpServerOptions& options = core.options;
  ErrorCode error;
  const asio::ip::address address = asio::ip::make_address(options.listen_host, error);
  if (error) {
    return InvalidArgument("listen address '" + options.listen_host + "' is not an IP address");
  }
  int thread_count = options.io_threads > 0 ? options.io_threads
                                            : static_cast<int>(std::thread::hardware_concurrency());
  thread_count = std::max(thread_count, 1);
  for (int i = 0; i < thread_count; ++i)
    core.threads.push_back(std::make_unique<internal::IoThread>());

  const tcp::endpoint endpoint(address, options.listen_port);
  const std::string where = options.listen_host + ":" + std::to_string(options.listen_port);
  core.acceptor.emplace(core.threads.front()->io);
  core.acceptor->open(endpoint.protocol(), error);
  if (!error) core.acceptor->set_option(asio::socket_base::reuse_address(true), error);
  if (!error) core.acceptor->bind(endpoint, error);
  if (!error) core.acceptor->listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    core.acceptor.reset();
    core.threads.clear();
    return Unavailable("cannot listen on " + where + ": " + error.message());
  }
  core.port = core.acceptor->local_endpoint().port();
  core.accept_retry_timer.emplace(core.threads.front()->io);
  core.started = true;

  for (auto& thread : core.threads) {
    core.work_guards.push_back(asio::make_work_guard(thread->io));
    thread->sweep_timer.emplace(thread->io);
    core.ScheduleSweep(*thread);
  }
  core.Accept();
  for (std::size_t i = 0; i < core.threads.size(); ++i) {
    internal::IoThread& thread = *core.threads[i];
    thread.thread = std::thread([&thread, name = fmt::format("{}-io{}", options.name, i)] {
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      for (;;) {
        try {
          thread.io.run();
          return;
        } catch (const std::exception& exception) {
          // A handler threw (it should not): log it and keep serving the other connections.
          spdlog::error("http io thread: handler threw: {}", exception.what());
        }
      }
    });
  }
  spdlog::info("{}: listening on {}:{} with {} io threads", options.name, options.listen_host,
               core.port, core.threads.size());
  return Status::Ok();
}

void HttpServer::Stop(std::chrono::milliseconds drain) {
  internal::ServerCore& core = *core_;
  if (!core.started || core.stopped) return;
  core.stopped = true;
  core.stopping.store(true, std::memory_order_release);

  // 1. Stop accepting; idle connections close, requests in progress finish, streams end.
  core.threads.front()->Post([core_ptr = core_] {
    ErrorCode ignored;
    core_ptr->acceptor->close(ignored);
    core_ptr->accept_retry_timer->cancel();
  });
  auto for_each_connection = [&](auto action) {
    for (auto& thread : core.threads) {
      thread->Post([io = thread.get(), action] {
        std::vector<std::shared_ptr<internal::Connection>> connections;
        {
          std::lock_guard lock(io->mutex);
          for (const auto& [raw, weak] : io->connections) {
            if (auto connection = weak.lock()) connections.push_back(std::move(connection));
          }
        }
        for (const auto& connection : connections) action(*connection);
      });
    }
  };
  for_each_connection([](internal::Connection& connection) { connection.OnServerStop(); });

  // 2. Wait for them, up to `drain`.
  {
    std::unique_lock lock(core.slots_mutex);
    core.all_closed.wait_for(lock, drain, [&] { return core.open == 0; });
  }

  // 3. Close whatever is left and let the io threads run out of work.
  for_each_connection([](internal::Connection& connection) { connection.ForceClose(); });
  for (auto& thread : core.threads) {
    thread->Post([io = thread.get()] {
      io->sweeping = false;
      io->sweep_timer->cancel();
    });
  }
  core.work_guards.clear();
  for (auto& thread : core.threads) {
    if (thread->thread.joinable()) thread->thread.join();
  }
  // 4. From now on answers are dropped; run what was posted before that, on this thread.
  for (auto& thread : core.threads) {
    {
      std::lock_guard lock(thread->mutex);
      thread->posts_open = false;
    }
    thread->io.restart();
    thread->io.poll();
  }
  spdlog::info("{}: stopped", core.options.name);
}

}  // namespace firehose::edge
