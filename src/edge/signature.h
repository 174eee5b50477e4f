// Webhook signature schemes (DESIGN §3): signing (for the simulator and tests) and
// verification (for the edge). Verification compares in constant time, checks the timestamp
// against a tolerance in both directions, and accepts any of several active secrets so that
// a partner can rotate without downtime.
//
//   Stripe            Stripe-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//                     (several v1= entries allowed; other schemes such as v0= are ignored).
//                     The HMAC key is the secret string's bytes.
//   Standard Webhooks webhook-id: <id>, webhook-timestamp: <unix s>,
//                     webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")> [...]
//                     (space-separated list). The key is the base64 decoding of the secret
//                     after its "whsec_" prefix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"
#include "core/types.h"

namespace firehose::edge {

enum class SignatureFailure : std::uint8_t {
  kNone,
  kMissingHeader,      // a required header is absent
  kMalformedHeader,    // present but not in the scheme's syntax
  kTimestampTooOld,    // outside the tolerance, in the past
  kTimestampInFuture,  // outside the tolerance, in the future
  kNoMatch,            // well-formed, but no signature matches any active secret
  kBadSecret,          // a configured secret cannot be used (not base64 for Standard Webhooks)
};

std::string_view SignatureFailureName(SignatureFailure failure);  // "signature_no_match", ...

struct Verification {
  SignatureFailure failure = SignatureFailure::kNone;
  bool ok() const { return failure == SignatureFailure::kNone; }
  // What to keep in the queue record: "whid:<webhook-id>" or "stripe:t=<timestamp>".
  std::string signature_id;
};

Verification VerifyStripe(std::string_view signature_header, std::string_view body,
                          const std::vector<Secret>& secrets, TimestampUs now,
                          std::int64_t tolerance_s);

Verification VerifyStandardWebhooks(std::string_view webhook_id, std::string_view webhook_timestamp,
                                    std::string_view webhook_signature, std::string_view body,
                                    const std::vector<Secret>& secrets, TimestampUs now,
                                    std::int64_t tolerance_s);

// The Stripe-Signature header value for `body` signed at `timestamp_s`.
std::string SignStripe(std::string_view secret, std::int64_t timestamp_s, std::string_view body);
// The webhook-signature header value ("v1,<base64>"); empty if the secret is not valid base64.
std::string SignStandardWebhooks(std::string_view secret, std::string_view webhook_id,
                                 std::int64_t timestamp_s, std::string_view body);

// Base64 (RFC 4648, with padding), used by Standard Webhooks and the lake's quarantine zone.
std::string Base64Encode(std::string_view bytes);
bool Base64Decode(std::string_view text, std::string* out);

}  // namespace firehose::edge
