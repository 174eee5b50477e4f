// Strong types for the values whose mix-up would be a money or data bug.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace firehose {

// A value of type T that does not convert to or from other NamedTypes over the same T.
template <typename T, typename Tag>
class NamedType {
 public:
  using ValueType = T;
  constexpr NamedType() = default;
  constexpr explicit NamedType(T value) : value_(value) {}
  constexpr T value() const { return value_; }
  constexpr auto operator<=>(const NamedType&) const = default;

 private:
  T value_{};
};

// Position of a record in the durable queue: the embedded log's record index, or the
// JetStream stream sequence. Dense and increasing within one queue.
using QueueOffset = NamedType<std::uint64_t, struct QueueOffsetTag>;

// Microseconds since the Unix epoch, UTC.
using TimestampUs = NamedType<std::int64_t, struct TimestampUsTag>;

// Money in the currency's minor unit (cents for USD, yen for JPY, fils/1000 for KWD).
using AmountMinor = NamedType<std::int64_t, struct AmountMinorTag>;

// Overflow-checked arithmetic on money: every sum on the money path goes through these.
[[nodiscard]] bool CheckedAdd(AmountMinor a, AmountMinor b, AmountMinor* out);

// A calendar day (no zone attached): days since 1970-01-01.
class BusinessDate {
 public:
  constexpr BusinessDate() = default;
  constexpr explicit BusinessDate(std::int32_t days_since_epoch) : days_(days_since_epoch) {}
  static Result<BusinessDate> Parse(std::string_view yyyy_mm_dd);
  static BusinessDate FromCivil(int year, int month, int day);
  constexpr std::int32_t days_since_epoch() const { return days_; }
  std::string ToString() const;  // YYYY-MM-DD
  constexpr BusinessDate AddDays(std::int32_t days) const { return BusinessDate(days_ + days); }
  constexpr auto operator<=>(const BusinessDate&) const = default;

 private:
  std::int32_t days_ = 0;
};

// A string that has been validated once, on construction, against a rule.
template <typename Tag>
class ValidatedString {
 public:
  ValidatedString() = default;
  const std::string& str() const { return value_; }
  std::string_view view() const { return value_; }
  bool empty() const { return value_.empty(); }
  auto operator<=>(const ValidatedString&) const = default;

 protected:
  explicit ValidatedString(std::string value) : value_(std::move(value)) {}

 private:
  std::string value_;
};

// A partner's id: [a-z0-9_-]{1,64}. It comes from the route or the poller, never the payload.
class PartnerId : public ValidatedString<PartnerId> {
 public:
  static constexpr std::size_t kBytesMax = 64;
  PartnerId() = default;
  static Result<PartnerId> Parse(std::string_view text);
  static bool IsValid(std::string_view text);
  auto operator<=>(const PartnerId&) const = default;

 private:
  using ValidatedString::ValidatedString;
};

// A partner-assigned transaction id: 1..kBytesMax bytes of valid UTF-8, no control characters.
// Stable across resends; with the partner id it is the ledger's dedup key.
class TxnId : public ValidatedString<TxnId> {
 public:
  static constexpr std::size_t kBytesMax = 128;
  TxnId() = default;
  static Result<TxnId> Parse(std::string_view text);
  auto operator<=>(const TxnId&) const = default;

 private:
  using ValidatedString::ValidatedString;
};

// The edge's id for one arrival: a 26-character ULID (Crockford base32), unique across
// gateways and restarts, ordered by creation time within one process.
class ArrivalId : public ValidatedString<ArrivalId> {
 public:
  static constexpr std::size_t kChars = 26;
  ArrivalId() = default;
  static Result<ArrivalId> Parse(std::string_view text);
  // Only for ids produced by ArrivalIdGenerator (already valid by construction).
  static ArrivalId FromTrusted(std::string text) { return ArrivalId(std::move(text)); }
  auto operator<=>(const ArrivalId&) const = default;

 private:
  using ValidatedString::ValidatedString;
};

}  // namespace firehose

template <>
struct std::hash<firehose::PartnerId> {
  std::size_t operator()(const firehose::PartnerId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
