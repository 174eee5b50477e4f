// The webhook endpoint over real HTTP on 127.0.0.1, with an in-memory queue whose completions
// and failures the tests control (tests/integration/edge_http_test.cc runs the same table
// against the real embedded log).
#include "edge/webhook_handler.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/metrics.h"
#include "core/time.h"
#include "edge/edge_server.h"
#include "edge/signature.h"
#include "support/memory_queue.h"
#include "support/raw_http.h"
#include "support/webhook_fixtures.h"

namespace firehose::edge {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BuildRequest;
using testing::ErrorCodeOf;
using testing::HeaderList;
using testing::kAcmeSecret;
using testing::kEvent;
using testing::kStandardSecret;
using testing::MemoryQueue;
using testing::RawClient;
using testing::RawResponse;
using testing::RoundTrip;
using testing::SignedPost;
using testing::StripeHeaders;

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(testing::WebhookTestConfig()); }
  void TearDown() override {
    if (edge_) edge_->Stop(seconds(1));
    queue_->Shutdown();
    edge_.reset();
  }

  void Start(Config config,
             std::uint64_t queue_bytes_max = std::numeric_limits<std::uint64_t>::max()) {
    if (edge_) {
      edge_->Stop(seconds(1));
      queue_->Shutdown();
      edge_.reset();
    }
    config_ = std::move(config);
    queue_ = std::make_unique<MemoryQueue>(queue_bytes_max);
    edge_ = std::make_unique<EdgeServer>(config_, *queue_);
    ASSERT_TRUE(edge_->Start().ok());
    port_ = edge_->port();
    baseline_ = Snapshot();
  }

  struct Counts {
    std::uint64_t received = 0, accepted = 0, rejected = 0;
  };
  // Edge counters for one partner label, as a difference from the test's start.
  Counts Snapshot(std::string_view partner = "") {
    Labels filter = {{"stage", "edge"}};
    if (!partner.empty()) filter.emplace_back("partner", std::string(partner));
    return {Metrics().SumCounters("firehose_received_total", filter),
            Metrics().SumCounters("firehose_accepted_total", filter),
            Metrics().SumCounters("firehose_rejected_total", filter)};
  }
  std::uint64_t Rejected(std::string_view partner, std::string_view reason) {
    return Metrics().SumCounters(
        "firehose_rejected_total",
        {{"stage", "edge"}, {"partner", std::string(partner)}, {"reason", std::string(reason)}});
  }
  std::optional<RawResponse> Post(std::string_view raw) { return RoundTrip(port_, raw); }

  Config config_;
  std::unique_ptr<MemoryQueue> queue_;
  std::unique_ptr<EdgeServer> edge_;
  std::uint16_t port_ = 0;
  Counts baseline_;
};

TEST_F(WebhookTest, AValidWebhookIs202WithItsArrivalAndTheRecordHoldsTheVerbatimBytes) {
  const std::uint64_t accepted_before = Snapshot("acme").accepted;
  const std::string body = std::string(kEvent) + "  \n";  // trailing bytes kept as sent
  auto response = Post(SignedPost("acme", body));
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 202) << response->body;
  const std::vector<QueueRecord> records = queue_->records();
  ASSERT_EQ(records.size(), 1u);
  const QueueRecord& record = records.front();
  EXPECT_EQ(record.body, body);
  EXPECT_EQ(record.partner_id.str(), "acme");
  EXPECT_EQ(record.source, ArrivalSource::kWebhook);
  EXPECT_EQ(record.remote_address, "127.0.0.1");
  EXPECT_TRUE(record.signature_id.starts_with("stripe:t=")) << record.signature_id;
  EXPECT_NEAR(static_cast<double>(record.received_at.value()), static_cast<double>(NowUs().value()),
              10e6);
  EXPECT_EQ(response->body,
            R"({"arrival_id":")" + record.arrival_id.str() + R"(","events":1,"quarantined":0})");
  EXPECT_EQ(Snapshot("acme").accepted, accepted_before + 1);
}

TEST_F(WebhookTest, TheAnswerWaitsForTheDurableAppend) {
  queue_->Hold(true);
  RawClient client(port_);
  ASSERT_TRUE(client.Send(SignedPost("acme", kEvent)));
  EXPECT_FALSE(client.Read(milliseconds(300)));  // not durable yet: no answer
  EXPECT_EQ(queue_->pending(), 1u);
  EXPECT_EQ(edge_->webhooks().appends_in_flight(), 1);
  queue_->Hold(false);
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(queue_->records().size(), 1u);
}

TEST_F(WebhookTest, SeveralWebhooksOnOneKeepAliveConnection) {
  RawClient client(port_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.Send(SignedPost("acme", kEvent)));
    auto response = client.Read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 202);
  }
  EXPECT_EQ(queue_->records().size(), 5u);
}

TEST_F(WebhookTest, StandardWebhooksSignaturesVerify) {
  const std::int64_t now_s = NowUs().value() / 1'000'000;
  const std::string body(kEvent);
  const HeaderList headers = {
      {"Content-Type", "application/json"},
      {"webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"},
      {"webhook-timestamp", std::to_string(now_s)},
      {"webhook-signature",
       SignStandardWebhooks(kStandardSecret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now_s, body)}};
  auto response = Post(BuildRequest("POST", "/v1/webhooks/standard", headers, body));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202) << response->body;
  ASSERT_EQ(queue_->records().size(), 1u);
  EXPECT_EQ(queue_->records().front().signature_id, "whid:msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
}

TEST_F(WebhookTest, BadOrMissingSignaturesAre401AndNothingLands) {
  const std::string body(kEvent);
  const std::int64_t now_s = NowUs().value() / 1'000'000;
  struct Case {
    HeaderList headers;
    const char* code;
  };
  const std::vector<Case> cases = {
      {{{"Content-Type", "application/json"}}, "signature_missing"},
      {StripeHeaders(body, "whsec_wrong"), "signature_no_match"},
      {{{"Content-Type", "application/json"}, {"Stripe-Signature", "garbage"}},
       "signature_malformed"},
      {StripeHeaders(body, kAcmeSecret, now_s - 3600), "signature_timestamp_too_old"},
      {StripeHeaders(body, kAcmeSecret, now_s + 3600), "signature_timestamp_in_future"},
      {StripeHeaders(body + " ", kAcmeSecret), "signature_no_match"},  // signed other bytes
  };
  for (const Case& test_case : cases) {
    const std::uint64_t before = Rejected("acme", test_case.code);
    auto response = Post(BuildRequest("POST", "/v1/webhooks/acme", test_case.headers, body));
    ASSERT_TRUE(response) << test_case.code;
    EXPECT_EQ(response->status, 401) << test_case.code;
    EXPECT_EQ(ErrorCodeOf(*response), test_case.code);
    EXPECT_EQ(Rejected("acme", test_case.code), before + 1) << test_case.code;
  }
  EXPECT_TRUE(queue_->records().empty());
}

TEST_F(WebhookTest, UnknownPartnersAndPathGarbageAre404UnderTheUnknownLabel) {
  const std::uint64_t before = Rejected("_unknown", "unknown_partner");
  const std::vector<std::string> paths = {
      "/v1/webhooks/nobody",  "/v1/webhooks/ACME",   "/v1/webhooks/acme/extra",
      "/v1/webhooks/../acme", "/v1/webhooks/acm",    "/v1/webhooks/acme%20",
      "/v1/webhooks/",        "/v1/webhooks/poller", "/v1/webhooks/" + std::string(65, 'a'),
      "/v1/webhooks/acme/",   "/v1/webhooks//acme"};
  for (const std::string& path : paths) {
    auto response = Post(BuildRequest("POST", path, StripeHeaders(kEvent), kEvent));
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
    EXPECT_EQ(ErrorCodeOf(*response), "unknown_partner") << path;
  }
  EXPECT_EQ(Rejected("_unknown", "unknown_partner"), before + paths.size());
  EXPECT_TRUE(queue_->records().empty());
  const std::string exposition = Metrics().Expose();
  EXPECT_EQ(exposition.find("nobody"), std::string::npos);
  EXPECT_EQ(exposition.find("partner=\"ACME\""), std::string::npos);
}

TEST_F(WebhookTest, AnUnmappableBodyStillLandsAndIs202WithTheQuarantineReason) {
  const std::string body = R"({"not":"what the mapping expects"})";
  auto response = Post(SignedPost("acme", body));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_NE(
      response->body.find(R"("events":0,"quarantined":1,"quarantine_reason":"missing_field")"),
      std::string::npos)
      << response->body;
  ASSERT_EQ(queue_->records().size(), 1u);
  EXPECT_EQ(queue_->records().front().body, body);

  const std::string not_json = "{this is not json";
  response = Post(SignedPost("acme", not_json));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_NE(response->body.find(R"("quarantine_reason":)"), std::string::npos);
  EXPECT_EQ(queue_->records().back().body, not_json);
}

TEST_F(WebhookTest, ABatchIsCountedAndOneBadElementIsQuarantinedNotTheBatch) {
  const std::string body =
      R"({"events":[{"id":"a","amount":"1.00","currency":"EUR","status":"ok","at":"2026-11-27T10:00:00Z"},)"
      R"({"id":"b","amount":"2.00","currency":"EUR","status":"ok","at":"2026-11-27T10:00:00Z"},)"
      R"({"id":"c","amount":"x","currency":"EUR","status":"ok","at":"2026-11-27T10:00:00Z"}]})";
  auto response = Post(SignedPost("batcher", body));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_NE(response->body.find(R"("events":2,"quarantined":1})"), std::string::npos)
      << response->body;
}

TEST_F(WebhookTest, ABatchOverBatchEventsMaxIs413) {
  std::string body = R"({"events":[)";
  for (int i = 0; i < 4; ++i) {
    if (i > 0) body += ",";
    body += R"({"id":"t)" + std::to_string(i) +
            R"(","amount":"1.00","currency":"EUR","status":"ok","at":"2026-11-27T10:00:00Z"})";
  }
  body += "]}";
  auto response = Post(SignedPost("batcher", body));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(ErrorCodeOf(*response), "batch_too_large");
  EXPECT_TRUE(queue_->records().empty());
}

TEST_F(WebhookTest, ABodyOverTheLimitIs413BeforeItIsReadAndNothingLands) {
  const std::uint64_t before = Rejected("acme", "body_too_large");
  const std::string big(5000, ' ');
  auto response = Post(SignedPost("acme", big));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(ErrorCodeOf(*response), "body_too_large");
  // Chunked: refused by the server once the limit is passed, still counted for the partner.
  RawClient chunked(port_);
  HeaderList headers = StripeHeaders(big);
  headers.emplace_back("Transfer-Encoding", "chunked");
  ASSERT_TRUE(chunked.Send(BuildRequest("POST", "/v1/webhooks/acme", headers)));
  const std::string chunk = "400\r\n" + std::string(0x400, ' ') + "\r\n";
  for (int i = 0; i < 5; ++i) chunked.Send(chunk);
  response = chunked.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(Rejected("acme", "body_too_large"), before + 2);
  EXPECT_TRUE(queue_->records().empty());
}

TEST_F(WebhookTest, OnlyJsonContentTypesAreAccepted) {
  HeaderList headers = StripeHeaders(kEvent);
  headers[0].second = "text/plain";
  auto response = Post(BuildRequest("POST", "/v1/webhooks/acme", headers, kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 415);
  EXPECT_EQ(ErrorCodeOf(*response), "unsupported_media_type");
  headers.erase(headers.begin());
  response = Post(BuildRequest("POST", "/v1/webhooks/acme", headers, kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 415);
  headers.insert(headers.begin(), {"Content-Type", "Application/JSON; charset=utf-8"});
  response = Post(BuildRequest("POST", "/v1/webhooks/acme", headers, kEvent));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
}

TEST_F(WebhookTest, AFullQueueIs503WithRetryAfterAndNothingIsAcknowledgedThatIsNotStored) {
  Start(testing::WebhookTestConfig(), /*queue_bytes_max=*/2000);
  int accepted = 0;
  int unavailable = 0;
  for (int i = 0; i < 30; ++i) {
    auto response = Post(SignedPost("acme", kEvent));
    ASSERT_TRUE(response);
    if (response->status == 202) {
      ++accepted;
      continue;
    }
    ASSERT_EQ(response->status, 503) << response->body;
    EXPECT_EQ(ErrorCodeOf(*response), "queue_full");
    EXPECT_EQ(response->Header("Retry-After"), "7");
    ++unavailable;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(unavailable, 0);
  EXPECT_EQ(queue_->records().size(), static_cast<std::size_t>(accepted));
  auto ready = Post(BuildRequest("GET", "/readyz"));
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ErrorCodeOf(*ready), "queue_full");
}

TEST_F(WebhookTest, AppendFailuresAreNever2xx) {
  struct Case {
    Status status;
    int http_status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {ResourceExhausted("queue full: at queue_bytes_max"), 503, "queue_full"},
      {ResourceExhausted("writing segment: No space left on device"), 503, "disk_full"},
      {Unavailable("queue is shutting down"), 503, "shutting_down"},
      {Unavailable("jetstream: no responders"), 503, "queue_unavailable"},
      {Internal("fdatasync: Input/output error"), 500, "internal"},
  };
  for (const Case& test_case : cases) {
    queue_->FailNext(test_case.status);
    auto response = Post(SignedPost("acme", kEvent));
    ASSERT_TRUE(response) << test_case.code;
    EXPECT_EQ(response->status, test_case.http_status) << test_case.code;
    EXPECT_EQ(ErrorCodeOf(*response), test_case.code);
    EXPECT_EQ(response->Header("Retry-After").empty(), test_case.http_status != 503)
        << test_case.code;
  }
  EXPECT_TRUE(queue_->records().empty());
}

TEST_F(WebhookTest, ARateLimitedPartnerGets429WithRetryAfterAndForgeriesSpendNoTokens) {
  for (int i = 0; i < 5; ++i) {
    auto forged = Post(BuildRequest("POST", "/v1/webhooks/limited",
                                    StripeHeaders(kEvent, "whsec_forger"), kEvent));
    ASSERT_TRUE(forged);
    EXPECT_EQ(forged->status, 401);
  }
  for (int i = 0; i < 2; ++i) {
    auto response = Post(SignedPost("limited", kEvent));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 202) << i;  // the burst is intact
  }
  auto limited = Post(SignedPost("limited", kEvent));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(ErrorCodeOf(*limited), "rate_limited");
  EXPECT_GE(std::stoi(limited->Header("Retry-After")), 1);
  // Other partners are not affected.
  auto other = Post(SignedPost("acme", kEvent));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 202);
  EXPECT_EQ(queue_->records().size(), 3u);
}

TEST_F(WebhookTest, AppendsInFlightOverTheLimitAre503) {
  queue_->Hold(true);
  std::vector<std::unique_ptr<RawClient>> waiting;
  for (int i = 0; i < 16; ++i) {
    waiting.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(waiting.back()->Send(SignedPost("acme", kEvent)));
  }
  for (int i = 0; i < 500 && edge_->webhooks().appends_in_flight() < 16; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(edge_->webhooks().appends_in_flight(), 16);
  auto over = Post(SignedPost("acme", kEvent));
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 503);
  EXPECT_EQ(ErrorCodeOf(*over), "overloaded");
  queue_->Hold(false);
  for (auto& client : waiting) {
    auto response = client->Read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 202);
  }
  EXPECT_EQ(queue_->records().size(), 16u);
}

TEST_F(WebhookTest, HealthAndReadinessAndShutdown) {
  auto health = Post(BuildRequest("GET", "/healthz"));
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = Post(BuildRequest("GET", "/readyz"));
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  edge_->webhooks().BeginShutdown();
  ready = Post(BuildRequest("GET", "/readyz"));
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ErrorCodeOf(*ready), "shutting_down");
  auto webhook = Post(SignedPost("acme", kEvent));
  ASSERT_TRUE(webhook);
  EXPECT_EQ(webhook->status, 503);
  EXPECT_EQ(ErrorCodeOf(*webhook), "shutting_down");
  EXPECT_EQ(webhook->Header("Retry-After"), "7");
}

TEST_F(WebhookTest, StoppingFinishesAppendsInFlightWithTheirTrueAnswer) {
  queue_->Hold(true);
  RawClient client(port_);
  ASSERT_TRUE(client.Send(SignedPost("acme", kEvent)));
  for (int i = 0; i < 500 && queue_->pending() == 0; ++i)
    std::this_thread::sleep_for(milliseconds(5));
  std::thread release([&] {
    std::this_thread::sleep_for(milliseconds(200));
    queue_->Hold(false);
  });
  edge_->Stop(seconds(3));
  release.join();
  auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_EQ(queue_->records().size(), 1u);
}

TEST_F(WebhookTest, EveryRequestIsCountedAsAcceptedOrRejected) {
  Post(SignedPost("acme", kEvent));
  Post(SignedPost("acme", std::string(5000, ' ')));
  Post(BuildRequest("POST", "/v1/webhooks/acme", StripeHeaders(kEvent, "whsec_x"), kEvent));
  Post(SignedPost("nobody", kEvent));
  Post(SignedPost("limited", kEvent));
  const Counts now = Snapshot();
  const std::uint64_t received = now.received - baseline_.received;
  const std::uint64_t accepted = now.accepted - baseline_.accepted;
  const std::uint64_t rejected = now.rejected - baseline_.rejected;
  EXPECT_EQ(received, 5u);
  EXPECT_EQ(accepted + rejected, received);
  const Histogram& latency =
      Metrics().HistogramFor("firehose_edge_request_seconds", {{"code", "202"}});
  EXPECT_GT(latency.CumulativeCounts().back(), 0u);
}

TEST(ClassifyAppendFailure, MapsQueueStatusesToAnswers) {
  EXPECT_EQ(ClassifyAppendFailure(ResourceExhausted("queue full"), false).code, "queue_full");
  EXPECT_EQ(ClassifyAppendFailure(
                ResourceExhausted("too many appends in flight (in_flight_appends_max = 5)"), false)
                .code,
            "overloaded");
  EXPECT_EQ(ClassifyAppendFailure(ErrnoStatus("write", ENOSPC), false).code, "disk_full");
  EXPECT_EQ(ClassifyAppendFailure(ErrnoStatus("write", EDQUOT), false).code, "disk_full");
  EXPECT_EQ(ClassifyAppendFailure(Unavailable("backend down"), true).code, "shutting_down");
  EXPECT_EQ(ClassifyAppendFailure(Unavailable("backend down"), false).code, "queue_unavailable");
  const AppendFailureAnswer internal = ClassifyAppendFailure(Internal("fsync: EIO"), false);
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.code, "internal");
  EXPECT_EQ(ClassifyAppendFailure(DataLoss("crc"), false).status, 500);
  const AppendFailureAnswer too_large = ClassifyAppendFailure(
      InvalidArgument("queue record of 3145923 bytes is over record_bytes_max (2097152)"), false);
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(too_large.code, "body_too_large");
  EXPECT_EQ(ClassifyAppendFailure(InvalidArgument("something else"), false).status, 500);
}

}  // namespace
}  // namespace firehose::edge
