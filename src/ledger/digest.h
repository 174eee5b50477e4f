// The ledger's digest (docs/ledger.md, "Output and its digest"): SHA-256 over tab-separated
// lines, buffered. Shared by the job and by `ledger commit`, which recomputes a sharded day's
// digest from its merged shards and must get the single run's digest byte for byte.
#pragma once

#include <openssl/evp.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check.h"
#include "core/hex.h"
#include "warehouse/warehouse.h"

namespace firehose::ledger {

// The digest's input, buffered. Not thread-safe.
class Digest {
 public:
  Digest() : sha_(EVP_MD_CTX_new()) {
    FH_CHECK(sha_ != nullptr && EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) == 1,
             "SHA-256 initialisation failed");
    buffer_.reserve(kFlushBytes + 1024);
  }
  ~Digest() { EVP_MD_CTX_free(sha_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void Field(std::string_view text) {
    buffer_.append(text);
    buffer_.push_back('\t');
  }
  void Field(std::int64_t value) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    buffer_.append(digits, end);
    buffer_.push_back('\t');
  }
  void EndLine() {
    buffer_.back() = '\n';
    if (buffer_.size() >= kFlushBytes) Flush();
  }
  // The two kinds of line, in one place: a sharded day's digest must be the single run's.
  void Transaction(const warehouse::TransactionRow& row) {
    Field(row.partner_id);
    Field(row.txn_id);
    Field(row.amount.value());
    Field(row.currency);
    Field(TxnStatusName(row.status));
    Field(row.event_time.value());
    EndLine();
  }
  void Total(const warehouse::TotalRow& row) {
    Field(row.partner_id);
    Field(row.currency);
    Field(TxnStatusName(row.status));
    Field(row.txn_count);
    Field(row.amount.value());
    EndLine();
  }
  std::string Finish() {
    Flush();
    return FinalDigestHex(sha_);
  }

 private:
  static constexpr std::size_t kFlushBytes = 64 << 10;
  void Flush() {
    EVP_DigestUpdate(sha_, buffer_.data(), buffer_.size());
    buffer_.clear();
  }
  EVP_MD_CTX* sha_;
  std::string buffer_;
};

}  // namespace firehose::ledger
