// The bytes simulated partners send: each shape's JSON for one transaction report, the batch
// wrapper, and the ways a body can be malformed (each with the quarantine reason the platform's
// mapper must give it).
//
// Contract with core/mapping.h: RenderEvent(shape, e) mapped with InfoOf(shape)'s mapping gives
// exactly e's txn_id, amount, currency, status, event_time, version and error_code (the unit
// tests check every shape against the real Mapper). Numbers are written from their exact
// decimal text, never through a double, so amounts above 2^53 minor units survive.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/money.h"
#include "core/types.h"
#include "sim/fleet.h"

namespace firehose::sim {

// One transaction report as the simulator intends it: the canonical event the platform must map
// its rendered JSON to, plus the partner-side ids that do not take part in mapping.
struct SimEvent {
  static constexpr std::uint32_t kNoKey = 0xffffffff;
  std::uint32_t partner = 0;   // index into Fleet::partners
  std::uint32_t key = kNoKey;  // the transaction it reports (dedup key); kNoKey: not booked
  std::string txn_id;
  AmountMinor amount;
  Currency currency;
  TxnStatus status = TxnStatus::kSucceeded;
  TimestampUs event_time;               // a multiple of the shape's time precision
  std::optional<std::int64_t> version;  // as the Mapper reads it: the integer, or micros
  std::string error_code;               // empty: absent (or JSON null)
  std::string delivery_id;              // the partner's id of this report: evt_..., WH-...
};

// A way to break a body. Each gives one specific quarantine reason (ReasonOf).
enum class Malformation : std::uint8_t {
  kInvalidJson,            // the body cut in half (whole body)
  kDuplicateKey,           // a key twice in the top-level object (whole body)
  kUnknownStatus,          // a status value not in the partner's status_map
  kTooManyFractionDigits,  // "12.345" in USD, 12.5 in a minor-units field
  kUnknownCurrency,        // "ZZZ"
  kMissingTxnId,           // the txn id field left out
  kBadEventTime,           // an event time that does not parse in the mapping's format
  kExponentAmount,         // 15e2
  kAmountOverflow,         // beyond int64 minor units
  kBadVersion,             // a version / updated_at that does not parse (versioned shapes)
  kTxnIdTooLong,           // 129 bytes
};
inline constexpr int kMalformationCount = 11;

std::string_view ReasonOf(Malformation malformation);  // "invalid_json", "unknown_status", ...
// Whether the malformation breaks the whole body (bad JSON) rather than one event's fields.
bool BreaksWholeBody(Malformation malformation);
// The malformations that make sense for a shape, in a fixed order.
const std::vector<Malformation>& MalformationsFor(Shape shape);

// The JSON text of one event (a batch element for batched shapes, the whole body otherwise).
std::string RenderEvent(Shape shape, const SimEvent& event);
// The same event with one field broken (for whole-body malformations: the intact event).
std::string RenderMalformedEvent(Shape shape, const SimEvent& event, Malformation malformation);
// The body for `elements`: {"type":"payments","data":[...]} for batched shapes; the single
// element otherwise (FH_CHECK: exactly one).
std::string WrapBody(Shape shape, const std::vector<std::string>& elements);
// Breaks a whole body (kInvalidJson, kDuplicateKey); other malformations return it unchanged.
std::string BreakBody(std::string body, Malformation malformation);

// The partner's word for a canonical status (the first status_map key naming it), if any.
std::optional<std::string> PartnerStatusValue(Shape shape, TxnStatus status);
// The canonical statuses a shape can express, in TxnStatus order.
std::vector<TxnStatus> StatusesOf(Shape shape);

// RFC 3339 with `fraction_digits` (0, 3 or 6) and a fixed UTC offset ("Z" when 0 minutes).
std::string FormatRfc3339(TimestampUs time, int fraction_digits, int offset_minutes = 0);

}  // namespace firehose::sim
