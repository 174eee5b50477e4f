// The ground truth: the exact ledger the platform must produce from what the simulated partners
// had acknowledged, and the partners' settlement statements. Written by `sim run --truth OUT`,
// read by tests that compare the ledger with it. Prose: docs/formats/truth.md.
//
//   OUT/truth.json      counts, quarantine reasons, totals per (business_date, partner_id,
//                       currency, status), conflicts
//   OUT/statements.csv  business_date,partner_id,currency,txn_count,total (status succeeded)
//
// The truth applies the ledger's rule (DESIGN §7) to the acknowledged sends: one booking per
// (partner_id, txn_id); the canonical version is the greatest version when the partner's mapping
// has one, else the first received (the plan's phases decide which that is); the booking's
// business date is its canonical version's event date; a key whose reports disagree in amount,
// currency or status is a conflict. Sums are int64 minor units, overflow-checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/money.h"
#include "core/status.h"
#include "core/time.h"
#include "core/types.h"
#include "sim/fleet.h"
#include "sim/generator.h"

namespace firehose::sim {

inline constexpr std::string_view kTruthFormat = "firehose-sim-truth";
inline constexpr int kTruthFormatVersion = 1;
inline constexpr std::string_view kTruthFileName = "truth.json";
inline constexpr std::string_view kStatementsFileName = "statements.csv";
inline constexpr std::string_view kStatementsHeader =
    "business_date,partner_id,currency,txn_count,total";
inline constexpr std::uint64_t kTruthFileBytesMax = std::uint64_t{1} << 30;

struct TruthTotal {
  BusinessDate business_date;
  std::string partner_id;
  Currency currency;
  TxnStatus status = TxnStatus::kSucceeded;
  std::int64_t txn_count = 0;
  AmountMinor amount;  // sum of the canonical versions' amounts

  bool operator==(const TruthTotal&) const = default;
};

// A transaction whose acknowledged reports disagree; booked by the rule above.
struct TruthConflict {
  BusinessDate business_date;  // where its canonical version is booked
  std::string partner_id;
  std::string txn_id;
  std::int64_t reports = 0;  // acknowledged mapped reports of it, copies included
  // The canonical version.
  AmountMinor amount;
  Currency currency;
  TxnStatus status = TxnStatus::kSucceeded;
  TimestampUs event_time;
  std::optional<std::int64_t> version;

  bool operator==(const TruthConflict&) const = default;
};

struct TruthCounts {
  std::int64_t transactions = 0;      // keys booked: the sum of every total's txn_count
  std::int64_t events_acked = 0;      // mapped events in acknowledged bodies, every copy
  std::int64_t duplicate_events = 0;  // events_acked - transactions
  std::int64_t conflicts = 0;
  std::int64_t quarantined = 0;  // quarantined parts of acknowledged bodies
  std::int64_t sends_planned = 0;
  std::int64_t sends_acked = 0;          // 2xx (bad-signature bodies excluded)
  std::int64_t bad_signatures_sent = 0;  // bodies sent with a bad signature (expected 401)
  // Sends retried after an attempt the server may have stored without our seeing its answer
  // (timeout, connection lost): the lake may hold an extra copy of each. Set by the sender.
  std::int64_t ambiguous_sends = 0;
  std::map<std::string, std::int64_t> acked_by_kind;  // SendKindName -> 2xx count

  bool operator==(const TruthCounts&) const = default;
};

struct Truth {
  std::uint64_t seed = 0;
  BusinessDate day;
  std::string timezone = "UTC";
  // False when a send was not delivered, answered unexpectedly or retried after the server may
  // have stored it (see docs/formats/truth.md): the ledger may then legitimately differ.
  bool complete = true;
  TruthCounts counts;
  std::map<std::string, std::int64_t> quarantined_by_reason;
  std::vector<TruthTotal> totals;        // sorted by (date, partner, currency, status name)
  std::vector<TruthConflict> conflicts;  // sorted by (partner, txn_id)

  bool operator==(const Truth&) const = default;
};

// The truth of `plan` given which sends were acknowledged (`acknowledged[i]` for plan.sends[i]).
// Bad-signature sends are never booked, even if (wrongly) acknowledged. OutOfRange if a sum
// overflows int64.
Result<Truth> ComputeTruth(const Fleet& fleet, const Plan& plan,
                           const std::vector<bool>& acknowledged, const BusinessCalendar& calendar);

// Adds `part` to `into`: counts, quarantine reasons and conflicts (appended), totals merged per
// (day, partner, currency, status) in that key order with checked sums; `into` stays complete
// only if `part` is. For truths of disjoint sends (chunks of one lake, two runs of a scenario).
// OutOfRange if a total overflows int64.
Status AddTruth(const Truth& part, Truth* into);

std::string TruthJson(const Truth& truth);
Result<Truth> ParseTruthJson(std::string_view text);
std::string StatementsCsv(const Truth& truth);

// Writes OUT/truth.json and OUT/statements.csv atomically (creating OUT).
Status WriteTruthDirectory(const Truth& truth, const std::filesystem::path& dir);
Result<Truth> ReadTruthFile(const std::filesystem::path& path);

}  // namespace firehose::sim
