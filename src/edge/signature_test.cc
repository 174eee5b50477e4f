#include "edge/signature.h"

#include <gtest/gtest.h>

namespace firehose::edge {
namespace {

constexpr std::int64_t kT = 1'700'000'000;
const TimestampUs kNow(kT * 1'000'000);
constexpr std::string_view kBody = R"({"id":"evt_1"})";

std::vector<Secret> Secrets(std::initializer_list<const char*> values) {
  std::vector<Secret> secrets;
  for (const char* value : values) secrets.emplace_back(value, "test");
  return secrets;
}

TEST(Stripe, MatchesThePublishedAlgorithm) {
  // HMAC-SHA256("whsec_test_secret", "1700000000.{body}") computed independently (Python hmac).
  const std::string header = SignStripe("whsec_test_secret", kT, kBody);
  EXPECT_EQ(header,
            "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a");
  const Verification verification =
      VerifyStripe(header, kBody, Secrets({"whsec_test_secret"}), kNow, 300);
  EXPECT_TRUE(verification.ok()) << SignatureFailureName(verification.failure);
  EXPECT_EQ(verification.signature_id, "stripe:t=1700000000");
}

TEST(Stripe, FlippedByteWrongSecretStaleTimestampFail) {
  const std::string header = SignStripe("whsec_test_secret", kT, kBody);
  std::string flipped(kBody);
  flipped[3] ^= 1;
  EXPECT_EQ(VerifyStripe(header, flipped, Secrets({"whsec_test_secret"}), kNow, 300).failure,
            SignatureFailure::kNoMatch);
  EXPECT_EQ(VerifyStripe(header, kBody, Secrets({"whsec_other"}), kNow, 300).failure,
            SignatureFailure::kNoMatch);
  const TimestampUs later((kT + 301) * 1'000'000);
  EXPECT_EQ(VerifyStripe(header, kBody, Secrets({"whsec_test_secret"}), later, 300).failure,
            SignatureFailure::kTimestampTooOld);
  const TimestampUs earlier((kT - 301) * 1'000'000);
  EXPECT_EQ(VerifyStripe(header, kBody, Secrets({"whsec_test_secret"}), earlier, 300).failure,
            SignatureFailure::kTimestampInFuture);
  EXPECT_EQ(VerifyStripe("", kBody, Secrets({"whsec_test_secret"}), kNow, 300).failure,
            SignatureFailure::kMissingHeader);
  EXPECT_EQ(VerifyStripe("t=abc,v1=00", kBody, Secrets({"x"}), kNow, 300).failure,
            SignatureFailure::kMalformedHeader);
  EXPECT_EQ(VerifyStripe("t=1700000000", kBody, Secrets({"x"}), kNow, 300).failure,
            SignatureFailure::kMalformedHeader);
}

TEST(Stripe, RotatedSecretsAndSeveralSignaturesVerify) {
  const std::string old_header = SignStripe("whsec_old", kT, kBody);
  const std::string new_header = SignStripe("whsec_new", kT, kBody);
  const auto both = Secrets({"whsec_new", "whsec_old"});
  EXPECT_TRUE(VerifyStripe(old_header, kBody, both, kNow, 300).ok());
  EXPECT_TRUE(VerifyStripe(new_header, kBody, both, kNow, 300).ok());
  // Stripe sends one v1 per active secret during a rotation on its side.
  const std::string combined = new_header + "," + old_header.substr(old_header.find("v1="));
  EXPECT_TRUE(VerifyStripe(combined, kBody, Secrets({"whsec_old"}), kNow, 300).ok());
}

TEST(StandardWebhooks, MatchesTheSpecificationExample) {
  // The example from the Standard Webhooks specification.
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string body = R"({"test": 2432232314})";
  const std::string signature =
      SignStandardWebhooks(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
  EXPECT_EQ(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  const TimestampUs now(1614265330LL * 1'000'000);
  const Verification verification =
      VerifyStandardWebhooks("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", signature, body,
                             Secrets({secret.c_str()}), now, 300);
  EXPECT_TRUE(verification.ok()) << SignatureFailureName(verification.failure);
  EXPECT_EQ(verification.signature_id, "whid:msg_p5jXN8AQM9LWM0D4loKWxJek");
}

TEST(StandardWebhooks, FailuresAndRotation) {
  const char* secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const char* rotated = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  const std::string signature = SignStandardWebhooks(secret, "msg_1", kT, kBody);
  const auto verify = [&](std::string_view id, std::string_view ts, std::string_view sig,
                          std::string_view body, std::vector<Secret> secrets) {
    return VerifyStandardWebhooks(id, ts, sig, body, secrets, kNow, 300).failure;
  };
  EXPECT_EQ(verify("msg_1", "1700000000", signature, kBody, Secrets({secret})),
            SignatureFailure::kNone);
  EXPECT_EQ(verify("msg_2", "1700000000", signature, kBody, Secrets({secret})),
            SignatureFailure::kNoMatch);
  EXPECT_EQ(verify("msg_1", "1700000000", signature, std::string(kBody) + " ", Secrets({secret})),
            SignatureFailure::kNoMatch);
  EXPECT_EQ(verify("msg_1", "1700000000", signature, kBody, Secrets({rotated})),
            SignatureFailure::kNoMatch);
  EXPECT_EQ(verify("msg_1", "1700000000", signature, kBody, Secrets({rotated, secret})),
            SignatureFailure::kNone);
  EXPECT_EQ(verify("msg_1", "1699999000", signature, kBody, Secrets({secret})),
            SignatureFailure::kTimestampTooOld);
  EXPECT_EQ(verify("", "1700000000", signature, kBody, Secrets({secret})),
            SignatureFailure::kMissingHeader);
  EXPECT_EQ(verify("msg_1", "soon", signature, kBody, Secrets({secret})),
            SignatureFailure::kMalformedHeader);
  EXPECT_EQ(verify("msg_1", "1700000000", "v2,abc", kBody, Secrets({secret})),
            SignatureFailure::kMalformedHeader);
  EXPECT_EQ(verify("msg_1", "1700000000", "v1,bogus== " + signature, kBody, Secrets({secret})),
            SignatureFailure::kNone);
  EXPECT_EQ(verify("msg_1", "1700000000", signature, kBody, Secrets({"whsec_!!notbase64"})),
            SignatureFailure::kBadSecret);
}

TEST(Base64, RoundTripsAndRejectsGarbage) {
  for (std::string_view text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::string decoded;
    ASSERT_TRUE(Base64Decode(Base64Encode(text), &decoded));
    EXPECT_EQ(decoded, text);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  std::string out;
  EXPECT_FALSE(Base64Decode("abc", &out));
  EXPECT_FALSE(Base64Decode("ab!d", &out));
}

}  // namespace
}  // namespace firehose::edge
