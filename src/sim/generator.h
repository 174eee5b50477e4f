// What the simulated partners will send for one business day: the transactions, the bodies that
// carry them (in sending order), and the faults a real partner fleet produces. A plan is a pure
// function of (fleet, options): the same seed gives the same bytes, send for send.
//
// Sending happens in three phases, each starting when the previous one is resolved, so that
// "first received" is decided by the plan and never by thread timing:
//   phase 0  originals, exact duplicates (right after their original), malformed bodies, bodies
//            with bad signatures
//   phase 1  resends that must follow their original's 2xx: conflicting resends without a
//            version, newer (or older) versions, event times drifted across midnight
//   phase 2  day-late resends (the same bytes as an original, sent again at the end)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "core/types.h"
#include "sim/fleet.h"
#include "sim/payloads.h"

namespace firehose::sim {

// How often each fault happens, in parts per million. Send-based rates count original sends;
// transaction-based rates count transactions.
struct FaultRates {
  std::uint32_t duplicate_ppm = 0;      // sends re-sent at once with the same bytes (1-3 copies)
  std::uint32_t late_ppm = 0;           // sends re-sent with the same bytes in phase 2
  std::uint32_t conflict_ppm = 0;       // txns (unversioned partners) resent with another amount
                                        // or status and no version: the first received wins
  std::uint32_t update_ppm = 0;         // txns (versioned partners) with a second version that
                                        // differs; the greater version wins, whichever came first
  std::uint32_t midnight_ppm = 0;       // txns at 23:59:59.9 / 00:00:00.1 resent across midnight
  std::uint32_t malformed_ppm = 0;      // txns' worth of extra malformed (quarantined) bodies
  std::uint32_t bad_signature_ppm = 0;  // txns' worth of extra bodies with bad signatures (401)
};

FaultRates DefaultFaults();  // a realistic mix
// "none", "default", or a comma list of name[=rate] where name is duplicate, late, conflict,
// update, midnight, malformed or bad_signature and rate is a fraction ("0.02") or a percentage
// ("2%"); a name without a rate takes its default rate and unnamed faults are off.
Result<FaultRates> ParseFaults(std::string_view list);
std::string DescribeFaults(const FaultRates& faults);  // "duplicate=0.03,late=0.01,..."

inline constexpr std::int64_t kTransactionsMax = 1'000'000'000;
inline constexpr int kBatchEventsDefault = 20;

struct GeneratorOptions {
  std::uint64_t seed = 1;
  std::int64_t transactions = 1000;
  BusinessDate day;
  BusinessCalendar calendar;  // the day's bounds and every business date in the truth
  FaultRates faults = DefaultFaults();
  int batch_events_max = kBatchEventsDefault;  // batched shapes send 1..this many per body
  // Transactions whose amount is above 2^53 minor units (where a double loses cents);
  // -1: min(8, transactions / 200).
  std::int64_t big_amounts = -1;
  // Added to every transaction number in txn ids, so that plans generated in chunks (`sim lake`)
  // never share an id: chunk c of n transactions each uses c * n.
  std::int64_t txn_number_base = 0;
};

enum class SendKind : std::uint8_t {
  kOriginal,      // first report of its transactions
  kDuplicate,     // the same bytes as `copy_of`, sent right after it
  kLateResend,    // the same bytes as `copy_of`, sent in phase 2
  kConflict,      // another amount or status, no version (phase 1)
  kUpdate,        // another version of a versioned partner's transaction (phase 1)
  kMidnight,      // the same transaction with its event time across midnight (phase 1)
  kMalformed,     // a body that is quarantined as a whole, or a batch of only a broken element
  kBadSignature,  // a valid body with a signature that must fail (401)
};
inline constexpr int kSendKindCount = 8;
std::string_view SendKindName(SendKind kind);  // "original", "duplicate", ...

enum class BadSignature : std::uint8_t {
  kNone,
  kWrongSecret,     // signed with a key the server does not have
  kTamperedBody,    // signed, then one byte of the body changed
  kStaleTimestamp,  // signed correctly, with a timestamp outside the tolerance
};
std::string_view BadSignatureName(BadSignature kind);

struct PlannedSend {
  SendKind kind = SendKind::kOriginal;
  std::uint32_t partner = 0;  // index into Fleet::partners
  std::uint8_t phase = 0;
  std::int64_t copy_of = -1;     // duplicates and late resends repeat this (earlier) send's bytes
  std::int64_t depends_on = -1;  // sent only after this send's 2xx; skipped if it never gets one
  std::vector<std::uint32_t> events;  // indices into Plan::events, in body order
  // A broken part: the whole body (BreaksWholeBody) or one more batch element, rendered from
  // Plan::carriers[carrier]. Bad-signature sends render the carrier intact.
  std::optional<Malformation> malformation;
  std::int64_t carrier = -1;
  BadSignature bad_signature = BadSignature::kNone;
  std::string message_id;  // webhook-id for Standard Webhooks partners; copies keep it
};

// What the platform must answer to one send when it works as specified.
struct ExpectedAnswer {
  int http_status = 202;                             // 202, or 401 for a bad signature
  std::size_t events = 0;                            // events it maps
  std::vector<std::string_view> quarantine_reasons;  // one per quarantined part, in body order
};

struct Plan {
  std::uint64_t seed = 0;
  BusinessDate day;
  std::int64_t transactions = 0;  // keys 0..transactions-1; SimEvent::key names one
  std::vector<SimEvent>
      events;  // every report that maps: originals first (index == key), then resends
  std::vector<SimEvent> carriers;  // content of malformed parts and forged bodies (never booked)
  std::vector<PlannedSend> sends;  // phase 0, then 1, then 2; in sending order within a phase
  std::int64_t big_amounts = 0;
};

Result<Plan> GeneratePlan(const Fleet& fleet, const GeneratorOptions& options);

// The exact bytes of a send (a copy renders its source). Deterministic.
std::string RenderBody(const Fleet& fleet, const Plan& plan, std::size_t send_index);

ExpectedAnswer Expect(const Plan& plan, std::size_t send_index);

// The part of `plan` that the partners with keep[p] (p indexes Fleet::partners) send: their
// sends in the same order and phases, copy_of and depends_on renumbered. Events, carriers and
// transaction keys stay the full plan's, so every body renders byte for byte as in the full plan
// and the truth of the part is the full plan's truth restricted to those partners (a copy or a
// resend always belongs to the partner of the send it repeats). A partner offline for its day
// sends its part later: `sim run --skip-partners X`, then `--only-partners X`.
Plan SelectPartners(const Plan& plan, const std::vector<bool>& keep);

// [begin, end) of each phase's sends in Plan::sends.
struct PhaseRange {
  std::size_t begin = 0;
  std::size_t end = 0;
};
std::vector<PhaseRange> Phases(const Plan& plan);
inline constexpr int kPhaseCount = 3;

}  // namespace firehose::sim
