#include "ledger/scheduler.h"

#include <spdlog/spdlog.h>

#include "core/metrics.h"
#include "lake/lake_format.h"

namespace firehose::ledger {

Result<std::unique_ptr<LedgerScheduler>> LedgerScheduler::Create(const Config& config,
                                                                 SchedulerOptions options) {
  FH_ASSIGN_OR_RETURN(std::unique_ptr<warehouse::Warehouse> warehouse,
                      warehouse::OpenWarehouse(config));
  return std::unique_ptr<LedgerScheduler>(
      new LedgerScheduler(config, std::move(options), std::move(warehouse)));
}

LedgerScheduler::LedgerScheduler(const Config& config, SchedulerOptions options,
                                 std::unique_ptr<warehouse::Warehouse> warehouse)
    : config_(config), options_(std::move(options)), warehouse_(std::move(warehouse)) {}

LedgerScheduler::~LedgerScheduler() { Stop(); }

Status LedgerScheduler::Start() {
  if (thread_.joinable()) return FailedPrecondition("the ledger scheduler is already running");
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  cancel_ = false;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void LedgerScheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cancel_ = true;
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LedgerScheduler::Loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    Result<std::vector<BusinessDate>> ran = RunOnce();
    if (!ran.ok() && ran.status().code() != StatusCode::kCancelled) {
      spdlog::warn("ledger scheduler: {}", ran.status().ToString());
    }
    lock.lock();
    wake_.wait_for(lock, options_.tick, [this] { return stopping_; });
  }
}

bool LedgerScheduler::Due(BusinessDate day, TimestampUs now) const {
  const TimestampUs closes = config_.lake.calendar.StartOf(day.AddDays(1));
  return now.value() >= closes.value() + config_.ledger.close_delay_s * 1'000'000;
}

Status LedgerScheduler::RunAndLog(BusinessDate day, bool rerun) {
  Result<DayRun> run = RunDay(config_, day, warehouse_.get(),
                              [this](JobOptions* options) { options->cancel = &cancel_; });
  if (!run.ok()) {
    Metrics()
        .CounterFor("firehose_errors_total", {{"stage", "ledger"}, {"kind", "scheduled_run"}})
        .Add();
    std::string& last = last_error_[day];
    if (last != run.status().message() && run.status().code() != StatusCode::kCancelled) {
      spdlog::error("ledger: the run of {} failed (retried every tick): {}", day.ToString(),
                    run.status().ToString());
      last = run.status().message();
    }
    return run.status();
  }
  last_error_.erase(day);
  const warehouse::RunRecord& record = run->result.run;
  if (!rerun) {
    spdlog::info(
        "ledger: booked {}: {} keys from {} lines ({} duplicates, {} conflicts), digest {}",
        day.ToString(), record.keys_booked, record.lines_read, record.duplicates, record.conflicts,
        record.digest);
  } else if (run->changes.empty()) {
    spdlog::info("ledger: re-ran stale {}: totals unchanged, digest {}", day.ToString(),
                 record.digest);
  } else {
    spdlog::info("ledger: re-ran stale {}: {} total(s) changed, digest {}", day.ToString(),
                 run->changes.size(), record.digest);
    for (const TotalChange& change : run->changes) {
      spdlog::info("ledger: {} changed: {}", day.ToString(), DescribeChange(change));
    }
  }
  for (const warehouse::Finding& finding : run->result.findings) {
    // Double bookings are logged once each by ReportDoubleBookings, whichever run finds them.
    if (finding.kind != warehouse::FindingKind::kStale) continue;
    spdlog::warn("ledger: the run of {} found {} key(s) booked differently on {}: it is stale",
                 day.ToString(), finding.keys, finding.business_date.ToString());
  }
  if (options_.on_run) options_.on_run(day, *run);
  return Status::Ok();
}

Result<std::vector<BusinessDate>> LedgerScheduler::RunOnce() {
  std::vector<BusinessDate> ran;
  Status first_error;
  const TimestampUs now = options_.now();
  // A re-run can make a neighbour stale (its findings): a few rounds settle it.
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    FH_ASSIGN_OR_RETURN(const std::vector<DayState> states,
                        ComputeDayStates(lake::LakeRoot(config_.data_dir), warehouse_.get()));
    bool any = false;
    for (const DayState& state : states) {
      if (cancel_) return Cancelled("the ledger scheduler is stopping");
      const bool book = !state.booked() && state.lake_files > 0 && Due(state.day, now);
      if (!book && !state.stale()) continue;
      if (last_error_.count(state.day) != 0 && round > 0) continue;
      const Status status = RunAndLog(state.day, state.booked());
      if (status.ok()) {
        ran.push_back(state.day);
        any = true;
      } else if (first_error.ok()) {
        first_error = status;
      }
    }
    if (!any) break;
  }
  ReportDoubleBookings();
  if (!first_error.ok()) return first_error;
  return ran;
}

// A double booking does not make a day stale (a re-run of either day books the key again), so no
// pass re-runs it: it is logged, once per pair of days while it lasts, and once when it is gone.
void LedgerScheduler::ReportDoubleBookings() {
  Result<std::vector<warehouse::DoubleBooking>> open = OpenDoubleBookings(warehouse_.get());
  if (!open.ok()) {
    spdlog::warn("ledger scheduler: reading double bookings: {}", open.status().ToString());
    return;
  }
  std::map<std::pair<BusinessDate, BusinessDate>, std::vector<warehouse::DoubleBooking>> by_days;
  for (warehouse::DoubleBooking& booking : *open) {
    by_days[DaysOf(booking)].push_back(std::move(booking));
  }
  for (const auto& [days, bookings] : by_days) {
    if (!reported_double_bookings_.insert(days).second) continue;
    Metrics()
        .CounterFor("firehose_errors_total", {{"stage", "ledger"}, {"kind", "double_booked"}})
        .Add();
    for (const warehouse::DoubleBooking& booking : bookings) {
      spdlog::error("ledger: {}", DescribeDoubleBooking(booking));
    }
    spdlog::error("ledger: {} and {}: {}", days.first.ToString(), days.second.ToString(),
                  DoubleBookingAdvice(bookings));
  }
  for (auto it = reported_double_bookings_.begin(); it != reported_double_bookings_.end();) {
    if (by_days.count(*it) != 0) {
      ++it;
      continue;
    }
    spdlog::info("ledger: {} and {} no longer book a key twice", it->first.ToString(),
                 it->second.ToString());
    it = reported_double_bookings_.erase(it);
  }
}

}  // namespace firehose::ledger
