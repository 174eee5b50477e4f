// Fuzz target: webhook signature headers (edge/signature.h), both schemes. Input: byte 0 picks
// the scheme; the rest is split at '\n' into the header values and the body. Properties: no
// crash; hostile headers never verify (the secret is not in the input, and a forged signature
// would need an HMAC collision); a request signed with the real secret over the same fuzzed
// body and id always verifies; base64 decoding round-trips.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "edge/signature.h"

namespace firehose {
namespace {

constexpr std::string_view kStripeSecret = "whsec_fuzz_stripe_secret";
constexpr std::string_view kStandardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::int64_t kNowS = 1764201600;
constexpr std::int64_t kToleranceS = 300;

// Splits at the first `count` newlines: count + 1 parts (missing ones empty).
std::vector<std::string_view> Split(std::string_view text, std::size_t count) {
  std::vector<std::string_view> parts;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t at = text.find('\n');
    if (at == std::string_view::npos) {
      parts.push_back(text);
      text = {};
      continue;
    }
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  parts.push_back(text);
  return parts;
}

void FuzzStripe(std::string_view input) {
  // Static: each Secret is its own page-aligned, MADV_DONTDUMP allocation, and under ASan's
  // quarantine one per execution runs the process out of memory mappings.
  static const std::vector<Secret> secrets = {Secret(std::string(kStripeSecret), "fuzz")};
  const TimestampUs now(kNowS * 1'000'000);
  const auto parts = Split(input, 1);
  const edge::Verification forged =
      edge::VerifyStripe(parts[0], parts[1], secrets, now, kToleranceS);
  if (forged.ok()) {
    // Only a header carrying the true HMAC for its own timestamp may verify.
    const std::string_view id = forged.signature_id;
    FH_CHECK(id.starts_with("stripe:t="), "a verified Stripe request without its timestamp id");
    const std::int64_t timestamp_s = std::stoll(std::string(id.substr(9)));
    const std::string genuine = edge::SignStripe(kStripeSecret, timestamp_s, parts[1]);
    const std::string_view v1 = std::string_view(genuine).substr(genuine.find("v1="));
    FH_CHECK(parts[0].find(v1) != std::string_view::npos, "a forged Stripe signature verified");
  }
  const std::string header = edge::SignStripe(kStripeSecret, kNowS, parts[1]);
  FH_CHECK(edge::VerifyStripe(header, parts[1], secrets, now, kToleranceS).ok(),
           "a correctly signed Stripe request did not verify");
}

void FuzzStandard(std::string_view input) {
  static const std::vector<Secret> secrets = {Secret(std::string(kStandardSecret), "fuzz")};
  const TimestampUs now(kNowS * 1'000'000);
  const auto parts = Split(input, 3);
  // Any bytes as headers: only a crash or a wrong accept can fail here.
  (void)edge::VerifyStandardWebhooks(parts[0], parts[1], parts[2], parts[3], secrets, now,
                                     kToleranceS);
  // An empty webhook-id is a missing header (signature_missing), not a signable request.
  if (parts[0].empty()) return;
  const std::string signature =
      edge::SignStandardWebhooks(kStandardSecret, parts[0], kNowS, parts[3]);
  FH_CHECK(!signature.empty(), "the test secret did not sign");
  FH_CHECK(edge::VerifyStandardWebhooks(parts[0], std::to_string(kNowS), signature, parts[3],
                                        secrets, now, kToleranceS)
               .ok(),
           "a correctly signed Standard Webhooks request did not verify");
}

void FuzzBase64(std::string_view input) {
  std::string decoded;
  if (edge::Base64Decode(input, &decoded)) {
    std::string again;
    FH_CHECK(edge::Base64Decode(edge::Base64Encode(decoded), &again) && again == decoded,
             "decoded base64 does not re-encode to the same bytes");
  }
  std::string round_trip;
  FH_CHECK(edge::Base64Decode(edge::Base64Encode(input), &round_trip) && round_trip == input,
           "base64 does not round-trip");
}

}  // namespace
}  // namespace firehose

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      firehose::FuzzStripe(input);
      break;
    case 1:
      firehose::FuzzStandard(input);
      break;
    default:
      firehose::FuzzBase64(input);
      break;
  }
  return 0;
}
