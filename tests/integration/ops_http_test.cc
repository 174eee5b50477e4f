// The ops path end to end, in one process as `firehose run` wires it: real signed webhooks over
// HTTP on 127.0.0.1 into the edge and a real EmbeddedLog, the ops consumer reading the log, the
// ops API on the edge's server, and alert notifications POSTed to a real HTTP receiver.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "edge/edge_server.h"
#include "ops/ops_service.h"
#include "queue/embedded_log.h"
#include "support/ops_fixtures.h"
#include "support/raw_http.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BuildRequest;
using testing::HeaderList;
using testing::OpsPartnerId;
using testing::RawClient;
using testing::RoundTrip;
using testing::StripeBody;

// A real HTTP server that records every alert notification POSTed to it. The first
// `fail_first` requests get 503, to prove the notifier retries.
class AlertReceiver {
 public:
  explicit AlertReceiver(int fail_first = 0) : fail_first_(fail_first) {
    edge::HttpServerOptions options;
    options.name = "receiver";
    server_ = std::make_unique<edge::HttpServer>(options);
    server_->Handle("POST", "/alerts",
                    [this](edge::HttpRequest request, edge::Responder responder) {
                      std::lock_guard lock(mutex_);
                      if (attempts_++ < fail_first_)
                        return responder.Send(edge::ErrorResponse(503, "busy", "try later"));
                      received_.push_back({Clock::now(), json::parse(request.body)});
                      responder.Send(edge::JsonResponse(200, "{}"));
                    });
    EXPECT_TRUE(server_->Start().ok());
  }
  ~AlertReceiver() { server_->Stop(milliseconds(100)); }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/alerts";
  }

  // Waits for a notification with this status and rule; returns when it arrived.
  std::optional<Clock::time_point> WaitFor(std::string_view status, std::string_view rule,
                                           Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mutex_);
        for (const auto& [at, body] : received_) {
          if (body["status"] == status && body["alert"]["rule"] == rule) return at;
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return std::nullopt;
  }
  int Count(std::string_view status, std::string_view rule) {
    std::lock_guard lock(mutex_);
    int count = 0;
    for (const auto& [at, body] : received_) {
      count += body["status"] == status && body["alert"]["rule"] == rule;
    }
    return count;
  }
  int attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }

 private:
  const int fail_first_;
  std::unique_ptr<edge::HttpServer> server_;
  std::mutex mutex_;
  int attempts_ = 0;
  std::vector<std::pair<Clock::time_point, json>> received_;
};

class OpsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/firehose-ops-http-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    StopSender();
    if (edge_) edge_->Stop(seconds(1));
    if (ops_) ops_->Stop();
    if (log_) log_->Shutdown();
    edge_.reset();
    ops_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  // `adjust` changes the parsed config before anything uses it.
  void Start(int partners, std::string_view extra_toml = "",
             const std::function<void(Config&)>& adjust = {}) {
    config_ = testing::OpsTestConfig(partners, extra_toml);
    config_.data_dir = dir_;
    if (adjust) adjust(config_);
    auto log = EmbeddedLog::Open(dir_ / "queue", config_.limits);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
    ops_ = std::make_unique<ops::OpsService>(config_, *log_);
    edge_ = std::make_unique<edge::EdgeServer>(config_, *log_, ops_->webhook_observer());
    ops_->AddRoutes(edge_->http());
    ASSERT_TRUE(edge_->Start().ok());
    ASSERT_TRUE(ops_->Start().ok());
    port_ = edge_->port();
  }

  // POSTs one signed webhook; returns the HTTP status.
  int Post(std::string_view partner, const std::string& body) {
    auto response = RoundTrip(port_, testing::SignedPost(partner, body));
    return response ? response->status : 0;
  }

  std::optional<testing::RawResponse> Get(const std::string& target,
                                          const HeaderList& headers = {}) {
    return RoundTrip(port_, BuildRequest("GET", target, headers));
  }

  json GetJson(const std::string& target) {
    auto response = Get(target);
    EXPECT_TRUE(response && response->status == 200) << target;
    return response ? json::parse(response->body) : json();
  }

  static const json* FindPartner(const json& partners, std::string_view id) {
    for (const json& row : partners["partners"]) {
      if (row["id"] == id) return &row;
    }
    return nullptr;
  }

  // Sends webhooks for p000 in a loop (about every 20 ms): failed ones while failing_ is true.
  void StartSender() {
    sender_ = std::thread([this] {
      for (int i = 0; !stop_sender_.load(); ++i) {
        const bool fail = failing_.load();
        Post("p000", StripeBody("ch_" + std::to_string(i), fail ? "failed" : "succeeded"));
        if (fail && first_failure_.load() == Clock::time_point{}) {
          first_failure_.store(Clock::now());
        }
        std::this_thread::sleep_for(milliseconds(20));
      }
    });
  }
  void StopSender() {
    stop_sender_.store(true);
    if (sender_.joinable()) sender_.join();
  }

  std::filesystem::path dir_;
  Config config_;
  std::unique_ptr<EmbeddedLog> log_;
  std::unique_ptr<ops::OpsService> ops_;
  std::unique_ptr<edge::EdgeServer> edge_;
  std::uint16_t port_ = 0;
  std::thread sender_;
  std::atomic<bool> stop_sender_{false};
  std::atomic<bool> failing_{false};
  std::atomic<Clock::time_point> first_failure_{Clock::time_point{}};
};

TEST_F(OpsHttpTest, AnArrivalIsVisibleInThePartnersApiWithinOneSecondOfIts2xx) {
  Start(3);
  ASSERT_EQ(Post("p001", StripeBody("ch_fresh")), 202);
  const auto acknowledged = Clock::now();
  const json* row = nullptr;
  json partners;
  while (Clock::now() - acknowledged < seconds(3)) {
    partners = GetJson("/api/ops/partners");
    row = FindPartner(partners, "p001");
    if (row != nullptr && (*row)["events_total"] == 1) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  const auto visible_after = Clock::now() - acknowledged;
  ASSERT_NE(row, nullptr);
  EXPECT_EQ((*row)["events_total"], 1);
  EXPECT_FALSE((*row)["last_seen"].is_null());
  EXPECT_LT(visible_after, seconds(1))
      << "visible after " << std::chrono::duration<double>(visible_after).count() << " s";
  EXPECT_EQ(partners["partners_total"], 3);
  EXPECT_EQ(FindPartner(partners, "p000")->at("state"), "silent");
}

TEST_F(OpsHttpTest, EdgeRejectionsCountInThePartnersSeries) {
  Start(1);
  // A forged signature: 401 at the edge, never in the queue, yet in p000's series.
  std::string forged = testing::SignedPost("p000", StripeBody("ch_x"));
  forged.replace(forged.find("v1=") + 3, 4, "0000");
  auto response = RoundTrip(port_, forged);
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 401);
  const json series = GetJson("/api/ops/series?partner=p000&window=60");
  std::uint64_t bad_signatures = 0;
  for (const json& count : series["errors"]["bad_signature"])
    bad_signatures += count.get<std::uint64_t>();
  EXPECT_EQ(bad_signatures, 1u);
  EXPECT_EQ(series["step_s"], 1);
  EXPECT_EQ(series["events"].size(), 60u);

  const json day = GetJson("/api/ops/series?partner=p000&window=24h");
  EXPECT_EQ(day["step_s"], 60);
  EXPECT_EQ(day["events"].size(), 1440u);
  auto bad = Get("/api/ops/series?partner=p000&window=2d");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(testing::ErrorCodeOf(*bad), "bad_query");
  auto unknown = Get("/api/ops/series?partner=nobody");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(OpsHttpTest, AnErrorRateAlertReachesARealReceiverWithin5sAndResolvesAfterRecovery) {
  AlertReceiver receiver(/*fail_first=*/1);
  Start(1, R"(
[[ops.alerts]]
name = "p000-errors"
kind = "error_rate"
threshold = 20
window_s = 5
min_events = 10
for_s = 1
resolve_hold_s = 2

[[ops.destinations]]
name = "receiver"
url = ")" + receiver.url() +
               R"("
backoff_initial_ms = 100
)");
  StartSender();
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(receiver.attempts(), 0) << "no alert while everything succeeds";
  failing_.store(true);
  const auto fired = receiver.WaitFor("firing", "p000-errors", seconds(10));
  ASSERT_TRUE(fired) << "no firing notification";
  const double latency_s = std::chrono::duration<double>(*fired - first_failure_.load()).count();
  EXPECT_LT(latency_s, 5.0) << "fired " << latency_s << " s after the first failure";
  EXPECT_GE(receiver.attempts(), 2) << "the receiver's first 503 was retried";

  const json alerts = GetJson("/api/ops/alerts");
  ASSERT_EQ(alerts["active"].size(), 1u);
  EXPECT_EQ(alerts["active"][0]["state"], "firing");
  EXPECT_EQ(alerts["active"][0]["subject"], "p000");

  failing_.store(false);
  ASSERT_TRUE(receiver.WaitFor("resolved", "p000-errors", seconds(15))) << "never resolved";
  EXPECT_EQ(receiver.Count("firing", "p000-errors"), 1);
  const json after = GetJson("/api/ops/alerts");
  EXPECT_TRUE(after["active"].empty());
  EXPECT_EQ(after["recent"][0]["state"], "resolved");
}

TEST_F(OpsHttpTest, ASilentPartnerRaisesItsAlert) {
  AlertReceiver receiver;
  // p001 is expected to send at least every 2 s.
  Start(2, "\n[[ops.destinations]]\nurl = \"" + receiver.url() + "\"\n",
        [](Config& config) { config.partners[1].silence_alert_s = 2; });
  // Not "down" at once: silence counts from the start until the partner is first seen.
  EXPECT_EQ(FindPartner(GetJson("/api/ops/partners"), "p001")->at("state"), "silent");
  const auto fired = receiver.WaitFor("firing", "partner_silent", seconds(6));
  ASSERT_TRUE(fired);
  const json alerts = GetJson("/api/ops/alerts");
  ASSERT_EQ(alerts["active"].size(), 1u);
  EXPECT_EQ(alerts["active"][0]["subject"], "p001");
  EXPECT_EQ(FindPartner(GetJson("/api/ops/partners"), "p001")->at("state"), "down");
  ASSERT_EQ(Post("p001", StripeBody("ch_back")), 202);
  EXPECT_TRUE(receiver.WaitFor("resolved", "partner_silent", seconds(4)));
}

TEST_F(OpsHttpTest, TheOpsTokenProtectsApiAndMetricsButNotHealthOrWebhooks) {
  setenv("FIREHOSE_TEST_OPS_TOKEN", "s3cret-ops-token", 1);
  Start(1, "", [](Config& config) {
    bool literal = false;
    config.server.ops_token = *ResolveSecret("env:FIREHOSE_TEST_OPS_TOKEN", "/tmp", &literal);
  });
  for (std::string target :
       {"/api/ops/partners", "/api/ops/alerts", "/metrics", "/api/ops/stream"}) {
    auto denied = Get(target);
    ASSERT_TRUE(denied) << target;
    EXPECT_EQ(denied->status, 401) << target;
    EXPECT_EQ(testing::ErrorCodeOf(*denied), "unauthorized");
    auto wrong = Get(target, {{"Authorization", "Bearer s3cret-ops-tokem"}});
    EXPECT_EQ(wrong->status, 401) << target;
  }
  auto allowed = Get("/api/ops/partners", {{"Authorization", "Bearer s3cret-ops-token"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);
  EXPECT_EQ(Get("/healthz")->status, 200);
  EXPECT_EQ(Get("/")->status, 200);  // the page itself holds no data; its API calls need the token
  EXPECT_EQ(Post("p000", StripeBody("ch_1")), 202);
}

TEST_F(OpsHttpTest, TheStreamSendsAnUpdateEverySecondAndRefusesSubscribersBeyondTheLimit) {
  Start(2, "", [](Config& config) { config.limits.sse_clients_max = 1; });
  RawClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/api/ops/stream")));
  auto head = client.ReadUntil("\r\n\r\n", seconds(2));
  ASSERT_TRUE(head);
  EXPECT_NE(head->find("200"), std::string::npos);
  EXPECT_NE(head->find("text/event-stream"), std::string::npos);
  ASSERT_TRUE(client.ReadUntil("event: update", seconds(2)));  // at once
  ASSERT_TRUE(client.ReadUntil("\n\n", seconds(2)));
  const auto first = Clock::now();
  ASSERT_TRUE(client.ReadUntil("event: update", seconds(3)));  // the next tick
  EXPECT_LT(Clock::now() - first, milliseconds(1500));
  auto refused = Get("/api/ops/stream");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(testing::ErrorCodeOf(*refused), "too_many_subscribers");
}

TEST_F(OpsHttpTest, TheDashboardIsServedFromTheBinary) {
  Start(1);
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->Header("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("/dashboard/chart.min.js"), std::string::npos);
  auto chart = Get("/dashboard/chart.min.js");
  ASSERT_TRUE(chart);
  EXPECT_EQ(chart->status, 200);
  EXPECT_NE(chart->body.find("Chart.js v3"), std::string::npos);
}

// promtool (Debian's prometheus package) judges the exposition; skipped where it is missing.
TEST_F(OpsHttpTest, MetricsAreValidPrometheusTextExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "no promtool";
  Start(2);
  ASSERT_EQ(Post("p000", StripeBody("ch_1")), 202);
  ASSERT_EQ(Post("p000", StripeBody("ch_1", "failed")), 202);
  std::this_thread::sleep_for(milliseconds(1200));  // a tick sets the ops gauges
  auto metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  ASSERT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->Header("Content-Type").find("text/plain; version=0.0.4"), std::string::npos);
  for (std::string_view family :
       {"firehose_received_total{", "firehose_edge_request_seconds_bucket{",
        "firehose_consumer_lag_records{consumer=\"ops\"}", "firehose_queue_bytes",
        "firehose_ops_partner_events_per_second{partner=\"p000\"}"}) {
    EXPECT_NE(metrics->body.find(family), std::string::npos) << family;
  }
  const std::filesystem::path file = dir_ / "metrics.txt";
  std::ofstream(file) << metrics->body;
  const std::string command = "promtool check metrics < " + file.string() + " > " +
                              (dir_ / "promtool.out").string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream out(dir_ / "promtool.out");
  const std::string report((std::istreambuf_iterator<char>(out)), {});
  EXPECT_EQ(WEXITSTATUS(status), 0) << report;
}

}  // namespace
}  // namespace firehose
