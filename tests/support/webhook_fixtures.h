// Partners, mappings and signed requests shared by the edge's tests: a config with a Stripe
// partner ("acme", unlimited), a Standard Webhooks partner ("standard"), a rate-limited one
// ("limited": burst 2, then 1 per 100 s), a batch partner ("batcher") and a poll partner
// ("poller", not served by the webhook route).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/config.h"
#include "support/raw_http.h"

namespace firehose::testing {

inline constexpr std::string_view kAcmeSecret = "whsec_acme_test_secret";
inline constexpr std::string_view kStandardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// One Stripe-like event that maps cleanly with the "stripe_like" mapping.
inline constexpr std::string_view kEvent =
    R"({"id":"evt_1","created":1764201600,"data":{"object":{"id":"ch_1","amount":1234,"currency":"usd","status":"succeeded"}}})";

// The config above, listening on 127.0.0.1:0 with 2 io threads. `extra_limits` is TOML put
// under [limits] (e.g. "queue_bytes_max = 1048576\n"). Fails the current test on a problem.
Config WebhookTestConfig(std::string_view extra_limits = "");

// Content-Type + a Stripe-Signature of `body` made with `secret` at `timestamp_s` (default now).
HeaderList StripeHeaders(std::string_view body, std::string_view secret = kAcmeSecret,
                         std::int64_t timestamp_s = -1);

// A complete signed POST /v1/webhooks/<partner>.
std::string SignedPost(std::string_view partner, std::string_view body);

// The "error" code of a JSON error body, or a description of what was there instead.
std::string ErrorCodeOf(const RawResponse& response);

// The value of a top-level string field in a JSON body ("arrival_id"), or empty.
std::string JsonStringField(std::string_view body, std::string_view name);

}  // namespace firehose::testing
