// Lower-case hexadecimal text of bytes and of SHA-256 digests: the form of every digest Firehose
// writes or compares (lake file checksums in manifests and `lake verify`, the ledger's digest,
// Stripe's v1 signatures, the simulator's body checksums).
#pragma once

#include <openssl/types.h>

#include <string>
#include <string_view>

namespace firehose {

// Two lower-case hex digits per byte, most significant nibble first.
std::string LowerHex(std::string_view bytes);

// Finishes the digest computation of `context` (EVP_DigestFinal_ex) and returns its value in
// LowerHex. The context must be initialised; afterwards it needs a new EVP_DigestInit_ex.
std::string FinalDigestHex(EVP_MD_CTX* context);

// LowerHex of the SHA-256 of `bytes`, in one call.
std::string Sha256Hex(std::string_view bytes);

}  // namespace firehose
