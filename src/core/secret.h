// A credential that must never reach a log, an error body, `--json` output or a core file.
//
// Secret has no stream operator and no implicit conversion to string: reading the bytes takes
// an explicit call to Reveal(), which is grep-able. Its storage is wiped on destruction and
// excluded from core dumps where the kernel allows (madvise MADV_DONTDUMP on its own pages).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace firehose {

// The largest `file:` secret read: a signing secret or API token is tens of bytes; a larger file
// is a wrong path (a log, a binary), not a secret, and is refused rather than loaded.
inline constexpr std::uint64_t kSecretFileBytesMax = 64 * 1024;

class Secret {
 public:
  Secret() = default;
  // `source` describes where it came from for messages: "env:ACME_SECRET", "file:/x", "inline".
  Secret(std::string value, std::string source);
  Secret(const Secret& other);
  Secret& operator=(const Secret& other);
  Secret(Secret&&) noexcept = default;
  Secret& operator=(Secret&&) noexcept = default;
  ~Secret();

  bool empty() const;
  // The secret bytes. Call only where they are used (HMAC keys, auth headers).
  std::string_view Reveal() const;
  // Where it came from, never what it is: safe to print.
  const std::string& source() const { return source_; }
  // "<redacted from env:ACME_SECRET>"
  std::string Redacted() const;

 private:
  struct Storage;
  static Storage* NewStorage(std::string_view value);
  struct StorageDeleter {
    void operator()(Storage* storage) const;
  };
  std::unique_ptr<Storage, StorageDeleter> storage_;
  std::string source_;
};

// Resolves a secret reference from the config:
//   "env:NAME"   the environment variable NAME (must be set and non-empty)
//   "file:PATH"  the file's contents without a trailing newline (relative to base_dir); the file
//                must not be readable by group or others
//   anything else  the literal value ("inline"); `*is_literal` is set so the loader can refuse a
//                world-readable config that holds it.
Result<Secret> ResolveSecret(std::string_view reference, std::string_view base_dir,
                             bool* is_literal);

}  // namespace firehose
