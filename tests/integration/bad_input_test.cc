// The bad-input catalogue (docs/bad-input.md): hostile, malformed and oversized webhook
// requests against a running `firehose run` (the real binary, real HTTP on 127.0.0.1). One row
// per case, each checking the exact status, the JSON error code (or the quarantine reason of a
// 202), the counter that moved on /metrics, and at the end, after a graceful stop, that the lake
// holds exactly the arrivals that were acknowledged: nothing refused landed, nothing accepted
// was lost.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "support/raw_http.h"
#include "support/run_fixture.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using testing::BuildRequest;
using testing::ErrorCodeOf;
using testing::HeaderList;
using testing::JsonStringField;
using testing::kAcmeEuSecret;
using testing::kAcmeSecret;
using testing::RunServer;
using testing::StripeHeaders;

using Labels = std::map<std::string, std::string>;

// A single Stripe-like event whose transaction id, amount and the rest can be replaced.
std::string Event(std::string_view txn_id, std::string_view amount = "1234",
                  std::string_view extra = "") {
  return R"({"id":"evt","created":1764201600,)" + std::string(extra) +
         R"("data":{"object":{"id":")" + std::string(txn_id) + R"(","amount":)" +
         std::string(amount) + R"(,"currency":"usd","status":"succeeded"}}})";
}

std::string Signed(std::string_view partner, std::string_view body,
                   std::string_view secret = kAcmeSecret) {
  return BuildRequest("POST", "/v1/webhooks/" + std::string(partner), StripeHeaders(body, secret),
                      body);
}

// An event nested `levels` objects deep ({"a":{"a":...}}): stack exhaustion if parsed recursively.
std::string Nested(int levels) {
  std::string body;
  for (int i = 0; i < levels; ++i) body += R"({"a":)";
  body += "1";
  return body + std::string(levels, '}');
}

std::string Chunked(std::string_view target, const HeaderList& headers, std::size_t total_bytes) {
  std::string request = "POST " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "Transfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(4096, 'x');
  for (std::size_t sent = 0; sent < total_bytes; sent += chunk.size())
    request += "1000\r\n" + chunk + "\r\n";
  return request + "0\r\n\r\n";
}

// What a row expects.
struct Row {
  std::string name;
  std::string request;  // the exact bytes sent, on a fresh connection
  int status = 0;
  // For a refusal: the JSON "error" code. For a 202: the "quarantine_reason" ("" = mapped).
  std::string code;
  std::string counter;  // the counter family that moves by exactly one
  Labels labels;        // ... for the series with these labels
};

std::vector<Row> Catalogue() {
  const Labels acme_accepted = {{"stage", "edge"}, {"partner", "acme"}};
  auto rejected = [](std::string partner, std::string reason) {
    return Labels{
        {"stage", "edge"}, {"partner", std::move(partner)}, {"reason", std::move(reason)}};
  };
  const std::string nul_body = Event(std::string("nul") + '\0' + "byte");
  std::string batch = R"({"events":[)";
  for (int i = 0; i < 4; ++i) {
    batch += std::string(i ? "," : "") + R"({"id":"b)" + std::to_string(i) +
             R"(","amount":"1.00","currency":"usd","status":"ok","at":"2026-11-27T10:00:00Z"})";
  }
  batch += "]}";
  const std::string valid = Event("ch_valid");
  std::vector<Row> rows = {
      {"valid control", Signed("acme", valid), 202, "", "firehose_accepted_total", acme_accepted},
      {"invalid UTF-8", Signed("acme", Event("bad\xff\xfeutf8")), 202, "invalid_utf8",
       "firehose_accepted_total", acme_accepted},
      {"deeply nested JSON (40,000 levels)", Signed("acme", Nested(40000)), 202, "too_deep",
       "firehose_accepted_total", acme_accepted},
      {"huge number as the amount", Signed("acme", Event("ch_huge", std::string(400, '9'))), 202,
       "amount_overflow", "firehose_accepted_total", acme_accepted},
      {"huge number with an exponent", Signed("acme", Event("ch_exp", "1e400")), 202,
       "amount_exponent_notation", "firehose_accepted_total", acme_accepted},
      {"duplicate JSON keys", Signed("acme", Event("ch_dup", "1", R"("created":1764201601,)")), 202,
       "duplicate_key", "firehose_accepted_total", acme_accepted},
      {"NUL byte in a string", Signed("acme", nul_body), 202, "invalid_json",
       "firehose_accepted_total", acme_accepted},
      {"txn_id over the limit (129 bytes)", Signed("acme", Event(std::string(129, 't'))), 202,
       "txn_id_too_long", "firehose_accepted_total", acme_accepted},
      {"batch over batch_events_max (4 > 3)", Signed("batcher", batch), 413, "batch_too_large",
       "firehose_rejected_total", rejected("batcher", "batch_too_large")},
      {"missing Content-Type",
       BuildRequest("POST", "/v1/webhooks/acme",
                    {{"Stripe-Signature", StripeHeaders(valid)[1].second}}, valid),
       415, "unsupported_media_type", "firehose_rejected_total",
       rejected("acme", "unsupported_media_type")},
      {"a control character in Content-Type",
       BuildRequest("POST", "/v1/webhooks/acme",
                    {{"Content-Type", "application/json\x01; charset"},
                     {"Stripe-Signature", StripeHeaders(valid)[1].second}},
                    valid),
       400, "bad_request", "firehose_rejected_total", rejected("_unknown", "bad_request")},
      {"malformed Content-Type",
       BuildRequest(
           "POST", "/v1/webhooks/acme",
           {{"Content-Type", "application/"}, {"Stripe-Signature", StripeHeaders(valid)[1].second}},
           valid),
       415, "unsupported_media_type", "firehose_rejected_total",
       rejected("acme", "unsupported_media_type")},
      {"non-JSON Content-Type",
       BuildRequest("POST", "/v1/webhooks/acme",
                    {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Stripe-Signature", StripeHeaders(valid)[1].second}},
                    valid),
       415, "unsupported_media_type", "firehose_rejected_total",
       rejected("acme", "unsupported_media_type")},
      {"chunked body over body_bytes_max",
       Chunked("/v1/webhooks/acme", {{"Content-Type", "application/json"}}, 300 << 10), 413,
       "body_too_large", "firehose_rejected_total", rejected("acme", "body_too_large")},
      {"Content-Length over body_bytes_max",
       BuildRequest("POST", "/v1/webhooks/acme",
                    {{"Content-Type", "application/json"}, {"Content-Length", "1073741824"}}),
       413, "body_too_large", "firehose_rejected_total", rejected("acme", "body_too_large")},
      {"header section over header_bytes_max",
       BuildRequest("POST", "/v1/webhooks/acme", {{"X-Pad", std::string(20000, 'h')}}, valid), 431,
       "header_too_large", "firehose_rejected_total", rejected("_unknown", "header_too_large")},
      {"smuggling: Content-Length with Transfer-Encoding",
       "POST /v1/webhooks/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
           Signed("acme", Event("ch_smuggled_te")),
       400, "bad_transfer_encoding", "firehose_rejected_total",
       rejected("_unknown", "bad_transfer_encoding")},
      {"smuggling: two different Content-Lengths",
       "POST /v1/webhooks/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Content-Length: 0\r\nContent-Length: 5\r\n\r\n" +
           Signed("acme", Event("ch_smuggled_cl")),
       400, "bad_content_length", "firehose_rejected_total",
       rejected("_unknown", "bad_content_length")},
      {"smuggling: Transfer-Encoding other than chunked",
       "POST /v1/webhooks/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
       400, "bad_transfer_encoding", "firehose_rejected_total",
       rejected("_unknown", "bad_transfer_encoding")},
      {"path traversal: ../ before the partner", Signed("../webhooks/acme", valid), 404,
       "unknown_partner", "firehose_rejected_total", rejected("_unknown", "unknown_partner")},
      {"path traversal: ../ after the partner", Signed("acme/../acme", valid), 404,
       "unknown_partner", "firehose_rejected_total", rejected("_unknown", "unknown_partner")},
      {"path traversal: percent-encoded", Signed("%2e%2e%2facme", valid), 404, "unknown_partner",
       "firehose_rejected_total", rejected("_unknown", "unknown_partner")},
      {"partner segment with a NUL byte", Signed(std::string("acme") + '\0', valid), 400,
       "bad_request", "firehose_rejected_total", rejected("_unknown", "bad_request")},
      {"unknown partner", Signed("initech", valid), 404, "unknown_partner",
       "firehose_rejected_total", rejected("_unknown", "unknown_partner")},
      {"a prefix of a partner id (acm)", Signed("acm", valid), 404, "unknown_partner",
       "firehose_rejected_total", rejected("_unknown", "unknown_partner")},
      {"a partner id extended (acme-euro)", Signed("acme-euro", valid), 404, "unknown_partner",
       "firehose_rejected_total", rejected("_unknown", "unknown_partner")},
      {"acme's signature sent to acme-eu (acme is its prefix)", Signed("acme-eu", valid), 401,
       "signature_no_match", "firehose_rejected_total", rejected("acme-eu", "signature_no_match")},
      {"acme-eu's own signature (control)",
       Signed("acme-eu", valid, kAcmeEuSecret),
       202,
       "",
       "firehose_accepted_total",
       {{"stage", "edge"}, {"partner", "acme-eu"}}},
  };
  return rows;
}

TEST(BadInputCatalogue, EveryRowGetsItsAnswerItsCounterAndNothingLandsThatWasNotAcknowledged) {
  testing::TempDir dir;
  RunServer server(dir.path(), testing::WithLimits("body_bytes_max = 262144\nbatch_events_max = 3\n"
                                                   "header_bytes_max = 8192\n"));
  ASSERT_TRUE(server.Start());
  const bool metrics_served = server.Counter("firehose_received_total", {}).has_value();
  if (!metrics_served) {
    std::printf(
        "NOTE: this build serves no /metrics (the ops path adds it): counters not checked\n");
  }

  std::map<std::string, std::vector<std::string>> acknowledged;  // arrival id -> reasons
  for (const Row& row : Catalogue()) {
    SCOPED_TRACE(row.name);
    const std::optional<std::uint64_t> before = server.Counter(row.counter, row.labels);
    const auto response = testing::RoundTrip(server.port(), row.request, std::chrono::seconds(10));
    ASSERT_TRUE(response) << "no answer";
    EXPECT_EQ(response->status, row.status) << response->body;
    EXPECT_EQ(response->Header("Content-Type"), "application/json");
    if (row.status == 202) {
      const std::string arrival = JsonStringField(response->body, "arrival_id");
      EXPECT_EQ(arrival.size(), 26u) << response->body;
      EXPECT_EQ(JsonStringField(response->body, "quarantine_reason"), row.code) << response->body;
      acknowledged[arrival].push_back(row.code);
    } else {
      EXPECT_EQ(ErrorCodeOf(*response), row.code) << response->body;
      EXPECT_NE(JsonStringField(response->body, "message"), "") << response->body;
    }
    if (metrics_served) {
      EXPECT_EQ(server.Counter(row.counter, row.labels), *before + 1)
          << row.counter << " did not move by one";
    }
  }
  // The server still serves after all of it.
  const auto after = testing::RoundTrip(server.port(), Signed("acme", Event("ch_after")));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 202);
  acknowledged[JsonStringField(after->body, "arrival_id")].push_back("");

  testing::WaitForLakeArrivals(server.data_dir(), acknowledged.size(), std::chrono::seconds(20));
  ASSERT_EQ(server.Stop(), 0);
  EXPECT_EQ(testing::LakeArrivals(server.data_dir()), acknowledged)
      << "the lake must hold exactly the acknowledged arrivals, each as mapped or quarantined";
  std::string verify;
  EXPECT_EQ(testing::RunCommand({testing::FirehoseBinary(), "lake", "verify", "--data-dir",
                                 server.data_dir().string()},
                                &verify),
            0)
      << verify;
}

}  // namespace
}  // namespace firehose
