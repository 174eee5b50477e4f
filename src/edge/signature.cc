#include "edge/signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <charconv>

#include "core/hex.h"

namespace firehose::edge {

namespace {

constexpr std::string_view kStandardSecretPrefix = "whsec_";
constexpr std::size_t kSha256Bytes = 32;

// One HMAC-SHA256 context per thread, its digest set once: each call only re-keys it. A fresh
// context per call (EVP_MAC_CTX_new + a "digest" parameter) looked SHA256 up in the provider
// store under a lock and made ~9 allocations per signature on the io threads.
class ThreadHmac {
 public:
  ThreadHmac() {
    static EVP_MAC* const kHmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    FH_CHECK(kHmac != nullptr, "OpenSSL has no HMAC");
    context_ = EVP_MAC_CTX_new(kHmac);
    FH_CHECK(context_ != nullptr, "EVP_MAC_CTX_new failed");
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
                                 OSSL_PARAM_construct_end()};
    FH_CHECK(EVP_MAC_CTX_set_params(context_, params) == 1, "HMAC digest SHA256 refused");
  }
  ~ThreadHmac() { EVP_MAC_CTX_free(context_); }
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;

  std::string Sign(std::string_view key, std::initializer_list<std::string_view> parts) {
    FH_CHECK(EVP_MAC_init(context_, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                          nullptr) == 1,
             "EVP_MAC_init failed");
    for (std::string_view part : parts) {
      EVP_MAC_update(context_, reinterpret_cast<const unsigned char*>(part.data()), part.size());
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    std::size_t digest_size = 0;
    EVP_MAC_final(context_, digest, &digest_size, sizeof digest);
    return std::string(reinterpret_cast<const char*>(digest), digest_size);
  }

 private:
  EVP_MAC_CTX* context_ = nullptr;
};

std::string HmacSha256(std::string_view key, std::initializer_list<std::string_view> parts) {
  if (key.empty()) return {};  // matches nothing: an empty key is never a valid secret
  thread_local ThreadHmac hmac;
  return hmac.Sign(key, parts);
}

// Equal-length inputs are compared in time independent of their contents.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ParseUnixSeconds(std::string_view text, std::int64_t* out) {
  if (text.empty() || text.size() > 12) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size() && *out >= 0;
}

SignatureFailure CheckTolerance(std::int64_t timestamp_s, TimestampUs now,
                                std::int64_t tolerance_s) {
  const std::int64_t now_s = now.value() / 1'000'000;
  if (timestamp_s < now_s - tolerance_s) return SignatureFailure::kTimestampTooOld;
  if (timestamp_s > now_s + tolerance_s) return SignatureFailure::kTimestampInFuture;
  return SignatureFailure::kNone;
}

bool StandardKey(std::string_view secret, std::string* key) {
  if (secret.starts_with(kStandardSecretPrefix)) secret.remove_prefix(kStandardSecretPrefix.size());
  return Base64Decode(secret, key) && !key->empty();
}

}  // namespace

std::string_view SignatureFailureName(SignatureFailure failure) {
  switch (failure) {
    case SignatureFailure::kNone:
      return "ok";
    case SignatureFailure::kMissingHeader:
      return "signature_missing";
    case SignatureFailure::kMalformedHeader:
      return "signature_malformed";
    case SignatureFailure::kTimestampTooOld:
      return "signature_timestamp_too_old";
    case SignatureFailure::kTimestampInFuture:
      return "signature_timestamp_in_future";
    case SignatureFailure::kNoMatch:
      return "signature_no_match";
    case SignatureFailure::kBadSecret:
      return "signature_bad_secret";
  }
  return "signature_invalid";
}

Verification VerifyStripe(std::string_view header, std::string_view body,
                          const std::vector<Secret>& secrets, TimestampUs now,
                          std::int64_t tolerance_s) {
  Verification result;
  if (header.empty()) {
    result.failure = SignatureFailure::kMissingHeader;
    return result;
  }
  std::string_view timestamp;
  std::vector<std::string_view> candidates;
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.starts_with("t=")) {
      timestamp = item.substr(2);
    } else if (item.starts_with("v1=")) {
      candidates.push_back(item.substr(3));
    }
  }
  std::int64_t timestamp_s = 0;
  if (!ParseUnixSeconds(timestamp, &timestamp_s) || candidates.empty()) {
    result.failure = SignatureFailure::kMalformedHeader;
    return result;
  }
  result.signature_id = "stripe:t=" + std::string(timestamp);
  result.failure = CheckTolerance(timestamp_s, now, tolerance_s);
  if (!result.ok()) return result;

  bool matched = false;
  for (const Secret& secret : secrets) {
    const std::string expected = LowerHex(HmacSha256(secret.Reveal(), {timestamp, ".", body}));
    // Every candidate is compared against every secret: the time taken does not depend on
    // which one (if any) matches.
    for (std::string_view candidate : candidates)
      matched |= ConstantTimeEquals(expected, candidate);
  }
  result.failure = matched ? SignatureFailure::kNone : SignatureFailure::kNoMatch;
  return result;
}

Verification VerifyStandardWebhooks(std::string_view webhook_id, std::string_view webhook_timestamp,
                                    std::string_view webhook_signature, std::string_view body,
                                    const std::vector<Secret>& secrets, TimestampUs now,
                                    std::int64_t tolerance_s) {
  Verification result;
  if (webhook_id.empty() || webhook_timestamp.empty() || webhook_signature.empty()) {
    result.failure = SignatureFailure::kMissingHeader;
    return result;
  }
  std::int64_t timestamp_s = 0;
  if (!ParseUnixSeconds(webhook_timestamp, &timestamp_s)) {
    result.failure = SignatureFailure::kMalformedHeader;
    return result;
  }
  std::vector<std::string> candidates;
  std::string_view list = webhook_signature;
  while (!list.empty()) {
    const std::size_t space = list.find(' ');
    const std::string_view item = list.substr(0, space);
    list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
    if (!item.starts_with("v1,")) continue;
    std::string decoded;
    if (Base64Decode(item.substr(3), &decoded) && decoded.size() == kSha256Bytes) {
      candidates.push_back(std::move(decoded));
    }
  }
  if (candidates.empty()) {
    result.failure = SignatureFailure::kMalformedHeader;
    return result;
  }
  result.signature_id = "whid:" + std::string(webhook_id.substr(0, 256));
  result.failure = CheckTolerance(timestamp_s, now, tolerance_s);
  if (!result.ok()) return result;

  bool matched = false;
  bool any_key = false;
  for (const Secret& secret : secrets) {
    std::string key;
    if (!StandardKey(secret.Reveal(), &key)) continue;
    any_key = true;
    const std::string expected = HmacSha256(key, {webhook_id, ".", webhook_timestamp, ".", body});
    OPENSSL_cleanse(key.data(), key.size());
    for (const std::string& candidate : candidates)
      matched |= ConstantTimeEquals(expected, candidate);
  }
  if (!any_key) {
    result.failure = SignatureFailure::kBadSecret;
  } else {
    result.failure = matched ? SignatureFailure::kNone : SignatureFailure::kNoMatch;
  }
  return result;
}

std::string SignStripe(std::string_view secret, std::int64_t timestamp_s, std::string_view body) {
  const std::string timestamp = std::to_string(timestamp_s);
  return "t=" + timestamp + ",v1=" + LowerHex(HmacSha256(secret, {timestamp, ".", body}));
}

std::string SignStandardWebhooks(std::string_view secret, std::string_view webhook_id,
                                 std::int64_t timestamp_s, std::string_view body) {
  std::string key;
  if (!StandardKey(secret, &key)) return {};
  const std::string timestamp = std::to_string(timestamp_s);
  return "v1," + Base64Encode(HmacSha256(key, {webhook_id, ".", timestamp, ".", body}));
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '=';
    if (!ok) return false;
  }
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out->assign(3 * (text.size() / 4), '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (decoded < 0) return false;
  out->resize(static_cast<std::size_t>(decoded) - padding);
  return true;
}

}  // namespace firehose::edge
