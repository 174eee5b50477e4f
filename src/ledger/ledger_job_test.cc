#include "ledger/ledger_job.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/time.h"
#include "lake/lake_reader.h"
#include "lake/lake_test_util.h"
#include "lake/lake_writer.h"
#include "ledger/ledger_days.h"
#include "warehouse/postgres_test_server.h"
#include "warehouse/postgres_warehouse.h"
#include "warehouse/sqlite_warehouse.h"

namespace firehose::ledger {
namespace {

namespace fs = std::filesystem;
using lake::testing::AcmeBody;
using lake::testing::GlobexBatch;
using lake::testing::GlobexElement;
using lake::testing::MakeRecord;
using lake::testing::TempDir;
using warehouse::DayLedger;
using warehouse::TotalRow;

const BusinessDate kDay = BusinessDate::FromCivil(2025, 11, 27);

TimestampUs At(std::string_view rfc3339) { return *ParseRfc3339(rfc3339); }

std::int64_t UnixSeconds(std::string_view rfc3339) { return At(rfc3339).value() / 1'000'000; }

// A lake in a temp data dir, written through the real LakeWriter (one writer per Land call, so
// that several calls make several ranges, files and writers).
class LakeBuilder {
 public:
  explicit LakeBuilder(const fs::path& data_dir) : config_(lake::testing::TestConfig(data_dir)) {}

  void Land(const std::vector<QueueRecord>& records, std::string writer_id = "w0",
            std::int64_t file_bytes_max = 1 << 20) {
    lake::LakeWriterOptions options = lake::LakeWriterOptions::FromConfig(config_);
    options.writer_id = std::move(writer_id);
    options.file_bytes_max = file_bytes_max;
    auto writer = lake::LakeWriter::Open(config_, options);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    const std::uint64_t first = (*writer)->next_offset().value();
    ASSERT_TRUE((*writer)->Write(lake::testing::Deliveries(records, first)).ok());
    ASSERT_TRUE((*writer)->Flush().ok());
  }
  const Config& config() const { return config_; }

 private:
  Config config_;
};

// Every test runs against both warehouses: SQLite in the data dir, and a fresh database on a
// real PostgreSQL server (one per test process).
class LedgerJobTest : public ::testing::TestWithParam<std::string> {
 protected:
  LedgerJobTest() : lake_(dir_.path()) {}

  void SetUp() override {
    Result<std::unique_ptr<warehouse::Warehouse>> opened = OpenWarehouse();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    warehouse_ = std::move(*opened);
  }

  Result<std::unique_ptr<warehouse::Warehouse>> OpenWarehouse() {
    if (GetParam() == "sqlite") {
      return warehouse::OpenSqliteWarehouse(dir_.path() / "warehouse.sqlite");
    }
    FH_ASSIGN_OR_RETURN(warehouse::testing::PostgresTestServer * server,
                        warehouse::testing::PostgresTestServer::Shared());
    FH_ASSIGN_OR_RETURN(const std::string url, server->CreateDatabase());
    return warehouse::OpenPostgresWarehouse(url);
  }

  JobOptions Options(BusinessDate day = kDay) {
    JobOptions options = JobOptions::FromConfig(lake_.config(), day);
    options.threads = 2;
    options.partitions = 8;
    return options;
  }

  Result<JobResult> Run(const JobOptions& options) {
    return RunLedgerDay(options, warehouse_.get());
  }

  DayLedger Ledger(BusinessDate day = kDay) {
    Result<DayLedger> ledger = warehouse_->ReadDay(day);
    EXPECT_TRUE(ledger.ok()) << ledger.status().ToString();
    return ledger.ok() ? *ledger : DayLedger{};
  }

  TempDir dir_;
  LakeBuilder lake_;
  std::unique_ptr<warehouse::Warehouse> warehouse_;
};

TEST_P(LedgerJobTest, BooksEachKeyOnceByTheCanonicalRule) {
  lake_.Land({
      // acme maps a version: the greatest wins, whenever it was received.
      MakeRecord("acme", AcmeBody("a1", "12.00", "2025-11-27T10:00:00Z", "ok", "USD", 2),
                 At("2025-11-27T10:00:01Z")),
      MakeRecord("acme", AcmeBody("a1", "10.00", "2025-11-27T10:00:00Z", "ok", "USD", 1),
                 At("2025-11-27T10:00:02Z")),
      MakeRecord("acme", AcmeBody("a1", "10.00", "2025-11-27T10:00:00Z", "ok", "USD", 1),
                 At("2025-11-27T10:00:03Z")),
      // Same version, same instant: the earlier line of the file wins.
      MakeRecord("acme", AcmeBody("a2", "1.00", "2025-11-27T11:00:00Z", "ok", "USD", 5),
                 At("2025-11-27T11:00:01Z")),
      MakeRecord("acme", AcmeBody("a2", "2.00", "2025-11-27T11:00:00Z", "ko", "USD", 5),
                 At("2025-11-27T11:00:01Z")),
      // globex maps no version: the first received wins.
      MakeRecord("globex",
                 GlobexBatch({GlobexElement("g1", 700, UnixSeconds("2025-11-27T12:00:00Z")),
                              GlobexElement("g2", 9'007'199'254'740'993,
                                            UnixSeconds("2025-11-27T12:00:00Z"), "S", "JPY")}),
                 At("2025-11-27T12:00:05Z")),
      MakeRecord("globex",
                 GlobexBatch({GlobexElement("g1", 500, UnixSeconds("2025-11-27T12:00:00Z"))}),
                 At("2025-11-27T12:00:04Z")),
      // Another day's event is not booked here.
      MakeRecord("acme", AcmeBody("other-day", "1.00", "2025-11-29T11:00:00Z"),
                 At("2025-11-29T11:00:01Z")),
  });
  Result<JobResult> result = Run(Options());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const DayLedger ledger = Ledger();
  ASSERT_EQ(ledger.transactions.size(), 4u);
  std::map<std::string, warehouse::TransactionRow> by_txn;
  for (const auto& row : ledger.transactions) by_txn[row.txn_id] = row;
  EXPECT_EQ(by_txn["a1"].amount.value(), 1200);
  EXPECT_EQ(by_txn["a1"].version, 2);
  EXPECT_EQ(by_txn["a1"].versions, 3);
  EXPECT_TRUE(by_txn["a1"].conflict);
  EXPECT_EQ(by_txn["a2"].amount.value(), 100) << "tie on version and time: the earlier line";
  EXPECT_EQ(by_txn["a2"].status, TxnStatus::kSucceeded);
  EXPECT_EQ(by_txn["g1"].amount.value(), 500) << "no version: the first received";
  EXPECT_EQ(by_txn["g2"].amount.value(), 9'007'199'254'740'993);
  EXPECT_FALSE(by_txn["g2"].conflict);

  const std::vector<TotalRow> expected_totals = {
      {kDay, "acme", "USD", TxnStatus::kSucceeded, 2, AmountMinor(1300)},
      {kDay, "globex", "EUR", TxnStatus::kSucceeded, 1, AmountMinor(500)},
      {kDay, "globex", "JPY", TxnStatus::kSucceeded, 1, AmountMinor(9'007'199'254'740'993)}};
  EXPECT_EQ(ledger.totals, expected_totals);
  EXPECT_EQ(result->totals, expected_totals);

  // a1: one other value (10.00, twice); a2: 2.00 failed; g1: 700.
  ASSERT_EQ(ledger.conflicts.size(), 3u);
  EXPECT_EQ(ledger.conflicts[0].txn_id, "a1");
  EXPECT_EQ(ledger.conflicts[0].other_amount.value(), 1000);
  EXPECT_EQ(ledger.conflicts[0].other_versions, 2);
  EXPECT_EQ(ledger.conflicts[1].other_status, TxnStatus::kFailed);
  EXPECT_EQ(ledger.conflicts[2].other_amount.value(), 700);

  const auto& run = result->run;
  EXPECT_EQ(run.keys_booked, 4);
  EXPECT_EQ(run.versions_read, 8);
  EXPECT_EQ(run.duplicates, 4);
  EXPECT_EQ(run.conflicts, 3);
  EXPECT_EQ(run.lines_in_day, 8);
  EXPECT_EQ(run.digest.size(), 64u);
  EXPECT_EQ(*warehouse_->LatestRun(kDay), run);
}

// Many keys, several writers and files, some cross-midnight: the ledger must come out the same
// whatever the threads, partitions, file order and memory bound.
std::vector<QueueRecord> VariedRecords(int count, int seed) {
  std::vector<QueueRecord> records;
  for (int i = 0; i < count; ++i) {
    const std::int64_t second = (i * 7919 + seed) % 86'400;
    const TimestampUs time(At("2025-11-27T00:00:00Z").value() + second * 1'000'000 - 600'000'000);
    const std::string txn = "t" + std::to_string(i % (count * 9 / 10));  // 10% resent
    const bool yen = i % 4 == 0;
    const std::string amount =
        std::to_string(1 + i % 997) + (yen ? "" : "." + std::to_string(10 + i % 90));
    if (i % 3 == 0) {
      records.push_back(MakeRecord(
          "globex",
          GlobexBatch({GlobexElement("b" + txn, 100 + i % 13, time.value() / 1'000'000,
                                     i % 11 == 0 ? "F" : "S", i % 5 == 0 ? "KWD" : "EUR")}),
          TimestampUs(time.value() + 1'000'000 + i)));
    } else {
      records.push_back(
          MakeRecord("acme",
                     AcmeBody(txn, amount, FormatRfc3339Micros(time), i % 7 == 0 ? "ko" : "ok",
                              yen ? "JPY" : "USD", 1 + i % 3),
                     TimestampUs(time.value() + 2'000'000 + i)));
    }
  }
  return records;
}

TEST_P(LedgerJobTest, TheDigestDoesNotDependOnThreadsPartitionsFileOrderOrMemory) {
  const std::vector<QueueRecord> records = VariedRecords(6000, 1);
  const std::size_t half = records.size() / 2;
  lake_.Land({records.begin(), records.begin() + static_cast<std::ptrdiff_t>(half)}, "w0",
             64 << 10);
  lake_.Land({records.begin() + static_cast<std::ptrdiff_t>(half), records.end()}, "w1", 48 << 10);

  JobOptions base = Options();
  Result<JobResult> first = Run(base);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const DayLedger expected = Ledger();
  ASSERT_GT(expected.transactions.size(), 2000u);
  ASSERT_GT(first->run.files_read, 6) << "several files in the window";
  EXPECT_GT(first->run.conflicts, 0);

  struct Variant {
    std::string name;
    int threads;
    int partitions;
    std::uint64_t file_order_seed;
    std::int64_t memory_bytes_max;
  };
  const std::vector<Variant> variants = {
      {"again", 2, 8, 0, base.memory_bytes_max},
      {"1 thread", 1, 8, 0, base.memory_bytes_max},
      {"8 threads", 8, 8, 0, base.memory_bytes_max},
      {"1 partition", 2, 1, 0, base.memory_bytes_max},
      {"61 partitions", 2, 61, 0, base.memory_bytes_max},
      {"files shuffled", 2, 8, 42, base.memory_bytes_max},
      {"files shuffled again", 8, 3, 7, base.memory_bytes_max},
      {"spilling", 2, 8, 0, 96 << 10},
  };
  for (const Variant& variant : variants) {
    JobOptions options = base;
    options.threads = variant.threads;
    options.partitions = variant.partitions;
    options.file_order_seed = variant.file_order_seed;
    options.memory_bytes_max = variant.memory_bytes_max;
    Result<JobResult> again = Run(options);
    ASSERT_TRUE(again.ok()) << variant.name << ": " << again.status().ToString();
    EXPECT_EQ(again->run.digest, first->run.digest) << variant.name;
    EXPECT_EQ(again->run.keys_booked, first->run.keys_booked) << variant.name;
    EXPECT_EQ(again->run.conflicts, first->run.conflicts) << variant.name;
    const DayLedger ledger = Ledger();
    EXPECT_EQ(ledger.transactions, expected.transactions) << variant.name;
    EXPECT_EQ(ledger.totals, expected.totals) << variant.name;
    EXPECT_EQ(ledger.conflicts, expected.conflicts) << variant.name;
    if (variant.name == "spilling") {
      EXPECT_GT(again->run.spilled_bytes, 0) << "the memory bound forced spilling";
    } else {
      EXPECT_EQ(again->run.spilled_bytes, 0) << variant.name;
    }
  }
}

TEST_P(LedgerJobTest, AnOverflowingTotalFailsAndWritesNothing) {
  lake_.Land({MakeRecord("acme", AcmeBody("x1", "1.00", "2025-11-27T10:00:00Z"),
                         At("2025-11-27T10:00:01Z"))});
  ASSERT_TRUE(Run(Options()).ok());
  const DayLedger before = Ledger();
  const auto before_run = *warehouse_->LatestRun(kDay);
  // Two amounts that fit int64 alone but not together (same partner, currency, status).
  lake_.Land(
      {MakeRecord(
          "globex",
          GlobexBatch({GlobexElement("big1", INT64_MAX - 10, UnixSeconds("2025-11-27T10:00:00Z")),
                       GlobexElement("big2", 20, UnixSeconds("2025-11-27T11:00:00Z"))}),
          At("2025-11-27T12:00:00Z"))},
      "w1");
  Result<JobResult> result = Run(Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(result.status().message().find("globex"), std::string::npos)
      << result.status().ToString();
  EXPECT_NE(result.status().message().find("EUR"), std::string::npos);
  EXPECT_NE(result.status().message().find("succeeded"), std::string::npos);
  EXPECT_EQ(Ledger().transactions, before.transactions) << "the previous ledger is intact";
  EXPECT_EQ(*warehouse_->LatestRun(kDay), before_run) << "no run was recorded";
}

TEST_P(LedgerJobTest, AVersionedResendAcrossMidnightMovesTheBookingAndFlagsTheOldDay) {
  const BusinessDate next = kDay.AddDays(1);
  lake_.Land({MakeRecord("acme", AcmeBody("m1", "5.00", "2025-11-27T23:59:59.900Z", "ok", "USD", 1),
                         At("2025-11-28T00:00:01Z")),
              MakeRecord("acme", AcmeBody("stay", "1.00", "2025-11-27T12:00:00Z"),
                         At("2025-11-27T12:00:01Z"))});
  ASSERT_TRUE(Run(Options(kDay)).ok());
  ASSERT_EQ(Ledger(kDay).transactions.size(), 2u);

  // The partner resends m1 with a newer version whose time drifted past midnight.
  lake_.Land({MakeRecord("acme", AcmeBody("m1", "6.00", "2025-11-28T00:00:00.100Z", "ok", "USD", 2),
                         At("2025-11-28T00:05:00Z"))},
             "w1");
  Result<JobResult> next_run = Run(Options(next));
  ASSERT_TRUE(next_run.ok()) << next_run.status().ToString();
  const DayLedger next_ledger = Ledger(next);
  ASSERT_EQ(next_ledger.transactions.size(), 1u);
  EXPECT_EQ(next_ledger.transactions[0].txn_id, "m1");
  EXPECT_EQ(next_ledger.transactions[0].amount.value(), 600);
  EXPECT_EQ(next_ledger.transactions[0].versions, 2);

  // The run of the 28th found that the 27th still books m1: the 27th is stale.
  ASSERT_EQ(next_run->findings.size(), 1u);
  EXPECT_EQ(next_run->findings[0].business_date, kDay);
  EXPECT_EQ(next_run->findings[0].keys, 1);
  EXPECT_EQ(next_run->findings[0].examples, R"([["acme","m1"]])");
  const auto day_run = *warehouse_->LatestRun(kDay);
  EXPECT_EQ(warehouse_->FindingsAbout(kDay, day_run->run_id)->size(), 1u);

  // Re-running the 27th drops m1 from it (its canonical version is on the 28th).
  Result<JobResult> rerun = Run(Options(kDay));
  ASSERT_TRUE(rerun.ok());
  const DayLedger day_ledger = Ledger(kDay);
  ASSERT_EQ(day_ledger.transactions.size(), 1u);
  EXPECT_EQ(day_ledger.transactions[0].txn_id, "stay");
  EXPECT_TRUE(rerun->findings.empty()) << "the 28th books m1 as the lake says";
  EXPECT_TRUE(warehouse_->FindingsAbout(kDay, rerun->run.run_id)->empty());
}

// A resend that disagrees with the booked version, late and in the next day's partition: the
// booking stays (the first received is canonical), but the 27th now has a conflict its ledger
// does not list. The 28th's run finds it, and the 27th's re-run lists it.
TEST_P(LedgerJobTest, ALateConflictingResendInTheNextDayFlagsTheBookingDay) {
  const BusinessDate next = kDay.AddDays(1);
  lake_.Land({MakeRecord("acme", AcmeBody("t1", "1.00", "2025-11-27T23:59:59.900Z"),
                         At("2025-11-28T00:00:01Z"))});
  ASSERT_TRUE(Run(Options(kDay)).ok());
  ASSERT_TRUE(Ledger(kDay).conflicts.empty());

  lake_.Land({MakeRecord("acme", AcmeBody("t1", "9.99", "2025-11-28T00:00:00.100Z", "ko"),
                         At("2025-11-28T02:00:00Z"))},
             "w1");
  Result<JobResult> next_run = Run(Options(next));
  ASSERT_TRUE(next_run.ok()) << next_run.status().ToString();
  EXPECT_TRUE(Ledger(next).transactions.empty()) << "t1's canonical version is the 27th's";
  ASSERT_EQ(next_run->findings.size(), 1u);
  EXPECT_EQ(next_run->findings[0].business_date, kDay);
  EXPECT_EQ(next_run->findings[0].examples, R"([["acme","t1"]])");

  Result<JobResult> rerun = Run(Options(kDay));
  ASSERT_TRUE(rerun.ok());
  const DayLedger day_ledger = Ledger(kDay);
  ASSERT_EQ(day_ledger.transactions.size(), 1u);
  EXPECT_EQ(day_ledger.transactions[0].amount.value(), 100);
  ASSERT_EQ(day_ledger.conflicts.size(), 1u);
  EXPECT_EQ(day_ledger.conflicts[0].other_amount.value(), 999);
  // Now the 28th agrees with the 27th's ledger: no finding.
  Result<JobResult> next_again = Run(Options(next));
  ASSERT_TRUE(next_again.ok());
  EXPECT_TRUE(next_again->findings.empty());
}

// How many days in kDay-2 .. kDay+4 book acme's `txn`.
int DaysBooking(warehouse::Warehouse* warehouse, std::string_view txn) {
  int days = 0;
  for (int offset = -2; offset <= 4; ++offset) {
    Result<std::unique_ptr<warehouse::BookingLookup>> lookup =
        warehouse->OpenLookup(kDay.AddDays(offset));
    EXPECT_TRUE(lookup.ok());
    if (lookup.ok() && (*lookup)->Find("acme", txn)->has_value()) ++days;
  }
  return days;
}

std::vector<warehouse::DoubleBooking> OpenDoubleBookingsOf(warehouse::Warehouse* warehouse) {
  Result<std::vector<warehouse::DoubleBooking>> open = OpenDoubleBookings(warehouse);
  EXPECT_TRUE(open.ok()) << open.status().ToString();
  return open.ok() ? *open : std::vector<warehouse::DoubleBooking>{};
}

const warehouse::Finding* FindingOfKind(const JobResult& result, warehouse::FindingKind kind) {
  for (const warehouse::Finding& finding : result.findings) {
    if (finding.kind == kind) return &finding;
  }
  return nullptr;
}

// Versions of m1 on the 27th (5), the 28th (3) and the 29th (7), a one-day window. The run of the
// 27th sees the 26th..28th and books m1; the 29th's sees the 28th..30th and books it too; the
// 28th's sees all three. Run in the order that used to hide it (27th, 29th, 28th; then the 27th
// again, as its staleness made it): each run that can see it says the key is booked twice, the
// 27th is never stale for it, and only a wider window settles it.
TEST_P(LedgerJobTest, AChainOfVersionsWiderThanTheWindowIsADoubleBookingNotStaleness) {
  const BusinessDate next = kDay.AddDays(1);
  const BusinessDate last = kDay.AddDays(2);
  lake_.Land({MakeRecord("acme", AcmeBody("m1", "5.00", "2025-11-27T12:00:00Z", "ok", "USD", 5),
                         At("2025-11-27T12:00:01Z")),
              MakeRecord("acme", AcmeBody("m1", "3.00", "2025-11-28T12:00:00Z", "ok", "USD", 3),
                         At("2025-11-28T12:00:01Z")),
              MakeRecord("acme", AcmeBody("m1", "7.00", "2025-11-29T12:00:00Z", "ok", "USD", 7),
                         At("2025-11-29T12:00:01Z")),
              MakeRecord("acme", AcmeBody("stay", "1.00", "2025-11-27T13:00:00Z"),
                         At("2025-11-27T13:00:01Z"))});
  ASSERT_TRUE(Run(Options(kDay)).ok());
  Result<JobResult> last_run = Run(Options(last));
  ASSERT_TRUE(last_run.ok()) << last_run.status().ToString();
  EXPECT_EQ(DaysBooking(warehouse_.get(), "m1"), 2) << "the window rules book it on both days";
  // The 29th's run compares its keys with the 27th's bookings (two days away, beyond its window).
  const warehouse::Finding* found = FindingOfKind(*last_run, warehouse::FindingKind::kDoubleBooked);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->business_date, kDay);
  EXPECT_EQ(found->other_date, last);
  EXPECT_EQ(found->keys, 1);
  EXPECT_EQ(found->listed_keys, (std::vector<warehouse::Key>{{"acme", "m1"}}));

  // The 28th sees every version: m1's canonical version lies on the 29th, beyond the 27th's
  // window. Not a stale finding: re-running the 27th could not change its booking.
  Result<JobResult> middle = Run(Options(next));
  ASSERT_TRUE(middle.ok()) << middle.status().ToString();
  ASSERT_EQ(middle->findings.size(), 1u);
  EXPECT_EQ(middle->findings[0].kind, warehouse::FindingKind::kBeyondWindow);
  EXPECT_EQ(middle->findings[0].business_date, kDay);
  EXPECT_EQ(middle->findings[0].other_date, last);
  EXPECT_EQ(middle->findings[0].examples, R"([["acme","m1"]])");
  EXPECT_TRUE(Ledger(next).transactions.empty());
  const auto day_run = *warehouse_->LatestRun(kDay);
  EXPECT_TRUE(warehouse_->FindingsAbout(kDay, day_run->run_id)->empty()) << "the 27th is not stale";
  std::vector<warehouse::DoubleBooking> open = OpenDoubleBookingsOf(warehouse_.get());
  ASSERT_EQ(open.size(), 2u);
  for (const warehouse::DoubleBooking& booking : open) {
    EXPECT_EQ(DaysOf(booking), std::make_pair(kDay, last));
    EXPECT_EQ(booking.keys_still_booked, 1);
  }

  // A re-run of the 27th books m1 again: the double booking stays open, whatever the run order.
  Result<JobResult> again = Run(Options(kDay));
  ASSERT_TRUE(again.ok());
  ASSERT_NE(FindingOfKind(*again, warehouse::FindingKind::kDoubleBooked), nullptr)
      << "the 27th's run finds the 29th's booking of m1";
  EXPECT_EQ(OpenDoubleBookingsOf(warehouse_.get()).size(), 3u);
  EXPECT_EQ(DaysBooking(warehouse_.get(), "m1"), 2);

  // Two days of window let the 27th's run see the 29th's version: m1 leaves the 27th, booked once.
  JobOptions wider = Options(kDay);
  wider.dedup_window_days = 2;
  Result<JobResult> settled = Run(wider);
  ASSERT_TRUE(settled.ok()) << settled.status().ToString();
  EXPECT_TRUE(settled->findings.empty());
  ASSERT_EQ(Ledger(kDay).transactions.size(), 1u);
  EXPECT_EQ(Ledger(kDay).transactions[0].txn_id, "stay");
  EXPECT_EQ(DaysBooking(warehouse_.get(), "m1"), 1);
  EXPECT_EQ(Ledger(last).transactions[0].amount.value(), 700);
  EXPECT_TRUE(OpenDoubleBookingsOf(warehouse_.get()).empty());
}

// Versions of g1 on the 27th and the 29th only: no run of a one-day window sees both (the 28th's
// run never reads the key, it has no version on the 28th), so each books it. The later of the
// two runs finds the other's booking.
TEST_P(LedgerJobTest, AResendTwoDaysAwayIsADoubleBooking) {
  const BusinessDate last = kDay.AddDays(2);
  lake_.Land({MakeRecord("acme", AcmeBody("g1", "4.00", "2025-11-27T08:00:00Z", "ok", "USD", 1),
                         At("2025-11-27T08:00:01Z")),
              MakeRecord("acme", AcmeBody("g1", "4.50", "2025-11-29T08:00:00Z", "ok", "USD", 2),
                         At("2025-11-29T08:00:01Z")),
              MakeRecord("acme", AcmeBody("n1", "1.00", "2025-11-28T08:00:00Z"),
                         At("2025-11-28T08:00:01Z"))});
  for (const BusinessDate day : {kDay, kDay.AddDays(1)}) {
    Result<JobResult> run = Run(Options(day));
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_TRUE(run->findings.empty()) << day.ToString();
  }
  Result<JobResult> last_run = Run(Options(last));
  ASSERT_TRUE(last_run.ok()) << last_run.status().ToString();
  ASSERT_EQ(last_run->findings.size(), 1u);
  EXPECT_EQ(last_run->findings[0].kind, warehouse::FindingKind::kDoubleBooked);
  EXPECT_EQ(last_run->findings[0].business_date, kDay);
  EXPECT_EQ(last_run->findings[0].other_date, last);
  EXPECT_EQ(DaysBooking(warehouse_.get(), "g1"), 2);
  std::vector<warehouse::DoubleBooking> open = OpenDoubleBookingsOf(warehouse_.get());
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].still_booked_examples, (std::vector<warehouse::Key>{{"acme", "g1"}}));
  const std::string said = DescribeDoubleBooking(open[0]);
  EXPECT_NE(said.find("double booked across days: versions span more than the dedup window"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("2025-11-27 and 2025-11-29"), std::string::npos) << said;
  EXPECT_NE(said.find("acme/g1"), std::string::npos) << said;
  EXPECT_NE(DoubleBookingAdvice(open).find("ledger_dedup_window_days to at least 2"),
            std::string::npos);
  EXPECT_TRUE(warehouse_->FindingsAbout(kDay, 0)->empty()) << "no day is stale";

  // The window widened, the 27th's run sees version 2 on the 29th: booked once, there.
  JobOptions wider = Options(kDay);
  wider.dedup_window_days = 2;
  ASSERT_TRUE(Run(wider).ok());
  EXPECT_EQ(DaysBooking(warehouse_.get(), "g1"), 1);
  EXPECT_EQ(Ledger(last).transactions.size(), 1u);
  EXPECT_TRUE(OpenDoubleBookingsOf(warehouse_.get()).empty());
}

// Without a window (0 days) every day books its own versions: a resend across midnight is
// booked on both days, and the later run says so.
TEST_P(LedgerJobTest, WithoutAWindowAResendAcrossMidnightIsADoubleBooking) {
  const BusinessDate next = kDay.AddDays(1);
  lake_.Land({MakeRecord("acme", AcmeBody("x1", "2.00", "2025-11-27T23:59:59Z", "ok", "USD", 1),
                         At("2025-11-28T00:00:01Z")),
              MakeRecord("acme", AcmeBody("x1", "2.00", "2025-11-28T00:00:01Z", "ok", "USD", 2),
                         At("2025-11-28T00:00:02Z"))});
  JobOptions day = Options(kDay);
  day.dedup_window_days = 0;
  JobOptions next_day = Options(next);
  next_day.dedup_window_days = 0;
  ASSERT_TRUE(Run(day).ok());
  Result<JobResult> later = Run(next_day);
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  ASSERT_EQ(later->findings.size(), 1u);
  EXPECT_EQ(later->findings[0].kind, warehouse::FindingKind::kDoubleBooked);
  EXPECT_EQ(later->findings[0].business_date, kDay);
  EXPECT_EQ(DaysBooking(warehouse_.get(), "x1"), 2);
  ASSERT_EQ(OpenDoubleBookingsOf(warehouse_.get()).size(), 1u);
  EXPECT_NE(DoubleBookingAdvice(OpenDoubleBookingsOf(warehouse_.get()))
                .find("ledger_dedup_window_days to at least 1"),
            std::string::npos);
}

TEST_P(LedgerJobTest, OnePartnerWithMostEventsIsSpreadOverEveryPartition) {
  std::vector<QueueRecord> records;
  for (int i = 0; i < 4000; ++i) {
    const bool big = i % 5 != 0;  // 80% acme
    const std::string time = "2025-11-27T10:00:00Z";
    records.push_back(big ? MakeRecord("acme", AcmeBody("k" + std::to_string(i), "1.00", time),
                                       At("2025-11-27T10:00:01Z"))
                          : MakeRecord("globex",
                                       GlobexBatch({GlobexElement("k" + std::to_string(i), 1,
                                                                  UnixSeconds(time))}),
                                       At("2025-11-27T10:00:01Z")));
  }
  lake_.Land(records);
  JobOptions options = Options();
  options.partitions = 16;
  Result<JobResult> result = Run(options);
  ASSERT_TRUE(result.ok());
  // The sizes as ledger_runs recorded them.
  Result<std::optional<warehouse::RunRecord>> run = warehouse_->LatestRun(kDay);
  ASSERT_TRUE(run.ok() && run->has_value());
  const std::vector<std::int64_t> sizes = (*run)->partition_sizes;
  EXPECT_EQ(sizes, result->run.partition_sizes);
  ASSERT_EQ(sizes.size(), 16u);
  const auto [smallest, largest] = std::minmax_element(sizes.begin(), sizes.end());
  EXPECT_GT(*smallest, 4000 / 16 / 2);
  EXPECT_LT(*largest, 4000 / 16 * 3 / 2) << "no partition carries the big partner's share";
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}), 4000);
}

TEST_P(LedgerJobTest, AnEmptyDayIsAnEmptyLedger) {
  Result<JobResult> result = Run(Options());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->run.keys_booked, 0);
  EXPECT_TRUE(Ledger().transactions.empty());
  // SHA-256 of nothing.
  EXPECT_EQ(result->run.digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_P(LedgerJobTest, ACorruptLineIsDataLossNamingTheFile) {
  lake_.Land({MakeRecord("acme", AcmeBody("x1", "1.00", "2025-11-27T10:00:00Z"),
                         At("2025-11-27T10:00:01Z"))});
  // Rewrite the published file with a damaged line (as a disk would).
  auto listing = lake::ListLake(lake::LakeRoot(dir_.path()));
  ASSERT_TRUE(listing.ok());
  const auto files = listing->Files(lake::Zone::kRaw, kDay);
  ASSERT_EQ(files.size(), 1u);
  const fs::path path = lake::LakeRoot(dir_.path()) / files[0].file.path;
  const std::string text = "{\"partner_id\":\"acme\",\"txn_id\":5}\n";
  std::string compressed(ZSTD_compressBound(text.size()), '\0');
  compressed.resize(
      ZSTD_compress(compressed.data(), compressed.size(), text.data(), text.size(), 1));
  {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    std::fwrite(compressed.data(), 1, compressed.size(), out);
    std::fclose(out);
  }
  Result<JobResult> result = Run(Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(result.status().message().find(files[0].file.path + ":1"), std::string::npos)
      << result.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(Warehouses, LedgerJobTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& test_info) { return test_info.param; });

}  // namespace
}  // namespace firehose::ledger
