#include "core/hex.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

namespace firehose {
namespace {

TEST(LowerHex, TwoLowerCaseDigitsPerByteHighNibbleFirst) {
  EXPECT_EQ(LowerHex(""), "");
  EXPECT_EQ(LowerHex(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
}

// FIPS 180-2's test vectors for SHA-256.
constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(Sha256Hex, MatchesThePublishedVectors) {
  EXPECT_EQ(Sha256Hex("abc"), kAbcSha256);
  EXPECT_EQ(Sha256Hex(""), kEmptySha256);
}

TEST(FinalDigestHex, FinishesAStreamedDigestLikeTheOneShot) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ASSERT_NE(context, nullptr);
  ASSERT_EQ(EVP_DigestInit_ex(context, EVP_sha256(), nullptr), 1);
  for (const char* piece : {"a", "", "bc"}) {
    ASSERT_EQ(EVP_DigestUpdate(context, piece, std::char_traits<char>::length(piece)), 1);
  }
  EXPECT_EQ(FinalDigestHex(context), kAbcSha256);
  EVP_MD_CTX_free(context);
}

}  // namespace
}  // namespace firehose
