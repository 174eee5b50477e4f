#include "core/hex.h"

#include <openssl/evp.h>

#include "core/check.h"

namespace firehose {

std::string LowerHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xF]);
  }
  return out;
}

std::string FinalDigestHex(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  FH_CHECK(EVP_DigestFinal_ex(context, digest, &size) == 1, "digest finalisation failed");
  return LowerHex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  FH_CHECK(EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) == 1,
           "SHA-256 failed");
  return LowerHex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

}  // namespace firehose
