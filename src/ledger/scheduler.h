// The ledger's scheduler: what `firehose run` hosts so that nobody has to remember to book a day.
//
// Every tick it looks at the lake's raw partitions and the warehouse (docs/ledger.md, "Late data
// and staleness") and
//   - books each day that has lake data and no ledger once the day has closed in the configured
//     zone and `[ledger] close_delay_s` has passed (late arrivals of the last minutes land first);
//   - re-runs every stale day (new files in its partition, or a neighbour's finding), logging how
//     its totals changed per (partner, currency, status);
//   - logs each pair of days that book a key twice (docs/ledger.md, "Keys booked on two days")
//     once, with what settles it, and once more when it is settled. It does not re-run them:
//     re-running cannot fix a double booking, the window must be widened.
// A day whose run fails is retried at the next tick; its error is logged once per distinct
// message, and counted.
//
// Thread safety: Start/Stop from one thread. One scheduler per warehouse: two schedulers would
// book the same days twice (harmless, idempotent, but wasted).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/time.h"
#include "core/types.h"
#include "ledger/ledger_days.h"
#include "warehouse/warehouse.h"

namespace firehose::ledger {

struct SchedulerOptions {
  std::chrono::milliseconds tick{30'000};
  std::function<TimestampUs()> now = [] { return NowUs(); };  // tests move the clock
  // Called after each day's run (tests, `firehose run`'s status page).
  std::function<void(BusinessDate, const DayRun&)> on_run;
};

class LedgerScheduler {
 public:
  // `config` must outlive the scheduler. Opens the warehouse the config names.
  static Result<std::unique_ptr<LedgerScheduler>> Create(const Config& config,
                                                         SchedulerOptions options = {});
  ~LedgerScheduler();
  LedgerScheduler(const LedgerScheduler&) = delete;
  LedgerScheduler& operator=(const LedgerScheduler&) = delete;

  // Starts the background thread (the first pass runs at once).
  Status Start();
  // Stops it: a run in progress is cancelled at its next check (nothing is written), then the
  // thread is joined.
  void Stop();

  // One pass, on the calling thread: books due days, then re-runs stale ones. Returns the days
  // it ran; the first error is returned after every day was tried.
  Result<std::vector<BusinessDate>> RunOnce();

  // Whether `day` is due at `now`: closed in the zone and past the close delay.
  bool Due(BusinessDate day, TimestampUs now) const;

 private:
  LedgerScheduler(const Config& config, SchedulerOptions options,
                  std::unique_ptr<warehouse::Warehouse> warehouse);
  void Loop();
  Status RunAndLog(BusinessDate day, bool rerun);
  void ReportDoubleBookings();

  const Config& config_;
  SchedulerOptions options_;
  std::unique_ptr<warehouse::Warehouse> warehouse_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  std::map<BusinessDate, std::string> last_error_;  // logged once per distinct message
  // Pairs of days logged as booking a key twice, while they do.
  std::set<std::pair<BusinessDate, BusinessDate>> reported_double_bookings_;
};

}  // namespace firehose::ledger
