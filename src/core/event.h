// The canonical event (DESIGN §2): one partner transaction report, in one shape for everyone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/money.h"
#include "core/status.h"
#include "core/types.h"

namespace firehose {

// The canonical transaction states. Partner values map onto these through each partner's
// status table; a value the table does not name is an error, never a guess.
enum class TxnStatus : std::uint8_t {
  kSucceeded,
  kFailed,
  kPending,
  kRefunded,
  kCanceled,
  kDisputed,
};
inline constexpr int kTxnStatusCount = 6;

std::string_view TxnStatusName(TxnStatus status);            // "succeeded", ...
std::optional<TxnStatus> TxnStatusFromName(std::string_view name);
// Whether ops counts the transaction as failed for a partner's error rate.
inline bool IsFailure(TxnStatus status) { return status == TxnStatus::kFailed; }

struct CanonicalEvent {
  PartnerId partner_id;
  TxnId txn_id;
  AmountMinor amount;
  Currency currency;
  TxnStatus status = TxnStatus::kPending;
  TimestampUs event_time;
  // Orders versions of one transaction when the mapping names `updated_at` or `version`:
  // microseconds for a time, the integer itself for a version counter.
  std::optional<std::int64_t> version;
  std::string error_code;  // empty when absent
};

}  // namespace firehose
