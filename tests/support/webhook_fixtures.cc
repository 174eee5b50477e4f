#include "support/webhook_fixtures.h"

#include <gtest/gtest.h>

#include "core/time.h"
#include "edge/signature.h"

namespace firehose::testing {

namespace {

constexpr std::string_view kLimits = R"(
[limits]
body_bytes_max = 4096
batch_events_max = 3
in_flight_appends_max = 16
header_timeout_ms = 1000
body_timeout_ms = 1000
idle_timeout_ms = 2000
write_timeout_ms = 1000
retry_after_s = 7
)";

constexpr std::string_view kPartners = R"(
[mappings.stripe_like]
txn_id = "/data/object/id"
amount = "/data/object/amount"
amount_format = "minor_units"
currency = "/data/object/currency"
status = "/data/object/status"
event_time = "/created"
event_time_format = "unix_s"
[mappings.stripe_like.status_map]
succeeded = "succeeded"
failed = "failed"

[mappings.batch]
batch = "/events"
txn_id = "/id"
amount = "/amount"
currency = "/currency"
status = "/status"
event_time = "/at"
[mappings.batch.status_map]
ok = "succeeded"

[[partners]]
id = "acme"
mode = "webhook"
mapping = "stripe_like"
signature = "stripe"
secrets = ["whsec_old_rotated_out", "whsec_acme_test_secret"]
rate_limit_rps = 0

[[partners]]
id = "standard"
mode = "webhook"
mapping = "stripe_like"
signature = "standard_webhooks"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]

[[partners]]
id = "limited"
mode = "webhook"
mapping = "stripe_like"
signature = "stripe"
secrets = ["whsec_acme_test_secret"]
rate_limit_rps = 0.01
rate_limit_burst = 2

[[partners]]
id = "batcher"
mode = "webhook"
mapping = "batch"
signature = "stripe"
secrets = ["whsec_acme_test_secret"]

[[partners]]
id = "poller"
mode = "poll"
mapping = "stripe_like"
[partners.poll]
url = "http://127.0.0.1:1/v1/transactions"
)";

}  // namespace

Config WebhookTestConfig(std::string_view extra_limits) {
  const std::string text =
      std::string(kLimits) + std::string(extra_limits) + std::string(kPartners);
  ConfigLoad load = ParseConfig(text, "/tmp");
  if (!load.config) {
    ADD_FAILURE() << load.problems.front().key << ": " << load.problems.front().message;
    return {};
  }
  load.config->server.listen_host = "127.0.0.1";
  load.config->server.listen_port = 0;
  load.config->server.io_threads = 2;
  return std::move(*load.config);
}

HeaderList StripeHeaders(std::string_view body, std::string_view secret, std::int64_t timestamp_s) {
  if (timestamp_s < 0) timestamp_s = NowUs().value() / 1'000'000;
  return {{"Content-Type", "application/json"},
          {"Stripe-Signature", edge::SignStripe(secret, timestamp_s, body)}};
}

std::string SignedPost(std::string_view partner, std::string_view body) {
  return BuildRequest("POST", "/v1/webhooks/" + std::string(partner), StripeHeaders(body), body);
}

std::string JsonStringField(std::string_view body, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\":\"";
  const std::size_t at = body.find(key);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + key.size();
  const std::size_t end = body.find('"', start);
  return end == std::string_view::npos ? std::string()
                                       : std::string(body.substr(start, end - start));
}

std::string ErrorCodeOf(const RawResponse& response) {
  const std::string code = JsonStringField(response.body, "error");
  return code.empty() ? "(no error code in " + response.body + ")" : code;
}

}  // namespace firehose::testing
