// Days and their ledgers, as `ledger status|reprocess` and the scheduler see them: which days
// have a ledger, which are stale and why (docs/ledger.md, "Late data and staleness"), and what a
// re-run changed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"
#include "ledger/ledger_job.h"
#include "warehouse/warehouse.h"

namespace firehose::ledger {

struct DayState {
  BusinessDate day;
  std::optional<warehouse::RunRecord> latest_run;  // none: the day has no ledger
  // The day's own partition now holds files its latest run did not read.
  std::vector<std::string> new_files;
  std::int64_t new_events = 0;
  std::int64_t new_bytes = 0;
  std::int64_t lake_files = 0;   // files in the day's partition now
  std::int64_t lake_events = 0;  // lines in them
  // Stale findings about the day by later runs of its neighbours.
  std::vector<warehouse::Finding> findings;
  // The open double bookings the day takes part in, as the day a finding is about or as its
  // other day (docs/ledger.md, "Keys booked on two days"). Re-running the day alone does not
  // settle them: they do not make it stale.
  std::vector<warehouse::DoubleBooking> double_bookings;

  bool booked() const { return latest_run.has_value(); }
  bool stale() const { return booked() && (!new_files.empty() || !findings.empty()); }
  bool double_booked() const { return !double_bookings.empty(); }
  // "ok", "stale", "double_booked" (when not stale) or "not_booked".
  std::string_view state_name() const;
};

// The state of `only` (when set) or of every day that has a ledger or a raw partition, in date
// order. Reads the lake's manifests and the warehouse; writes nothing.
Result<std::vector<DayState>> ComputeDayStates(const std::filesystem::path& lake_root,
                                               warehouse::Warehouse* warehouse,
                                               std::optional<BusinessDate> only = std::nullopt);

// The double bookings that are open now (warehouse::DoubleBooking::open).
Result<std::vector<warehouse::DoubleBooking>> OpenDoubleBookings(warehouse::Warehouse* warehouse);

// The unordered pair of days a double booking involves, earlier first.
std::pair<BusinessDate, BusinessDate> DaysOf(const warehouse::DoubleBooking& booking);

// One line for an operator: "double booked across days: versions span more than the dedup
// window: 1 key(s) booked on both 2025-11-27 and 2025-11-29, 2 days apart (acme/m1); found by the
// run of 2025-11-29".
std::string DescribeDoubleBooking(const warehouse::DoubleBooking& booking);

// What settles `bookings` (none: empty): the window that lets each pair's runs see both days'
// versions, and the days to re-run with it.
std::string DoubleBookingAdvice(const std::vector<warehouse::DoubleBooking>& bookings);

// How one (partner, currency, status) total changed between two ledgers of a day.
struct TotalChange {
  std::string partner_id;
  std::string currency;
  TxnStatus status = TxnStatus::kSucceeded;
  std::int64_t old_count = 0;
  std::int64_t new_count = 0;
  AmountMinor old_amount;
  AmountMinor new_amount;
};

// The totals that differ (added, removed or changed), in (partner, currency, status) order.
std::vector<TotalChange> DiffTotals(const std::vector<warehouse::TotalRow>& before,
                                    const std::vector<warehouse::TotalRow>& after);
// "acme USD succeeded: 183 -> 186 txns (+3), 316407.42 -> 316500.00 (+92.58)"
std::string DescribeChange(const TotalChange& change);
// A decimal amount in the currency's exponent (the code as is when it is not a currency).
std::string FormatMoney(AmountMinor amount, std::string_view currency);

struct DayRun {
  JobResult result;
  bool had_ledger = false;
  std::vector<TotalChange> changes;  // against the previous ledger (every total when none)
};

// Runs the day's ledger with the config's options (adjusted by `adjust` when set) and reports
// what changed against the previous ledger of the day.
Result<DayRun> RunDay(const Config& config, BusinessDate day, warehouse::Warehouse* warehouse,
                      const std::function<void(JobOptions*)>& adjust = nullptr);

}  // namespace firehose::ledger
