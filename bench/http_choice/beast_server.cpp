// Firehose HTTP bake-off candidate: Boost.Beast/Asio (Debian Boost 1.74).
// usage: beast_server PORT [THREADS=2] [shared|perthread] [sync|deferred] [TIMEOUT_S=10]
//   shared    : one io_context run by THREADS threads, one strand per connection
//   perthread : THREADS io_contexts (1 thread each); one acceptor hands sockets round-robin
//   deferred  : the 202 is sent only after FakeAppender's thread "completes" the append;
//               the completion is posted back to the connection's executor (strand), so no
//               io thread ever blocks waiting for it.
// Boost 1.74 asio/awaitable.hpp uses std::exchange without <utility>; GCC 12 + C++20 needs it first.
#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include "fake_append.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

static const std::string kAccepted = R"({"arrival_id":"01HZZZZZZZZZZZZZZZZZZZZZZZ"})";
constexpr std::uint32_t kHeaderLimit = 8 * 1024;   // enforced by the parser while reading
constexpr std::uint64_t kBodyLimit = 64 * 1024;    // Content-Length checked before any body byte
constexpr int kMaxConnections = 10000;
static std::chrono::seconds g_timeout{10};
static bool g_deferred = false;
static std::atomic<int> g_conns{0};
static FakeAppender* g_appender = nullptr;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : stream_(std::move(s)) { ++g_conns; }
  ~Session() { --g_conns; }
  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    // One deadline for the whole request (idle keep-alive wait + header + body):
    // a slowloris trickling one byte at a time does not extend it.
    stream_.expires_after(g_timeout);
    http::async_read(stream_, buf_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }
  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return respond(http::status::payload_too_large, "{\"error\":\"body too large\"}", false);
    if (ec == http::error::header_limit)
      return respond(http::status::request_header_fields_too_large, "{\"error\":\"headers\"}", false);
    if (ec) return;  // EOF, timeout, reset, bad request: drop (socket closes with *this)
    const bool keep = parser_->get().keep_alive();
    // parser_->get().body() holds the full 624-byte payload here.
    if (!g_deferred) return respond(http::status::accepted, kAccepted, keep);
    stream_.expires_never();  // the appender, not the peer, decides how long this takes
    g_appender->append([self = shared_from_this(), keep] {
      // Runs on the appender thread: hop back onto the connection's strand.
      asio::post(self->stream_.get_executor(), [self, keep] {
        self->respond(http::status::accepted, kAccepted, keep);
      });
    });
  }
  void respond(http::status st, const std::string& body, bool keep) {
    res_ = {};
    res_.result(st);
    res_.version(11);
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(keep);
    res_.body() = body;
    res_.prepare_payload();
    stream_.expires_after(g_timeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!keep) {
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
                          return;
                        }
                        self->read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buf_{16 * 1024};  // MAX raw bytes buffered; body bytes move into the string
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

class Listener {
 public:
  Listener(asio::io_context& own, std::vector<asio::io_context*> targets, bool strands,
           tcp::endpoint ep)
      : acc_(own), targets_(std::move(targets)), strands_(strands) {
    acc_.open(ep.protocol());
    acc_.set_option(asio::socket_base::reuse_address(true));
    acc_.bind(ep);
    acc_.listen(asio::socket_base::max_listen_connections);
  }
  unsigned short port() const { return acc_.local_endpoint().port(); }
  void accept() {
    asio::io_context& ioc = *targets_[next_++ % targets_.size()];
    auto on_accept = [this](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        if (g_conns.load() >= kMaxConnections) {
          s.close(ec);  // connection limit: refuse by closing at once
        } else {
          s.set_option(tcp::no_delay(true), ec);
          std::make_shared<Session>(std::move(s))->start();
        }
      }
      accept();
    };
    if (strands_)
      acc_.async_accept(asio::make_strand(ioc), on_accept);
    else
      acc_.async_accept(ioc.get_executor(), on_accept);
  }

 private:
  tcp::acceptor acc_;
  std::vector<asio::io_context*> targets_;
  bool strands_;
  std::size_t next_ = 0;
};

int main(int argc, char** argv) {
  const unsigned short port = argc > 1 ? std::atoi(argv[1]) : 0;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const bool per_thread = argc > 3 && std::string(argv[3]) == "perthread";
  g_deferred = argc > 4 && std::string(argv[4]) == "deferred";
  if (argc > 5) g_timeout = std::chrono::seconds(std::atoi(argv[5]));
  std::optional<FakeAppender> appender;
  if (g_deferred) g_appender = &appender.emplace();

  const int n_ctx = per_thread ? threads : 1;
  std::vector<std::unique_ptr<asio::io_context>> ctxs;
  std::vector<asio::io_context*> raw;
  for (int i = 0; i < n_ctx; ++i) {
    ctxs.push_back(std::make_unique<asio::io_context>(per_thread ? 1 : threads));
    raw.push_back(ctxs.back().get());
  }
  Listener listener(*raw[0], raw, !per_thread,
                    tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  listener.accept();
  std::printf("LISTENING %u beast %s %s threads=%d\n", listener.port(),
              per_thread ? "perthread" : "shared", g_deferred ? "deferred" : "sync", threads);
  std::fflush(stdout);

  // Keep every io_context's run() alive even before its first connection arrives.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto* c : raw) guards.push_back(asio::make_work_guard(*c));
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    asio::io_context& ioc = *raw[per_thread ? i : 0];
    pool.emplace_back([&ioc] { ioc.run(); });
  }
  for (auto& t : pool) t.join();
}
