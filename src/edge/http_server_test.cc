// The HTTP server against real sockets on 127.0.0.1: routing, keep-alive, deferred and
// streamed answers, every limit and timeout, smuggling attempts, graceful stop.
#include "edge/http_server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/metrics.h"
#include "support/raw_http.h"

namespace firehose::edge {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BuildRequest;
using testing::RawClient;
using testing::RawResponse;
using testing::RoundTrip;
using Clock = std::chrono::steady_clock;

template <typename Predicate>
bool WaitFor(Predicate predicate, milliseconds timeout = seconds(5)) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return predicate();
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class HttpServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    {
      std::lock_guard lock(mutex_);
      gate_open_ = true;  // a test that failed halfway must not leave an io thread in the gate
    }
    gate_changed_.notify_all();
    server_.reset();
    for (std::thread& worker : workers_) worker.join();
  }

  HttpServerOptions Options() {
    static std::atomic<int> serial{0};
    HttpServerOptions options;
    options.name = "http_test_" + std::to_string(serial++);
    options.io_threads = 2;
    options.limits.header_bytes_max = 2048;
    options.limits.body_bytes_max = 4096;
    options.limits.header_timeout_ms = 400;
    options.limits.body_timeout_ms = 400;
    options.limits.idle_timeout_ms = 400;
    options.limits.write_timeout_ms = 400;
    options.limits.close_linger_ms = 500;
    options.limits.stream_buffer_bytes_max = 64 * 1024;
    return options;
  }

  void Start(HttpServerOptions options) {
    stage_ = options.name;
    server_ = std::make_unique<HttpServer>(std::move(options));
    AddRoutes();
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }
  void Start() { Start(Options()); }

  void AddRoutes() {
    server_->Handle("GET", "/hello", [](HttpRequest, Responder responder) {
      responder.Send(JsonResponse(200, R"({"hello":"world"})"));
    });
    server_->Handle("POST", "/echo", [](HttpRequest request, Responder responder) {
      HttpResponse response;
      response.content_type = "text/plain";
      response.body = std::move(request.body);
      responder.Send(std::move(response));
    });
    server_->HandlePrefix("GET", "/items/", [](HttpRequest request, Responder responder) {
      HttpResponse response;
      response.content_type = "text/plain";
      response.body = std::string(request.path_suffix()) + "|" + std::string(request.query());
      responder.Send(std::move(response));
    });
    server_->Handle("POST", "/deferred", [this](HttpRequest, Responder responder) {
      std::lock_guard lock(mutex_);
      workers_.emplace_back([responder, delay = deferred_delay_] {
        std::this_thread::sleep_for(delay);
        responder.Send(JsonResponse(202, R"({"later":true})"));
      });
    });
    server_->Handle("POST", "/held", [this](HttpRequest, Responder responder) {
      std::lock_guard lock(mutex_);
      held_.push_back(responder);
    });
    server_->Handle("POST", "/queued", [this](HttpRequest request, Responder responder) {
      std::lock_guard lock(mutex_);
      queued_.emplace_back(std::move(request.body), responder);
    });
    // Holds its io thread until the test opens the gate: what arrives for that thread meanwhile
    // waits for it.
    server_->Handle("GET", "/gate", [this](HttpRequest, Responder responder) {
      std::unique_lock lock(mutex_);
      gated_threads_.insert(std::this_thread::get_id());
      gate_changed_.notify_all();
      gate_changed_.wait(lock, [&] { return gate_open_; });
      responder.Send(JsonResponse(200, "{}"));
    });
    server_->Handle("GET", "/drop", [](HttpRequest, Responder) {});
    server_->Handle("GET", "/big", [](HttpRequest, Responder responder) {
      HttpResponse response;
      response.content_type = "application/octet-stream";
      response.body.assign(32 << 20, 'x');
      responder.Send(std::move(response));
    });
    server_->Handle("GET", "/stream", [this](HttpRequest, Responder responder) {
      std::lock_guard lock(mutex_);
      streams_.push_back(responder.Stream(200, "text/event-stream"));
    });
    Route guarded;
    guarded.method = "POST";
    guarded.path = "/guarded";
    guarded.handler = [](HttpRequest request, Responder responder) {
      responder.Send(JsonResponse(200, std::to_string(request.body.size())));
    };
    guarded.check_headers = [](const HttpRequest& head) -> std::optional<HttpResponse> {
      if (head.HasHeader("X-Refuse")) return ErrorResponse(503, "refused", "not now");
      return std::nullopt;
    };
    guarded.on_refused = [this](const HttpRequest&, std::string_view reason) {
      std::lock_guard lock(mutex_);
      refusals_.emplace_back(reason);
    };
    server_->AddRoute(std::move(guarded));
  }

  std::uint64_t Counter(std::string_view name, Labels labels) {
    labels.emplace_back("stage", stage_);
    return Metrics().SumCounters(name, labels);
  }
  std::vector<std::string> Refusals() {
    std::lock_guard lock(mutex_);
    return refusals_;
  }
  std::shared_ptr<ResponseStream> StreamAt(std::size_t index) {
    std::lock_guard lock(mutex_);
    return index < streams_.size() ? streams_[index] : nullptr;
  }

  std::unique_ptr<HttpServer> server_;
  std::string stage_;
  std::uint16_t port_ = 0;
  milliseconds deferred_delay_{50};
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<Responder> held_;
  std::vector<std::pair<std::string, Responder>> queued_;  // body and responder of each /queued
  std::condition_variable gate_changed_;  // with mutex_
  std::set<std::thread::id> gated_threads_;
  bool gate_open_ = false;
  std::vector<std::string> refusals_;
  std::vector<std::shared_ptr<ResponseStream>> streams_;
};

TEST_F(HttpServerTest, RoutesExactAndPrefixPathsAndAnswersErrorsInJson) {
  Start();
  auto hello = RoundTrip(port_, BuildRequest("GET", "/hello"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body, R"({"hello":"world"})");
  EXPECT_EQ(hello->Header("Content-Type"), "application/json");
  EXPECT_FALSE(hello->Header("Date").empty());

  auto item = RoundTrip(port_, BuildRequest("GET", "/items/abc?x=1"));
  ASSERT_TRUE(item);
  EXPECT_EQ(item->body, "abc|x=1");

  auto missing = RoundTrip(port_, BuildRequest("GET", "/nope"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, R"({"error":"not_found","message":"no such endpoint"})");

  auto wrong_method = RoundTrip(port_, BuildRequest("DELETE", "/hello"));
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->Header("Allow"), "GET");
  EXPECT_NE(wrong_method->body.find(R"("error":"method_not_allowed")"), std::string::npos);

  EXPECT_EQ(Counter("firehose_rejected_total", {{"partner", "_unknown"}, {"reason", "not_found"}}),
            1u);
  EXPECT_EQ(Counter("firehose_rejected_total", {{"reason", "method_not_allowed"}}), 1u);
}

TEST_F(HttpServerTest, HeadAnswersAGetRouteWithoutABody) {
  Start();
  RawClient client(port_);
  ASSERT_TRUE(client.Send(BuildRequest("HEAD", "/hello")));
  auto head = client.ReadUntil("\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_NE(head->find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(head->find("Content-Length: 17"), std::string::npos);
  // The connection stays usable: the next answer follows directly, no body in between.
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/hello")));
  auto next = client.Read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, R"({"hello":"world"})");
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnectionIncludingPipelined) {
  Start();
  RawClient client(port_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.Send(BuildRequest("POST", "/echo", {}, "ping " + std::to_string(i))));
    auto response = client.Read();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->body, "ping " + std::to_string(i));
    EXPECT_TRUE(response->Header("Connection").empty());
  }
  // Three requests in one write: answered in order.
  ASSERT_TRUE(client.Send(BuildRequest("POST", "/echo", {}, "a") + BuildRequest("GET", "/items/b") +
                          BuildRequest("POST", "/echo", {}, "c")));
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) {
    auto response = client.Read();
    ASSERT_TRUE(response);
    bodies.push_back(response->body);
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"a", "b|", "c"}));
  EXPECT_EQ(server_->connections_open(), 1u);
}

TEST_F(HttpServerTest, ConnectionCloseFromTheClientIsHonoured) {
  Start();
  RawClient client(port_);
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/hello", {{"Connection", "close"}})));
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitClosed(seconds(2)));
}

TEST_F(HttpServerTest, HandlersMayAnswerLaterFromAnotherThread) {
  deferred_delay_ = milliseconds(100);
  Start();
  RawClient client(port_);
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(client.Send(BuildRequest("POST", "/deferred", {}, "{}")));
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_GE(SecondsSince(start), 0.09);
  // Meanwhile and afterwards the connection works as usual.
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/hello")));
  ASSERT_TRUE(client.Read());
}

// A queue acknowledges a whole group commit at once: many answers arrive from one other thread
// in a burst and are delivered to their io threads together. Each must reach its own exchange.
TEST_F(HttpServerTest, ABurstOfAnswersFromAnotherThreadReachesEachItsOwnConnection) {
  Start();
  // Two connections accepted one after the other land on the two io threads (round-robin); their
  // requests are sent later, once every client's request has been read (the acceptor runs on an
  // io thread too, so it must not be held before then).
  RawClient gate_a(port_);
  RawClient gate_b(port_);
  constexpr int kClients = 32;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(clients.back()->Send(BuildRequest("POST", "/queued", {}, "request-" + std::to_string(i))));
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mutex_);
    return queued_.size() == kClients;
  }));
  // Hold both io threads, so that every answer waits in their inboxes and each thread then
  // delivers its whole batch at once.
  ASSERT_TRUE(gate_a.Send(BuildRequest("GET", "/gate")));
  ASSERT_TRUE(gate_b.Send(BuildRequest("GET", "/gate")));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mutex_);
    return gated_threads_.size() == 2;
  }));
  std::thread answerer([&] {
    std::lock_guard lock(mutex_);
    for (auto it = queued_.rbegin(); it != queued_.rend(); ++it) {
      HttpResponse response;
      response.content_type = "text/plain";
      response.body = "answer-to-" + it->first;
      it->second.Send(std::move(response));
    }
  });
  answerer.join();
  {
    std::lock_guard lock(mutex_);
    gate_open_ = true;
  }
  gate_changed_.notify_all();
  for (int i = 0; i < kClients; ++i) {
    auto response = clients[i]->Read();
    ASSERT_TRUE(response) << "client " << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "answer-to-request-" + std::to_string(i));
    // The connection carries on as usual.
    ASSERT_TRUE(clients[i]->Send(BuildRequest("GET", "/hello")));
    auto next = clients[i]->Read();
    ASSERT_TRUE(next) << "client " << i;
    EXPECT_EQ(next->status, 200);
  }
}

TEST_F(HttpServerTest, AHandlerThatDropsItsResponderStillAnswers500) {
  Start();
  auto response = RoundTrip(port_, BuildRequest("GET", "/drop"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find("handler_no_answer"), std::string::npos);
}

TEST_F(HttpServerTest, AHeaderCheckAnswersBeforeTheBodyIsReadAndTheClientStillSeesIt) {
  Start();
  RawClient client(port_);
  // Announces 10 MB and sends some of it: the answer comes without reading it, and the
  // lingering close keeps a reset from destroying the answer.
  ASSERT_TRUE(client.Send(
      BuildRequest("POST", "/guarded", {{"X-Refuse", "1"}, {"Content-Length", "10000000"}}) +
      std::string(100000, 'z')));
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, R"({"error":"refused","message":"not now"})");
  EXPECT_EQ(response->Header("Connection"), "close");
  client.Close();
  EXPECT_TRUE(Refusals().empty());  // the route answered itself: nothing for on_refused
}

TEST_F(HttpServerTest, ABodyOverTheLimitIs413FromContentLengthBeforeAnyBodyByte) {
  Start();
  RawClient client(port_);
  ASSERT_TRUE(client.Send(BuildRequest("POST", "/guarded", {{"Content-Length", "5000"}})));
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find(R"("error":"body_too_large")"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed(seconds(2)));
  EXPECT_EQ(Refusals(), std::vector<std::string>{"body_too_large"});
  // At the limit is fine.
  auto at_limit = RoundTrip(port_, BuildRequest("POST", "/guarded", {}, std::string(4096, 'a')));
  ASSERT_TRUE(at_limit);
  EXPECT_EQ(at_limit->body, "4096");
}

TEST_F(HttpServerTest, AChunkedBodyIsDechunkedAndRefusedAsSoonAsItPassesTheLimit) {
  Start();
  auto small = RoundTrip(port_, BuildRequest("POST", "/echo", {{"Transfer-Encoding", "chunked"}},
                                             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  ASSERT_TRUE(small);
  EXPECT_EQ(small->body, "hello world");

  RawClient client(port_);
  ASSERT_TRUE(client.Send(BuildRequest("POST", "/guarded", {{"Transfer-Encoding", "chunked"}})));
  const std::string chunk = "800\r\n" + std::string(0x800, 'q') + "\r\n";  // 2 KiB
  ASSERT_TRUE(client.Send(chunk + chunk));
  ASSERT_TRUE(client.Send(chunk));  // passes 4 KiB: refused now, the stream never ends
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("body_too_large"), std::string::npos);
  EXPECT_EQ(Refusals(), std::vector<std::string>{"body_too_large"});
}

TEST_F(HttpServerTest, AHeaderSectionOverTheLimitIs431) {
  Start();
  auto response =
      RoundTrip(port_, BuildRequest("GET", "/hello", {{"X-Big", std::string(3000, 'h')}}));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find(R"("error":"header_too_large")"), std::string::npos);
  EXPECT_EQ(
      Counter("firehose_rejected_total", {{"partner", "_unknown"}, {"reason", "header_too_large"}}),
      1u);
}

struct SmugglingCase {
  const char* name;
  std::string request;
  const char* code;
};

TEST_F(HttpServerTest, SmugglingAttemptsAre400AndTheConnectionCloses) {
  Start();
  const std::string host = "Host: x\r\n";
  const std::string smuggled = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<SmugglingCase> cases = {
      {"CL then TE",
       "POST /echo HTTP/1.1\r\n" + host +
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
       "bad_transfer_encoding"},
      {"TE then CL",
       "POST /echo HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
       "bad_content_length"},
      {"conflicting CL",
       "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 37\r\n\r\nhello" +
           smuggled,
       "bad_content_length"},
      {"CL list",
       "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 5, 37\r\n\r\nhello" + smuggled,
       "bad_content_length"},
      {"negative CL", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n" + smuggled,
       "bad_content_length"},
      {"TE gzip", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n" + smuggled,
       "bad_transfer_encoding"},
      {"TE chunked not last",
       "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" +
           smuggled,
       "bad_transfer_encoding"},
      {"TE gzip, chunked",
       "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" +
           smuggled,
       "bad_transfer_encoding"},
      {"TE twice",
       "POST /echo HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
       "bad_transfer_encoding"},
      {"TE in HTTP/1.0",
       "POST /echo HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
       "bad_transfer_encoding"},
      {"space before colon",
       "POST /echo HTTP/1.1\r\n" + host + "Content-Length : 5\r\n\r\nhello" + smuggled,
       "bad_request"},
      {"bare LF", "POST /echo HTTP/1.1\n" + host + "Content-Length: 5\n\nhello" + smuggled,
       "bad_request"},
      {"no Host", "GET /hello HTTP/1.1\r\n\r\n", "missing_host"},
      {"absolute target", "GET http://evil/hello HTTP/1.1\r\n" + host + "\r\n", "bad_target"},
  };
  for (const SmugglingCase& test_case : cases) {
    RawClient client(port_);
    ASSERT_TRUE(client.Send(test_case.request)) << test_case.name;
    auto response = client.Read();
    ASSERT_TRUE(response) << test_case.name;
    EXPECT_EQ(response->status, 400) << test_case.name;
    EXPECT_NE(response->body.find(std::string("\"error\":\"") + test_case.code + "\""),
              std::string::npos)
        << test_case.name << ": " << response->body;
    EXPECT_EQ(response->Header("Connection"), "close") << test_case.name;
    // Nothing after the refused request is ever served.
    EXPECT_TRUE(client.WaitClosed(seconds(2))) << test_case.name;
    EXPECT_FALSE(client.Read(milliseconds(50))) << test_case.name;
  }
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimAnswerBeforeTheBody) {
  Start();
  RawClient client(port_);
  ASSERT_TRUE(client.Send(
      BuildRequest("POST", "/echo", {{"Expect", "100-continue"}, {"Content-Length", "5"}})));
  auto interim = client.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("hello"));
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
}

TEST_F(HttpServerTest, AnIdleKeepAliveConnectionOutlivesTheHeaderTimeoutUntilTheIdleTimeout) {
  HttpServerOptions options = Options();
  options.limits.header_timeout_ms = 400;
  options.limits.idle_timeout_ms = 2000;
  Start(std::move(options));
  RawClient idle(port_);
  ASSERT_TRUE(idle.Send(BuildRequest("GET", "/hello")));
  auto first = idle.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < 3; ++i) {
    auto response = RoundTrip(port_, BuildRequest("GET", "/hello"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
  }
  // Waiting between requests is the idle phase: the header timeout has long passed here.
  EXPECT_FALSE(idle.WaitClosed(milliseconds(1200)));
  ASSERT_TRUE(idle.WaitClosed(seconds(5)));
  EXPECT_GE(SecondsSince(start), 1.95);
  EXPECT_LT(SecondsSince(start), 4.0);
  EXPECT_EQ(Counter("firehose_http_connections_closed_total", {{"reason", "idle_timeout"}}), 1u);
  EXPECT_EQ(Counter("firehose_http_connections_closed_total", {{"reason", "header_timeout"}}), 0u);
}

TEST_F(HttpServerTest, ASilentNewConnectionIsClosedByTheHeaderTimeoutNotTheIdleTimeout) {
  HttpServerOptions options = Options();
  options.limits.header_timeout_ms = 400;
  options.limits.idle_timeout_ms = 10000;
  Start(std::move(options));
  const Clock::time_point start = Clock::now();
  RawClient silent(port_);
  ASSERT_TRUE(silent.connected());
  // Another client is served meanwhile.
  auto response = RoundTrip(port_, BuildRequest("GET", "/hello"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  // Closed at about header_timeout_ms; the bound is generous but far below idle_timeout_ms.
  ASSERT_TRUE(silent.WaitClosed(seconds(5)));
  EXPECT_GE(SecondsSince(start), 0.35);
  EXPECT_LT(SecondsSince(start), 3.0);
  EXPECT_EQ(Counter("firehose_http_connections_closed_total", {{"reason", "header_timeout"}}), 1u);
  EXPECT_EQ(Counter("firehose_http_connections_closed_total", {{"reason", "idle_timeout"}}), 0u);
  EXPECT_EQ(Counter("firehose_errors_total", {{"kind", "header_timeout"}}), 1u);
  EXPECT_TRUE(WaitFor([&] { return server_->connections_open() == 0; }));
}

TEST_F(HttpServerTest, AFirstRequestThatStartsLateHasTheHeaderTimeoutFromAccept) {
  HttpServerOptions options = Options();
  options.limits.header_timeout_ms = 1000;
  options.limits.idle_timeout_ms = 10000;
  Start(std::move(options));
  const Clock::time_point start = Clock::now();
  RawClient late(port_);
  ASSERT_TRUE(late.connected());
  std::this_thread::sleep_for(milliseconds(800));
  // Counted from this first byte the header would have until ~1.8 s; from accept, until ~1 s.
  ASSERT_TRUE(late.Send("GET /hello HTTP/1.1\r\n"));
  ASSERT_TRUE(late.WaitClosed(seconds(5)));
  EXPECT_GE(SecondsSince(start), 0.95);
  EXPECT_LT(SecondsSince(start), 1.6);
  EXPECT_EQ(Counter("firehose_http_connections_closed_total", {{"reason", "header_timeout"}}), 1u);
}

TEST_F(HttpServerTest, AHeaderTrickleIsClosedByTheHeaderTimeoutNotExtendedByEachByte) {
  Start();
  RawClient slow(port_);
  ASSERT_TRUE(slow.Send("POST /echo HTTP/1.1\r\n"));
  const Clock::time_point start = Clock::now();
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    slow.Send("X-Drip: " + std::to_string(i) + "\r\n");
    closed = slow.WaitClosed(milliseconds(50));
    // Another client is served meanwhile.
    if (i == 2) {
      ASSERT_TRUE(RoundTrip(port_, BuildRequest("GET", "/hello")));
    }
  }
  ASSERT_TRUE(closed);
  EXPECT_GE(SecondsSince(start), 0.35);
  EXPECT_LT(SecondsSince(start), 1.5);
  EXPECT_EQ(Counter("firehose_errors_total", {{"kind", "header_timeout"}}), 1u);
}

TEST_F(HttpServerTest, ABodyTrickleIsClosedByTheBodyTimeout) {
  Start();
  RawClient slow(port_);
  ASSERT_TRUE(slow.Send(BuildRequest("POST", "/guarded", {{"Content-Length", "1000"}})));
  const Clock::time_point start = Clock::now();
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    slow.Send("x");
    closed = slow.WaitClosed(milliseconds(50));
  }
  ASSERT_TRUE(closed);
  EXPECT_GE(SecondsSince(start), 0.35);
  EXPECT_LT(SecondsSince(start), 1.5);
  EXPECT_EQ(Counter("firehose_errors_total", {{"kind", "body_timeout"}}), 1u);
  EXPECT_EQ(Refusals(), std::vector<std::string>{"body_timeout"});
}

TEST_F(HttpServerTest, AClientThatNeverReadsItsAnswerIsDroppedByTheWriteTimeout) {
  Start();
  RawClient reader_that_never_reads(port_);
  reader_that_never_reads.SetReceiveBuffer(4096);
  ASSERT_TRUE(reader_that_never_reads.Send(BuildRequest("GET", "/big")));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter("firehose_errors_total", {{"kind", "write_timeout"}}) == 1;
      },
      seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return server_->connections_open() == 0; }));
  ASSERT_TRUE(RoundTrip(port_, BuildRequest("GET", "/hello")));
}

TEST_F(HttpServerTest, ConnectionLimitsRefuseAtAcceptInTotalAndPerAddress) {
  HttpServerOptions options = Options();
  options.limits.connections_max = 3;
  options.limits.connections_per_address_max = 2;
  options.limits.idle_timeout_ms = 10000;
  Start(std::move(options));
  auto served = [&](RawClient& client) {
    if (!client.Send(BuildRequest("GET", "/hello"))) return false;
    auto response = client.Read(seconds(2));
    return response && response->status == 200;
  };
  auto refused = [&](RawClient& client) {
    // The kernel completes the handshake; the server closes without reading or answering.
    return client.connected() && client.WaitClosed(seconds(2));
  };
  RawClient a1(port_, "127.0.0.1");
  RawClient a2(port_, "127.0.0.1");
  ASSERT_TRUE(served(a1));
  ASSERT_TRUE(served(a2));
  RawClient a3(port_, "127.0.0.1");
  EXPECT_TRUE(refused(a3));
  RawClient b1(port_, "127.0.0.2");
  EXPECT_TRUE(served(b1));
  RawClient c1(port_, "127.0.0.3");
  EXPECT_TRUE(refused(c1));
  EXPECT_EQ(Counter("firehose_http_connections_refused_total",
                    {{"reason", "connections_per_address_max"}}),
            1u);
  EXPECT_EQ(Counter("firehose_http_connections_refused_total", {{"reason", "connections_max"}}),
            1u);
  // A slot frees when its connection closes.
  a1.Close();
  ASSERT_TRUE(WaitFor([&] { return server_->connections_open() == 2; }));
  RawClient a4(port_, "127.0.0.1");
  EXPECT_TRUE(served(a4));
}

TEST_F(HttpServerTest, AStreamSendsChunksAsTheyAreWrittenUntilItEnds) {
  Start();
  RawClient client(port_);
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/stream")));
  auto head = client.ReadUntil("\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_NE(head->find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(head->find("Transfer-Encoding: chunked"), std::string::npos);
  ASSERT_TRUE(WaitFor([&] { return StreamAt(0) != nullptr; }));
  std::shared_ptr<ResponseStream> stream = StreamAt(0);
  for (int i = 0; i < 3; ++i) {
    const std::string event = "data: " + std::to_string(i) + "\n\n";
    ASSERT_TRUE(stream->Write(event));
    auto chunk = client.ReadUntil(event);
    ASSERT_TRUE(chunk) << i;
    // Each chunk is "<hex size>CRLF<data>CRLF"; the CRLF closing the previous one comes first.
    EXPECT_EQ(*chunk, (i > 0 ? "\r\n" : "") + fmt::format("{:x}\r\n", event.size()) + event);
  }
  stream->End();
  EXPECT_FALSE(stream->Write("after the end"));
  EXPECT_TRUE(client.ReadUntil("\r\n0\r\n\r\n"));
  EXPECT_TRUE(client.WaitClosed(seconds(2)));
}

TEST_F(HttpServerTest, AStreamEndsWhenTheClientGoesAway) {
  Start();
  {
    RawClient client(port_);
    ASSERT_TRUE(client.Send(BuildRequest("GET", "/stream")));
    ASSERT_TRUE(client.ReadUntil("\r\n\r\n"));
  }
  ASSERT_TRUE(WaitFor([&] { return StreamAt(0) != nullptr; }));
  std::shared_ptr<ResponseStream> stream = StreamAt(0);
  EXPECT_TRUE(WaitFor([&] { return stream->ended(); }, seconds(2)));
  EXPECT_FALSE(stream->Write("data: nobody\n\n"));
}

TEST_F(HttpServerTest, AStreamToASlowReaderEndsAtItsBufferLimitInsteadOfGrowing) {
  Start();
  RawClient client(port_);
  client.SetReceiveBuffer(4096);
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/stream")));
  ASSERT_TRUE(WaitFor([&] { return StreamAt(0) != nullptr; }));
  std::shared_ptr<ResponseStream> stream = StreamAt(0);
  const std::string piece(16 * 1024, 'e');
  int written = 0;
  while (stream->Write(piece) && written < 100000) ++written;
  EXPECT_TRUE(stream->ended());
  EXPECT_LT(written, 1000);  // kernel buffers + 64 KiB, not everything
  EXPECT_TRUE(WaitFor([&] {
    return Counter("firehose_errors_total", {{"kind", "stream_overflow"}}) == 1;
  }));
}

TEST_F(HttpServerTest, GracefulStopFinishesRequestsInFlightAndClosesIdleConnections) {
  deferred_delay_ = milliseconds(300);
  Start();
  RawClient idle(port_);
  ASSERT_TRUE(idle.Send(BuildRequest("GET", "/hello")));
  ASSERT_TRUE(idle.Read());
  RawClient busy(port_);
  ASSERT_TRUE(busy.Send(BuildRequest("POST", "/deferred", {}, "{}")));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mutex_);
    return !workers_.empty();
  }));

  const Clock::time_point start = Clock::now();
  server_->Stop(seconds(5));
  const double stop_seconds = SecondsSince(start);
  EXPECT_LT(stop_seconds, 2.0);  // returned when the last request finished, not at the deadline

  auto response = busy.Read(seconds(1));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(busy.WaitClosed(seconds(1)));
  EXPECT_TRUE(idle.WaitClosed(seconds(1)));
  RawClient late(port_);
  EXPECT_TRUE(!late.connected() || late.WaitClosed(seconds(1)));
}

TEST_F(HttpServerTest, StopForceClosesWhatTheDrainTimeDidNotFinish) {
  Start();
  RawClient stuck(port_);
  ASSERT_TRUE(stuck.Send(BuildRequest("POST", "/held", {}, "{}")));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mutex_);
    return !held_.empty();
  }));
  const Clock::time_point start = Clock::now();
  server_->Stop(milliseconds(200));
  EXPECT_GE(SecondsSince(start), 0.19);
  EXPECT_LT(SecondsSince(start), 2.0);
  EXPECT_TRUE(stuck.WaitClosed(seconds(1)));
  // An answer after the stop, and after the server is gone, goes nowhere and harms nothing.
  held_.front().Send(JsonResponse(200, "{}"));
  server_.reset();
  std::lock_guard lock(mutex_);
  held_.clear();
}

}  // namespace
}  // namespace firehose::edge
