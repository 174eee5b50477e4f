#include "ledger/scheduler.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

#include "lake/lake_test_util.h"
#include "lake/lake_writer.h"

namespace firehose::ledger {
namespace {

using lake::testing::AcmeBody;
using lake::testing::MakeRecord;

const BusinessDate kDay = BusinessDate::FromCivil(2025, 11, 27);

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest()
      : config_(lake::testing::TestConfig(dir_.path(), "America/New_York",
                                          "[ledger]\nclose_delay_s = 600\n")) {
    log_ = std::make_shared<std::ostringstream>();
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_)));
    spdlog::set_level(spdlog::level::info);
  }
  ~SchedulerTest() override { spdlog::set_default_logger(previous_); }

  void Land(const std::vector<QueueRecord>& records, const std::string& writer_id) {
    lake::LakeWriterOptions options = lake::LakeWriterOptions::FromConfig(config_);
    options.writer_id = writer_id;
    auto writer = lake::LakeWriter::Open(config_, options);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(lake::testing::Deliveries(records)).ok());
    ASSERT_TRUE((*writer)->Flush().ok());
  }

  std::unique_ptr<LedgerScheduler> Scheduler(TimestampUs* now) {
    SchedulerOptions options;
    options.tick = std::chrono::milliseconds(20);
    options.now = [now] { return *now; };
    auto scheduler = LedgerScheduler::Create(config_, options);
    EXPECT_TRUE(scheduler.ok()) << scheduler.status().ToString();
    return std::move(*scheduler);
  }

  lake::testing::TempDir dir_;
  Config config_;
  std::shared_ptr<std::ostringstream> log_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(SchedulerTest, BooksADayAfterItClosesAndReRunsItWhenItGoesStale) {
  // The 27th in New York: 05:00Z on the 27th to 05:00Z on the 28th.
  Land({MakeRecord("acme", AcmeBody("a1", "10.00", "2025-11-27T12:00:00Z"),
                   *ParseRfc3339("2025-11-27T12:00:01Z")),
        MakeRecord("acme", AcmeBody("a2", "5.00", "2025-11-28T04:59:00Z"),
                   *ParseRfc3339("2025-11-28T04:59:01Z"))},
       "w0");
  TimestampUs now = *ParseRfc3339("2025-11-28T05:09:59Z");  // closed, inside the delay
  auto scheduler = Scheduler(&now);
  EXPECT_FALSE(scheduler->Due(kDay, now));
  Result<std::vector<BusinessDate>> ran = scheduler->RunOnce();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_TRUE(ran->empty()) << "not before close_delay_s has passed";

  now = *ParseRfc3339("2025-11-28T05:10:00Z");
  ran = scheduler->RunOnce();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  ASSERT_EQ(*ran, std::vector<BusinessDate>{kDay});
  EXPECT_NE(log_->str().find("booked 2025-11-27: 2 keys"), std::string::npos) << log_->str();
  EXPECT_TRUE(scheduler->RunOnce()->empty()) << "a booked day that is not stale is left alone";

  // A late resend with a new version, and a new transaction.
  Land({MakeRecord("acme", AcmeBody("a1", "12.50", "2025-11-27T12:00:00Z", "ok", "USD", 2),
                   *ParseRfc3339("2025-11-28T07:00:00Z")),
        MakeRecord("acme", AcmeBody("a3", "1.00", "2025-11-27T13:00:00Z", "ko"),
                   *ParseRfc3339("2025-11-28T07:00:00Z"))},
       "w1");
  ran = scheduler->RunOnce();
  ASSERT_TRUE(ran.ok());
  ASSERT_EQ(*ran, std::vector<BusinessDate>{kDay});
  const std::string log = log_->str();
  EXPECT_NE(log.find("re-ran stale 2025-11-27: 2 total(s) changed"), std::string::npos) << log;
  EXPECT_NE(log.find("acme USD succeeded: 2 -> 2 txns (0), 15.00 -> 17.50 (+2.50)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("acme USD failed: 0 -> 1 txns (+1), 0.00 -> 1.00 (+1.00)"), std::string::npos)
      << log;
}

std::size_t Occurrences(const std::string& text, std::string_view what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// A resend two days after the first version, with a one-day window: the 27th and the 29th both
// book g1. The scheduler does not re-run either day for it (a re-run cannot fix it), says so
// once however many passes run, and says when a wider window has settled it.
TEST_F(SchedulerTest, ADoubleBookingIsLoggedOnceAndNotReRun) {
  Land({MakeRecord("acme", AcmeBody("g1", "4.00", "2025-11-27T15:00:00Z", "ok", "USD", 1),
                   *ParseRfc3339("2025-11-27T15:00:01Z")),
        MakeRecord("acme", AcmeBody("g1", "4.50", "2025-11-29T15:00:00Z", "ok", "USD", 2),
                   *ParseRfc3339("2025-11-29T15:00:01Z"))},
       "w0");
  TimestampUs now = *ParseRfc3339("2025-12-05T00:00:00Z");
  std::vector<BusinessDate> runs;
  SchedulerOptions options;
  options.now = [&now] { return now; };
  options.on_run = [&runs](BusinessDate day, const DayRun&) { runs.push_back(day); };
  auto created = LedgerScheduler::Create(config_, options);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  LedgerScheduler& scheduler = **created;
  const BusinessDate last = kDay.AddDays(2);
  Result<std::vector<BusinessDate>> ran = scheduler.RunOnce();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_EQ(*ran, (std::vector<BusinessDate>{kDay, last}));
  for (int pass = 0; pass < 3; ++pass) {
    ran = scheduler.RunOnce();
    ASSERT_TRUE(ran.ok());
    EXPECT_TRUE(ran->empty()) << "no day is re-run for a double booking (pass " << pass << ")";
  }
  EXPECT_EQ(runs.size(), 2u);
  std::string log = log_->str();
  EXPECT_EQ(Occurrences(log, "double booked across days: versions span more than the dedup window"),
            1u)
      << log;
  EXPECT_NE(log.find("booked on both 2025-11-27 and 2025-11-29"), std::string::npos) << log;
  EXPECT_EQ(Occurrences(log, "ledger_dedup_window_days to at least 2"), 1u) << log;

  // The operator widens the window and re-runs the 27th: it no longer books g1. The scheduler
  // re-runs the 29th (now stale: its ledger does not list g1's conflict with the 27th's version)
  // and says the double booking is gone.
  config_.limits.ledger_dedup_window_days = 2;
  {
    auto warehouse = warehouse::OpenWarehouse(config_);
    ASSERT_TRUE(warehouse.ok());
    ASSERT_TRUE(RunDay(config_, kDay, warehouse->get()).ok());
  }
  ran = scheduler.RunOnce();
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_EQ(*ran, std::vector<BusinessDate>{last});
  EXPECT_TRUE(scheduler.RunOnce()->empty());
  log = log_->str();
  EXPECT_EQ(Occurrences(log, "2025-11-27 and 2025-11-29 no longer book a key twice"), 1u) << log;
  EXPECT_EQ(Occurrences(log, "double booked across days"), 1u) << log;
}

TEST_F(SchedulerTest, RunsInTheBackgroundUntilStopped) {
  Land({MakeRecord("acme", AcmeBody("a1", "10.00", "2025-11-27T12:00:00Z"),
                   *ParseRfc3339("2025-11-27T12:00:01Z"))},
       "w0");
  TimestampUs now = *ParseRfc3339("2025-12-01T00:00:00Z");
  std::atomic<int> runs{0};
  SchedulerOptions options;
  options.tick = std::chrono::milliseconds(20);
  options.now = [&now] { return now; };
  options.on_run = [&runs](BusinessDate, const DayRun&) { ++runs; };
  auto scheduler = LedgerScheduler::Create(config_, options);
  ASSERT_TRUE(scheduler.ok());
  ASSERT_TRUE((*scheduler)->Start().ok());
  for (int i = 0; i < 250 && runs.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*scheduler)->Stop();
  EXPECT_EQ(runs.load(), 1);
  auto warehouse = warehouse::OpenWarehouse(config_);
  ASSERT_TRUE(warehouse.ok());
  EXPECT_TRUE((*warehouse)->LatestRun(kDay)->has_value());
}

}  // namespace
}  // namespace firehose::ledger
