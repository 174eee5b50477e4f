#include "core/event.h"

#include <array>

namespace firehose {

namespace {
constexpr std::array<std::string_view, kTxnStatusCount> kStatusNames = {
    "succeeded", "failed", "pending", "refunded", "canceled", "disputed"};
}  // namespace

std::string_view TxnStatusName(TxnStatus status) {
  return kStatusNames[static_cast<std::size_t>(status)];
}

std::optional<TxnStatus> TxnStatusFromName(std::string_view name) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == name) return static_cast<TxnStatus>(i);
  }
  return std::nullopt;
}

}  // namespace firehose
