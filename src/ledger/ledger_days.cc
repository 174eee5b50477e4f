#include "ledger/ledger_days.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/money.h"
#include "lake/lake_reader.h"
#include "ledger/ledger_records.h"

namespace firehose::ledger {

namespace {

std::string Signed(Int128 value, std::string_view currency) {
  if (value > INT64_MAX || value < INT64_MIN) return "(beyond int64)";
  const auto narrow = static_cast<std::int64_t>(value);
  std::string text = FormatMoney(AmountMinor(narrow), currency);
  return narrow > 0 ? "+" + text : text;
}

}  // namespace

std::string_view DayState::state_name() const {
  if (!booked()) return "not_booked";
  if (stale()) return "stale";
  return double_booked() ? "double_booked" : "ok";
}

Result<std::vector<warehouse::DoubleBooking>> OpenDoubleBookings(warehouse::Warehouse* warehouse) {
  FH_ASSIGN_OR_RETURN(std::vector<warehouse::DoubleBooking> bookings, warehouse->DoubleBookings());
  std::erase_if(bookings, [](const warehouse::DoubleBooking& booking) { return !booking.open(); });
  return bookings;
}

std::pair<BusinessDate, BusinessDate> DaysOf(const warehouse::DoubleBooking& booking) {
  const BusinessDate day = booking.finding.business_date;
  const BusinessDate other = booking.finding.other_date;
  return day < other ? std::make_pair(day, other) : std::make_pair(other, day);
}

namespace {

std::int32_t DaysApart(const warehouse::DoubleBooking& booking) {
  const auto [first, last] = DaysOf(booking);
  return last.days_since_epoch() - first.days_since_epoch();
}

std::string KeysText(const warehouse::DoubleBooking& booking) {
  std::string text = std::to_string(booking.keys_still_booked) + " key(s)";
  if (booking.finding.keys > booking.keys_listed) {
    text += " of the " + std::to_string(booking.keys_listed) + " listed (" +
            std::to_string(booking.finding.keys) + " found)";
  }
  return text;
}

std::string ExamplesText(const warehouse::DoubleBooking& booking) {
  std::string text;
  for (const warehouse::Key& key : booking.still_booked_examples) {
    text += (text.empty() ? "" : ", ") + key.first + "/" + key.second;
  }
  if (booking.keys_still_booked > static_cast<std::int64_t>(booking.still_booked_examples.size()))
    text += ", ...";
  return text;
}

}  // namespace

std::string DescribeDoubleBooking(const warehouse::DoubleBooking& booking) {
  const warehouse::Finding& finding = booking.finding;
  std::string text = "double booked across days: versions span more than the dedup window: ";
  if (finding.kind == warehouse::FindingKind::kBeyondWindow) {
    text += KeysText(booking) + " booked on " + finding.business_date.ToString() +
            " whose canonical version lies on " + finding.other_date.ToString() + ", " +
            std::to_string(DaysApart(booking)) + " days away, beyond its window: booked there too";
  } else {
    text += KeysText(booking) + " booked on both " + DaysOf(booking).first.ToString() + " and " +
            DaysOf(booking).second.ToString() + ", " + std::to_string(DaysApart(booking)) +
            " days apart";
  }
  return text + " (" + ExamplesText(booking) + "); found by the run of " +
         finding.found_by_date.ToString();
}

std::string DoubleBookingAdvice(const std::vector<warehouse::DoubleBooking>& bookings) {
  if (bookings.empty()) return "";
  std::int32_t window = 0;
  std::set<BusinessDate> days;
  for (const warehouse::DoubleBooking& booking : bookings) {
    window = std::max(window, DaysApart(booking));
    days.insert(DaysOf(booking).first);
    days.insert(DaysOf(booking).second);
  }
  std::string listed;
  for (const BusinessDate day : days) listed += (listed.empty() ? "" : ", ") + day.ToString();
  return "re-running cannot fix it: set [limits] ledger_dedup_window_days to at least " +
         std::to_string(window) + " and re-run " + listed +
         " (`firehose ledger reprocess --day D` for each, then `firehose ledger reprocess "
         "--stale`)";
}

Result<std::vector<DayState>> ComputeDayStates(const std::filesystem::path& lake_root,
                                               warehouse::Warehouse* warehouse,
                                               std::optional<BusinessDate> only) {
  FH_ASSIGN_OR_RETURN(const lake::LakeListing listing, lake::ListLake(lake_root));
  FH_ASSIGN_OR_RETURN(const std::vector<warehouse::DaySummary> booked, warehouse->Days());
  std::map<BusinessDate, DayState> states;
  const auto wanted = [&only](BusinessDate day) { return !only || *only == day; };
  for (const warehouse::DaySummary& summary : booked) {
    if (!wanted(summary.business_date)) continue;
    DayState& state = states[summary.business_date];
    state.day = summary.business_date;
    state.latest_run = summary.latest_run;
  }
  std::map<BusinessDate, std::vector<lake::LakeFile>> lake_files;
  for (lake::LakeFile& file : listing.Files(lake::Zone::kRaw)) {
    if (!wanted(file.file.date)) continue;
    lake_files[file.file.date].push_back(std::move(file));
  }
  for (const auto& [day, files] : lake_files) {
    DayState& state = states[day];
    state.day = day;
  }
  if (only && states.empty()) {
    DayState& state = states[*only];
    state.day = *only;
  }
  for (auto& [day, state] : states) {
    const auto in_lake = lake_files.find(day);
    std::set<std::string> read;
    if (state.latest_run) {
      FH_ASSIGN_OR_RETURN(const std::vector<warehouse::RunFile> files,
                          warehouse->RunFiles(state.latest_run->run_id));
      for (const warehouse::RunFile& file : files) {
        if (file.partition_date == day) read.insert(file.path);
      }
      FH_ASSIGN_OR_RETURN(state.findings, warehouse->FindingsAbout(day, state.latest_run->run_id));
    }
    if (in_lake == lake_files.end()) continue;
    for (const lake::LakeFile& file : in_lake->second) {
      ++state.lake_files;
      state.lake_events += static_cast<std::int64_t>(file.file.lines);
      if (!state.latest_run || read.count(file.file.path) != 0) continue;
      state.new_files.push_back(file.file.path);
      state.new_events += static_cast<std::int64_t>(file.file.lines);
      state.new_bytes += static_cast<std::int64_t>(file.file.bytes);
    }
  }
  FH_ASSIGN_OR_RETURN(const std::vector<warehouse::DoubleBooking> double_bookings,
                      OpenDoubleBookings(warehouse));
  for (const warehouse::DoubleBooking& booking : double_bookings) {
    for (const BusinessDate day : {booking.finding.business_date, booking.finding.other_date}) {
      const auto state = states.find(day);
      if (state != states.end()) state->second.double_bookings.push_back(booking);
    }
  }
  std::vector<DayState> out;
  for (auto& [day, state] : states) out.push_back(std::move(state));
  return out;
}

std::vector<TotalChange> DiffTotals(const std::vector<warehouse::TotalRow>& before,
                                    const std::vector<warehouse::TotalRow>& after) {
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, TotalChange> changes;
  const auto key_of = [](const warehouse::TotalRow& row) {
    return Key{row.partner_id, row.currency, std::string(TxnStatusName(row.status))};
  };
  for (const warehouse::TotalRow& row : before) {
    TotalChange& change = changes[key_of(row)];
    change.partner_id = row.partner_id;
    change.currency = row.currency;
    change.status = row.status;
    change.old_count = row.txn_count;
    change.old_amount = row.amount;
  }
  for (const warehouse::TotalRow& row : after) {
    TotalChange& change = changes[key_of(row)];
    change.partner_id = row.partner_id;
    change.currency = row.currency;
    change.status = row.status;
    change.new_count = row.txn_count;
    change.new_amount = row.amount;
  }
  std::vector<TotalChange> out;
  for (auto& [key, change] : changes) {
    if (change.old_count == change.new_count && change.old_amount == change.new_amount) continue;
    out.push_back(std::move(change));
  }
  return out;
}

std::string FormatMoney(AmountMinor amount, std::string_view currency) {
  Result<Currency> parsed = Currency::FromCode(currency);
  return FormatAmount(amount, parsed.ok() ? parsed->exponent() : 0);
}

std::string DescribeChange(const TotalChange& change) {
  const Int128 count_delta = Int128(change.new_count) - change.old_count;
  const Int128 amount_delta = Int128(change.new_amount.value()) - change.old_amount.value();
  std::string text = change.partner_id + " " + change.currency + " " +
                     std::string(TxnStatusName(change.status)) + ": " +
                     std::to_string(change.old_count) + " -> " + std::to_string(change.new_count) +
                     " txns (" + (count_delta > 0 ? "+" : "") +
                     std::to_string(static_cast<std::int64_t>(count_delta)) + "), " +
                     FormatMoney(change.old_amount, change.currency) + " -> " +
                     FormatMoney(change.new_amount, change.currency) + " (" +
                     Signed(amount_delta, change.currency) + ")";
  return text;
}

Result<DayRun> RunDay(const Config& config, BusinessDate day, warehouse::Warehouse* warehouse,
                      const std::function<void(JobOptions*)>& adjust) {
  DayRun out;
  FH_ASSIGN_OR_RETURN(const std::optional<warehouse::RunRecord> previous,
                      warehouse->LatestRun(day));
  out.had_ledger = previous.has_value();
  std::vector<warehouse::TotalRow> before;
  if (previous) {
    FH_ASSIGN_OR_RETURN(before, warehouse->ReadTotals(day));
  }
  JobOptions options = JobOptions::FromConfig(config, day);
  if (adjust) adjust(&options);
  FH_ASSIGN_OR_RETURN(out.result, RunLedgerDay(options, warehouse));
  out.changes = DiffTotals(before, out.result.totals);
  return out;
}

}  // namespace firehose::ledger
