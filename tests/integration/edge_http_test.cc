// The webhook edge end to end: real HTTP on 127.0.0.1 into a real EmbeddedLog in a temp dir.
// Every row of DESIGN §3's table, with its exact status, JSON error code and counter, and the
// queue's content read back through a consumer: what was acknowledged is there byte for byte,
// and nothing else is.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <thread>

#include "core/metrics.h"
#include "edge/edge_server.h"
#include "queue/embedded_log.h"
#include "support/raw_http.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BuildRequest;
using testing::ErrorCodeOf;
using testing::JsonStringField;
using testing::kEvent;
using testing::RawClient;
using testing::RawResponse;
using testing::RoundTrip;
using testing::SignedPost;
using testing::StripeHeaders;

std::uint64_t Rejected(std::string_view partner, std::string_view reason) {
  return Metrics().SumCounters(
      "firehose_rejected_total",
      {{"stage", "edge"}, {"partner", std::string(partner)}, {"reason", std::string(reason)}});
}

std::uint64_t Accepted(std::string_view partner) {
  return Metrics().SumCounters("firehose_accepted_total",
                               {{"stage", "edge"}, {"partner", std::string(partner)}});
}

class EdgeHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/firehose-edge-http-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (edge_) edge_->Stop(seconds(1));
    if (log_) log_->Shutdown();
    edge_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start(std::string_view extra_limits = "") {
    config_ = testing::WebhookTestConfig(extra_limits);
    auto log = EmbeddedLog::Open(dir_ / "queue", config_.limits);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
    edge_ = std::make_unique<edge::EdgeServer>(config_, *log_);
    ASSERT_TRUE(edge_->Start().ok());
    port_ = edge_->port();
  }

  // Every durable record, read through a fresh consumer.
  std::vector<QueueRecord> StoredRecords() {
    static int serial = 0;
    auto consumer = log_->OpenConsumer("check" + std::to_string(serial++));
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    std::vector<QueueRecord> records;
    if (!consumer.ok()) return records;
    for (;;) {
      auto batch = (*consumer)->Fetch(100000, 64 << 20, milliseconds(0));
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok() || batch->empty()) return records;
      for (Delivery& delivery : *batch) records.push_back(std::move(delivery.record));
    }
  }

  std::filesystem::path dir_;
  Config config_;
  std::unique_ptr<EmbeddedLog> log_;
  std::unique_ptr<edge::EdgeServer> edge_;
  std::uint16_t port_ = 0;
};

TEST_F(EdgeHttpTest, EveryRowOfTheContractTable) {
  Start();
  std::vector<std::pair<std::string, std::string>> acknowledged;  // arrival id, body

  // valid, durably appended -> 202, and the record is in the queue byte for byte
  const std::uint64_t accepted_before = Accepted("acme");
  const std::string valid = std::string(kEvent) + "\n";
  auto response = RoundTrip(port_, SignedPost("acme", valid));
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 202) << response->body;
  EXPECT_NE(response->body.find(R"("events":1,"quarantined":0)"), std::string::npos);
  acknowledged.emplace_back(JsonStringField(response->body, "arrival_id"), valid);
  EXPECT_EQ(Accepted("acme"), accepted_before + 1);

  // bad or missing signature -> 401, not stored, counted
  const std::uint64_t no_match = Rejected("acme", "signature_no_match");
  response = RoundTrip(port_, BuildRequest("POST", "/v1/webhooks/acme",
                                           StripeHeaders(kEvent, "whsec_forged"), kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(ErrorCodeOf(*response), "signature_no_match");
  EXPECT_EQ(Rejected("acme", "signature_no_match"), no_match + 1);
  const std::uint64_t missing = Rejected("acme", "signature_missing");
  response = RoundTrip(port_, BuildRequest("POST", "/v1/webhooks/acme",
                                           {{"Content-Type", "application/json"}}, kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(ErrorCodeOf(*response), "signature_missing");
  EXPECT_EQ(Rejected("acme", "signature_missing"), missing + 1);

  // unknown partner -> 404, counted under _unknown
  const std::uint64_t unknown = Rejected("_unknown", "unknown_partner");
  response = RoundTrip(port_, SignedPost("initech", kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(ErrorCodeOf(*response), "unknown_partner");
  EXPECT_EQ(Rejected("_unknown", "unknown_partner"), unknown + 1);

  // authenticated but unmappable -> 202, stored (the lake quarantines it)
  const std::string unmappable = R"({"totally":"different"})";
  response = RoundTrip(port_, SignedPost("acme", unmappable));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(JsonStringField(response->body, "quarantine_reason"), "missing_field");
  acknowledged.emplace_back(JsonStringField(response->body, "arrival_id"), unmappable);

  // body over the size limit -> 413, counted
  const std::uint64_t too_large = Rejected("acme", "body_too_large");
  response = RoundTrip(port_, SignedPost("acme", std::string(5000, ' ')));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(ErrorCodeOf(*response), "body_too_large");
  EXPECT_EQ(Rejected("acme", "body_too_large"), too_large + 1);

  // partner over its rate limit -> 429 + Retry-After
  for (int i = 0; i < 2; ++i) {
    response = RoundTrip(port_, SignedPost("limited", kEvent));
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 202);
    acknowledged.emplace_back(JsonStringField(response->body, "arrival_id"), std::string(kEvent));
  }
  const std::uint64_t limited = Rejected("limited", "rate_limited");
  response = RoundTrip(port_, SignedPost("limited", kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(ErrorCodeOf(*response), "rate_limited");
  EXPECT_GE(std::stoi(response->Header("Retry-After")), 1);
  EXPECT_EQ(Rejected("limited", "rate_limited"), limited + 1);

  // The queue holds exactly the acknowledged arrivals, in order, with their bytes.
  const std::vector<QueueRecord> stored = StoredRecords();
  ASSERT_EQ(stored.size(), acknowledged.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].arrival_id.str(), acknowledged[i].first) << i;
    EXPECT_EQ(stored[i].body, acknowledged[i].second) << i;
    EXPECT_EQ(stored[i].remote_address, "127.0.0.1");
    EXPECT_TRUE(stored[i].signature_id.starts_with("stripe:t=")) << stored[i].signature_id;
  }
}

TEST_F(EdgeHttpTest, AQueueAtItsLimitAnswers503AndAcknowledgesOnlyWhatItStored) {
  Start("queue_bytes_max = 1048576\nrecord_bytes_max = 8192\nsegment_bytes_max = 65536\n");
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<int> unavailable{0};
  std::atomic<int> unexpected{0};
  auto client = [&](int id) {
    auto connection = std::make_unique<RawClient>(port_);
    int refused_in_a_row = 0;
    for (int i = 0; refused_in_a_row < 20 && i < 5000; ++i) {
      const std::string body = std::string(R"({"client":)") + std::to_string(id) + R"(,"n":)" +
                               std::to_string(i) + R"(,"pad":")" + std::string(3000, 'p') + "\"}";
      if (!connection->connected() || !connection->Send(SignedPost("acme", body))) {
        connection = std::make_unique<RawClient>(port_);  // closed after a 503: reconnect
        continue;
      }
      auto response = connection->Read();
      if (!response) {
        ++unexpected;
        return;
      }
      if (response->status == 202) {
        refused_in_a_row = 0;
        std::lock_guard lock(mutex);
        acknowledged.insert(JsonStringField(response->body, "arrival_id"));
        continue;
      }
      ++refused_in_a_row;
      if (response->status != 503 || ErrorCodeOf(*response) != "queue_full" ||
          response->Header("Retry-After") != "7") {
        ++unexpected;
        return;
      }
      ++unavailable;
      if (response->Header("Connection") == "close")
        connection = std::make_unique<RawClient>(port_);
    }
  };
  std::thread first(client, 1);
  std::thread second(client, 2);
  first.join();
  second.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(unavailable.load(), 0);
  EXPECT_GT(acknowledged.size(), 100u);

  std::set<std::string> stored;
  for (const QueueRecord& record : StoredRecords()) stored.insert(record.arrival_id.str());
  EXPECT_EQ(stored, acknowledged);  // nothing acknowledged that is not stored, nothing extra

  auto ready = RoundTrip(port_, BuildRequest("GET", "/readyz"));
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ErrorCodeOf(*ready), "queue_full");
}

TEST_F(EdgeHttpTest, TheEdgeAppliesTheConfiguredHttpLimits) {
  Start();
  // header_bytes_max (default 16 KiB) -> 431
  auto response = RoundTrip(port_, BuildRequest("POST", "/v1/webhooks/acme",
                                                {{"X-Pad", std::string(20000, 'h')}}, kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  // A smuggling attempt -> 400 and close, the smuggled request never runs.
  RawClient smuggler(port_);
  ASSERT_TRUE(
      smuggler.Send("POST /v1/webhooks/acme HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                    SignedPost("acme", kEvent)));
  response = smuggler.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(smuggler.WaitClosed(seconds(2)));
  // header_timeout_ms = 1000 from the config closes a trickling client while others are served.
  RawClient slow(port_);
  ASSERT_TRUE(slow.Send("POST /v1/webhooks/acme HTTP/1.1\r\n"));
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    slow.Send("X-Drip: 1\r\n");
    if (i == 3) {
      auto served = RoundTrip(port_, SignedPost("acme", kEvent));
      ASSERT_TRUE(served);
      EXPECT_EQ(served->status, 202);
    }
    closed = slow.WaitClosed(milliseconds(100));
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
  EXPECT_TRUE(StoredRecords().size() == 1u);  // only the webhook that was served
}

}  // namespace
}  // namespace firehose
