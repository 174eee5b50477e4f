// The Warehouse contract, parameterised over implementations: every test here passes against
// SQLite and against a real PostgreSQL server started by the test (postgres_test_server.h).
#include "warehouse/warehouse.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/fault.h"
#include "warehouse/postgres_test_server.h"
#include "warehouse/postgres_warehouse.h"
#include "warehouse/sqlite_warehouse.h"

namespace firehose::warehouse {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "firehose-warehouse-XXXXXX").string();
    FH_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Opens a connection to the warehouse in `dir` (each call: a new connection, as another process
// would have).
using Opener = std::function<Result<std::unique_ptr<Warehouse>>(const fs::path& dir)>;

struct Implementation {
  std::string name;
  Opener open;
};

// One database per test directory on the process's PostgreSQL server.
Result<std::string> PostgresUrlFor(const fs::path& dir) {
  static std::mutex mutex;
  static std::map<fs::path, std::string> urls;
  std::lock_guard lock(mutex);
  if (const auto found = urls.find(dir); found != urls.end()) return found->second;
  FH_ASSIGN_OR_RETURN(testing::PostgresTestServer * server, testing::PostgresTestServer::Shared());
  FH_ASSIGN_OR_RETURN(std::string url, server->CreateDatabase());
  urls[dir] = url;
  return url;
}

const Implementation kImplementations[] = {
    {"sqlite", [](const fs::path& dir) { return OpenSqliteWarehouse(dir / kSqliteFileName); }},
    {"postgresql",
     [](const fs::path& dir) -> Result<std::unique_ptr<Warehouse>> {
       FH_ASSIGN_OR_RETURN(const std::string url, PostgresUrlFor(dir));
       return OpenPostgresWarehouse(url);
     }},
};

void PrintTo(const Implementation& implementation, std::ostream* out) {
  *out << implementation.name;
}

BusinessDate Day(int day) { return BusinessDate::FromCivil(2025, 11, day); }

TransactionRow Txn(BusinessDate day, std::string partner, std::string txn, std::int64_t amount,
                   TxnStatus status = TxnStatus::kSucceeded) {
  TransactionRow row;
  row.business_date = day;
  row.partner_id = std::move(partner);
  row.txn_id = std::move(txn);
  row.amount = AmountMinor(amount);
  row.currency = "USD";
  row.status = status;
  row.event_time = TimestampUs(1'764'200'000'000'000);
  row.version = amount % 2 == 0 ? std::optional<std::int64_t>(7) : std::nullopt;
  row.versions = 2;
  row.conflict = amount % 3 == 0;
  row.source_file = 1;
  row.source_line = amount;
  return row;
}

DayLedger SampleDay(BusinessDate day, std::int64_t base) {
  DayLedger ledger;
  ledger.transactions = {Txn(day, "acme", "a1", base + 1), Txn(day, "acme", "a2", base + 2),
                         Txn(day, "globex", "g\xC3\xA9", base + 3, TxnStatus::kFailed)};
  ledger.totals = {{day, "acme", "USD", TxnStatus::kSucceeded, 2, AmountMinor(2 * base + 3)},
                   {day, "globex", "USD", TxnStatus::kFailed, 1, AmountMinor(base + 3)}};
  ConflictRow conflict;
  conflict.business_date = day;
  conflict.partner_id = "acme";
  conflict.txn_id = "a1";
  conflict.versions = 3;
  conflict.amount = AmountMinor(base + 1);
  conflict.currency = "USD";
  conflict.other_amount = AmountMinor(9'007'199'254'740'993);
  conflict.other_currency = "KWD";
  conflict.other_status = TxnStatus::kRefunded;
  conflict.other_versions = 2;
  ledger.conflicts = {conflict};
  return ledger;
}

RunRecord SampleRun(std::int64_t keys) {
  RunRecord run;
  run.started_at = TimestampUs(1);
  run.finished_at = TimestampUs(2);
  run.dedup_window_days = 1;
  run.timezone = "UTC";
  run.partitions = 4;
  run.threads = 2;
  run.memory_bytes_max = 1 << 30;
  run.keys_booked = keys;
  run.partition_sizes = {1, 0, 5, 9'000'000'000};
  run.digest = std::string(64, 'a');
  run.timings_json = R"({"scan_ms":1})";
  return run;
}

class WarehouseTest : public ::testing::TestWithParam<Implementation> {
 protected:
  std::unique_ptr<Warehouse> Open() {
    Result<std::unique_ptr<Warehouse>> warehouse = GetParam().open(dir_.path());
    EXPECT_TRUE(warehouse.ok()) << warehouse.status().ToString();
    return warehouse.ok() ? std::move(*warehouse) : nullptr;
  }
  TempDir dir_;
};

TEST_P(WarehouseTest, ReplaceDayThenReadItBackExactly) {
  auto warehouse = Open();
  const DayLedger day = SampleDay(Day(27), 9'007'199'254'740'000);
  Result<std::int64_t> run_id = warehouse->ReplaceDay(Day(27), day, SampleRun(3));
  ASSERT_TRUE(run_id.ok()) << run_id.status().ToString();
  Result<DayLedger> back = warehouse->ReadDay(Day(27));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->transactions, day.transactions);
  EXPECT_EQ(back->totals, day.totals);
  EXPECT_EQ(back->conflicts, day.conflicts);

  Result<std::optional<RunRecord>> run = warehouse->LatestRun(Day(27));
  ASSERT_TRUE(run.ok() && run->has_value());
  RunRecord expected = SampleRun(3);
  expected.run_id = *run_id;
  expected.business_date = Day(27);
  EXPECT_EQ(**run, expected);
  EXPECT_FALSE(warehouse->LatestRun(Day(26))->has_value());
}

TEST_P(WarehouseTest, ReplacingADayRemovesEveryOldRowAndLeavesOtherDaysAlone) {
  auto warehouse = Open();
  ASSERT_TRUE(warehouse->ReplaceDay(Day(26), SampleDay(Day(26), 100), SampleRun(3)).ok());
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), SampleDay(Day(27), 200), SampleRun(3)).ok());
  DayLedger smaller;
  smaller.transactions = {Txn(Day(27), "initech", "i1", 5)};
  smaller.totals = {{Day(27), "initech", "USD", TxnStatus::kSucceeded, 1, AmountMinor(5)}};
  Result<std::int64_t> second = warehouse->ReplaceDay(Day(27), smaller, SampleRun(1));
  ASSERT_TRUE(second.ok());

  Result<DayLedger> day27 = warehouse->ReadDay(Day(27));
  ASSERT_TRUE(day27.ok());
  EXPECT_EQ(day27->transactions, smaller.transactions);
  EXPECT_EQ(day27->totals, smaller.totals);
  EXPECT_TRUE(day27->conflicts.empty());
  EXPECT_EQ(warehouse->ReadDay(Day(26))->transactions, SampleDay(Day(26), 100).transactions);

  Result<std::vector<DaySummary>> days = warehouse->Days();
  ASSERT_TRUE(days.ok());
  ASSERT_EQ(days->size(), 2u);
  EXPECT_EQ((*days)[0].business_date, Day(26));
  EXPECT_EQ((*days)[1].latest_run.run_id, *second) << "the latest run of each day";
  EXPECT_EQ((*days)[1].latest_run.keys_booked, 1);
}

TEST_P(WarehouseTest, AnUncommittedDayIsInvisibleAndRollsBackWhenDropped) {
  auto warehouse = Open();
  const DayLedger old_day = SampleDay(Day(27), 100);
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), old_day, SampleRun(3)).ok());
  auto reader = Open();  // another connection: another process reading the warehouse
  {
    Result<std::unique_ptr<DayWriter>> writer = warehouse->BeginDay(Day(27));
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    ASSERT_TRUE((*writer)->AddTransaction(Txn(Day(27), "new", "n1", 1)).ok());
    // While the day is being replaced, a reader still sees the whole old day.
    Result<DayLedger> seen = reader->ReadDay(Day(27));
    ASSERT_TRUE(seen.ok()) << seen.status().ToString();
    EXPECT_EQ(seen->transactions, old_day.transactions);
    EXPECT_EQ(seen->totals, old_day.totals);
  }  // dropped without Commit
  EXPECT_EQ(warehouse->ReadDay(Day(27))->transactions, old_day.transactions);
  EXPECT_EQ(reader->ReadDay(Day(27))->transactions, old_day.transactions);
}

TEST_P(WarehouseTest, ACommitThatFailsAtTheProbeLeavesTheOldDay) {
  auto warehouse = Open();
  const DayLedger old_day = SampleDay(Day(27), 100);
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), old_day, SampleRun(3)).ok());
  fault::SetForTest("ledger.before_commit=eio");
  Result<std::int64_t> failed =
      warehouse->ReplaceDay(Day(27), SampleDay(Day(27), 500), SampleRun(3));
  fault::SetForTest("");
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(warehouse->ReadDay(Day(27))->transactions, old_day.transactions);
  EXPECT_EQ(warehouse->Days()->size(), 1u);
}

TEST_P(WarehouseTest, RunFilesFindingsAndLookups) {
  auto warehouse = Open();
  std::vector<RunFile> files = {
      {0, "raw/event_date=2025-11-26/part-w0-1-2.jsonl.zst", Day(26), 10, std::string(64, 'b'), 3},
      {1, "raw/event_date=2025-11-27/part-w0-1-2.jsonl.zst", Day(27), 20, std::string(64, 'c'), 4}};
  Result<std::int64_t> first = warehouse->ReplaceDay(Day(26), SampleDay(Day(26), 1), SampleRun(3));
  ASSERT_TRUE(first.ok());
  Finding finding;
  finding.business_date = Day(26);
  finding.keys = 2;
  finding.examples = R"([["acme","a1"]])";
  Result<std::int64_t> second =
      warehouse->ReplaceDay(Day(27), SampleDay(Day(27), 1), SampleRun(3), files, {finding});
  ASSERT_TRUE(second.ok());

  EXPECT_EQ(*warehouse->RunFiles(*second), files);
  Result<std::vector<Finding>> findings = warehouse->FindingsAbout(Day(26), *first);
  ASSERT_TRUE(findings.ok());
  ASSERT_EQ(findings->size(), 1u);
  EXPECT_EQ((*findings)[0].found_by_run, *second);
  EXPECT_EQ((*findings)[0].found_by_date, Day(27));
  EXPECT_EQ((*findings)[0].keys, 2);
  EXPECT_TRUE(warehouse->FindingsAbout(Day(26), *second)->empty())
      << "a run of the day after the finding settles it";

  Result<std::unique_ptr<BookingLookup>> lookup = warehouse->OpenLookup(Day(27));
  ASSERT_TRUE(lookup.ok()) << lookup.status().ToString();
  Result<std::optional<TransactionRow>> found = (*lookup)->Find("globex", "g\xC3\xA9");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ(**found, SampleDay(Day(27), 1).transactions[2]);
  EXPECT_FALSE((*lookup)->Find("globex", "g")->has_value());
}

TEST_P(WarehouseTest, RowsOfAnotherDayAreRefused) {
  auto warehouse = Open();
  Result<std::unique_ptr<DayWriter>> writer = warehouse->BeginDay(Day(27));
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ((*writer)->AddTransaction(Txn(Day(26), "a", "b", 1)).code(),
            StatusCode::kInvalidArgument);
}

TEST_P(WarehouseTest, ADuplicateKeyFailsTheDayAndLeavesTheOldOne) {
  auto warehouse = Open();
  const DayLedger old_day = SampleDay(Day(27), 100);
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), old_day, SampleRun(3)).ok());
  DayLedger bad = SampleDay(Day(27), 200);
  bad.transactions.clear();
  for (int i = 0; i < 100; ++i) {
    bad.transactions.push_back(Txn(Day(27), "acme", "t" + std::to_string(100 + i), i));
  }
  // Inside the second batch of rows the SQLite writer inserts with one statement.
  bad.transactions[50] = bad.transactions[49];
  EXPECT_FALSE(warehouse->ReplaceDay(Day(27), bad, SampleRun(3)).ok());
  EXPECT_EQ(warehouse->ReadDay(Day(27))->transactions, old_day.transactions);
  EXPECT_EQ(warehouse->Days()->size(), 1u);
}

Finding DoubleBookingFinding(FindingKind kind, BusinessDate about, BusinessDate other,
                             std::int64_t keys, std::vector<Key> listed) {
  Finding finding;
  finding.kind = kind;
  finding.business_date = about;
  finding.other_date = other;
  finding.keys = keys;
  finding.listed_keys = std::move(listed);
  finding.examples = R"([["acme","a1"]])";
  return finding;
}

// A double-booking finding holds while the day it is about still books one of its listed keys,
// and while it is its finder day's latest run's (a newer run of that day judges again); a
// stale finding is not one, and a double booking does not make a day stale.
TEST_P(WarehouseTest, ADoubleBookingIsOpenWhileTheDayStillBooksAListedKey) {
  auto warehouse = Open();
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), SampleDay(Day(27), 10), SampleRun(3)).ok());
  Finding stale;
  stale.business_date = Day(28);
  stale.keys = 1;
  stale.examples = "[]";
  const Finding found = DoubleBookingFinding(FindingKind::kDoubleBooked, Day(27), Day(29), 2,
                                             {{"acme", "a1"}, {"acme", "zz-not-booked"}});
  Result<std::int64_t> finder =
      warehouse->ReplaceDay(Day(29), SampleDay(Day(29), 10), SampleRun(3), {}, {stale, found});
  ASSERT_TRUE(finder.ok()) << finder.status().ToString();

  Result<std::vector<DoubleBooking>> bookings = warehouse->DoubleBookings();
  ASSERT_TRUE(bookings.ok()) << bookings.status().ToString();
  ASSERT_EQ(bookings->size(), 1u) << "the stale finding is not a double booking";
  const DoubleBooking& booking = (*bookings)[0];
  Finding expected = found;
  expected.found_by_run = *finder;
  expected.found_by_date = Day(29);
  EXPECT_EQ(booking.finding, expected);
  EXPECT_EQ(booking.keys_listed, 2);
  EXPECT_EQ(booking.keys_still_booked, 1);
  EXPECT_EQ(booking.still_booked_examples, (std::vector<Key>{{"acme", "a1"}}));
  EXPECT_TRUE(booking.open());
  EXPECT_TRUE(warehouse->FindingsAbout(Day(27), 0)->empty()) << "not a stale finding";
  EXPECT_EQ(warehouse->FindingsAbout(Day(28), 0)->size(), 1u);

  // Re-running the day it is about settles nothing while the key is still booked there.
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), SampleDay(Day(27), 10), SampleRun(3)).ok());
  bookings = warehouse->DoubleBookings();
  ASSERT_TRUE(bookings.ok());
  ASSERT_EQ(bookings->size(), 1u);
  EXPECT_TRUE((*bookings)[0].open());

  // The day stops booking the key: settled.
  DayLedger without = SampleDay(Day(27), 10);
  without.transactions.erase(without.transactions.begin());
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), without, SampleRun(2)).ok());
  bookings = warehouse->DoubleBookings();
  ASSERT_TRUE(bookings.ok());
  ASSERT_EQ(bookings->size(), 1u);
  EXPECT_EQ((*bookings)[0].keys_still_booked, 0);
  EXPECT_FALSE((*bookings)[0].open());

  // A finding that found more keys than it lists stays open until its finder's day judges
  // again; a newer run of that day replaces it.
  ASSERT_TRUE(warehouse
                  ->ReplaceDay(Day(29), SampleDay(Day(29), 10), SampleRun(3), {},
                               {DoubleBookingFinding(FindingKind::kBeyondWindow, Day(27), Day(29),
                                                     5, {{"acme", "a1"}})})
                  .ok());
  bookings = warehouse->DoubleBookings();
  ASSERT_TRUE(bookings.ok());
  ASSERT_EQ(bookings->size(), 1u) << "only the latest run of the finder's day counts";
  EXPECT_EQ((*bookings)[0].finding.kind, FindingKind::kBeyondWindow);
  EXPECT_EQ((*bookings)[0].keys_still_booked, 0);
  EXPECT_TRUE((*bookings)[0].open()) << "4 keys found that it could not list";
  ASSERT_TRUE(warehouse->ReplaceDay(Day(29), SampleDay(Day(29), 10), SampleRun(3)).ok());
  EXPECT_TRUE(warehouse->DoubleBookings()->empty());
}

TEST_P(WarehouseTest, AKeyCursorReadsADaysKeysInByteOrder) {
  auto warehouse = Open();
  DayLedger day;
  for (const char* txn : {"b", "a\xC3\xA9", "a", "A", "a\t1"}) {
    day.transactions.push_back(Txn(Day(27), "globex", txn, 1));
  }
  day.transactions.push_back(Txn(Day(27), "acme", "z", 1));
  std::sort(day.transactions.begin(), day.transactions.end(),
            [](const TransactionRow& a, const TransactionRow& b) {
              return std::tie(a.partner_id, a.txn_id) < std::tie(b.partner_id, b.txn_id);
            });
  ASSERT_TRUE(warehouse->ReplaceDay(Day(27), day, SampleRun(6)).ok());
  ASSERT_TRUE(warehouse->ReplaceDay(Day(28), SampleDay(Day(28), 1), SampleRun(3)).ok());
  Result<std::unique_ptr<KeyCursor>> cursor = warehouse->OpenKeyCursor(Day(27));
  ASSERT_TRUE(cursor.ok()) << cursor.status().ToString();
  std::vector<Key> keys;
  Key key;
  while (true) {
    Result<bool> more = (*cursor)->Next(&key);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    keys.push_back(key);
  }
  const std::vector<Key> expected = {{"acme", "z"},      {"globex", "A"},         {"globex", "a"},
                                     {"globex", "a\t1"}, {"globex", "a\xC3\xA9"}, {"globex", "b"}};
  EXPECT_EQ(keys, expected);
  EXPECT_FALSE(*(*cursor)->Next(&key)) << "still at the end";
  Result<std::unique_ptr<KeyCursor>> empty = warehouse->OpenKeyCursor(Day(30));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(*(*empty)->Next(&key));
}

INSTANTIATE_TEST_SUITE_P(Implementations, WarehouseTest, ::testing::ValuesIn(kImplementations),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(SqliteWarehouse, ASecondWriterWaitsThenGivesUp) {
  TempDir dir;
  auto first = OpenSqliteWarehouse(dir.path() / kSqliteFileName);
  auto second = OpenSqliteWarehouse(dir.path() / kSqliteFileName, {.busy_timeout_ms = 50});
  ASSERT_TRUE(first.ok() && second.ok());
  Result<std::unique_ptr<DayWriter>> holding = (*first)->BeginDay(Day(27));
  ASSERT_TRUE(holding.ok());
  Result<std::unique_ptr<DayWriter>> waiting = (*second)->BeginDay(Day(28));
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.status().code(), StatusCode::kUnavailable) << waiting.status().ToString();
}

// `ledger status`, `ledger show` and `reconcile` open the warehouse while a ledger run may hold
// the write lock for minutes: opening and reading must not wait for it (a reader that waited
// would fail here with Unavailable after the short busy timeout).
TEST(SqliteWarehouse, AReaderOpensAndReadsTheOldDayWhileAnotherProcessWrites) {
  TempDir dir;
  const fs::path path = dir.path() / kSqliteFileName;
  const DayLedger old_day = SampleDay(Day(27), 100);
  {
    auto warehouse = OpenSqliteWarehouse(path);
    ASSERT_TRUE(warehouse.ok()) << warehouse.status().ToString();
    ASSERT_TRUE((*warehouse)->ReplaceDay(Day(27), old_day, SampleRun(3)).ok());
  }
  // Another process's writer, mid-transaction: the write lock held, a change not committed.
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer,
                         "BEGIN IMMEDIATE; DELETE FROM ledger_transactions; "
                         "UPDATE ledger_runs SET keys_booked = 99; "
                         "INSERT INTO warehouse_meta (key, value) VALUES ('uncommitted', 'x')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(writer);

  Result<std::unique_ptr<Warehouse>> reader = OpenSqliteWarehouse(path, {.busy_timeout_ms = 100});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Result<DayLedger> seen = (*reader)->ReadDay(Day(27));
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->transactions, old_day.transactions);
  EXPECT_EQ(seen->totals, old_day.totals);
  Result<std::optional<RunRecord>> run = (*reader)->LatestRun(Day(27));
  ASSERT_TRUE(run.ok() && run->has_value()) << run.status().ToString();
  EXPECT_EQ((*run)->keys_booked, 3) << "the last committed run, not the writer's";
  Result<std::vector<DaySummary>> days = (*reader)->Days();
  ASSERT_TRUE(days.ok()) << days.status().ToString();
  EXPECT_EQ(days->size(), 1u);

  // The writer still owns the lock: a second writer gives up, as before.
  EXPECT_EQ((*reader)->BeginDay(Day(28)).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(writer);
}

// Processes that start on a new data directory at once all create the schema, or find it.
TEST(SqliteWarehouse, ConnectionsCreatingANewFileAtOnceAllOpenIt) {
  TempDir dir;
  const fs::path path = dir.path() / kSqliteFileName;
  constexpr int kOpeners = 4;
  std::vector<Status> opened(kOpeners);
  std::vector<std::thread> openers;
  for (int i = 0; i < kOpeners; ++i) {
    openers.emplace_back([&, i] { opened[i] = OpenSqliteWarehouse(path).status(); });
  }
  for (std::thread& opener : openers) opener.join();
  for (const Status& status : opened) EXPECT_TRUE(status.ok()) << status.ToString();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM warehouse_meta), "
                               "(SELECT value FROM warehouse_meta WHERE key = 'schema_version'), "
                               "(SELECT journal_mode FROM pragma_journal_mode)",
                               -1, &statement, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(statement, 0), 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, 1))),
            std::to_string(kSchemaVersion));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, 2))), "wal");
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

// A failed multi-row INSERT OR ROLLBACK ends the day's transaction: what a careless caller adds
// after it must not be committed row by row.
TEST(SqliteWarehouse, NothingIsWrittenAfterAFailedInsert) {
  TempDir dir;
  auto warehouse = OpenSqliteWarehouse(dir.path() / kSqliteFileName);
  ASSERT_TRUE(warehouse.ok());
  const DayLedger old_day = SampleDay(Day(27), 10);
  ASSERT_TRUE((*warehouse)->ReplaceDay(Day(27), old_day, SampleRun(3)).ok());
  Result<std::unique_ptr<DayWriter>> writer = (*warehouse)->BeginDay(Day(27));
  ASSERT_TRUE(writer.ok());
  Status status;
  for (int i = 0; i < 64 && status.ok(); ++i) {
    status = (*writer)->AddTransaction(
        Txn(Day(27), "p", i == 5 ? "t104" : "t" + std::to_string(100 + i), 1));
  }
  ASSERT_FALSE(status.ok()) << "the duplicate of t104 in the first batch";
  (void)(*writer)->AddTransaction(Txn(Day(27), "p", "t999", 1));
  EXPECT_EQ((*writer)->AddTransaction(Txn(Day(27), "q", "later", 1)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE((*writer)->Commit(SampleRun(3), {}, {}).ok());
  writer->reset();
  EXPECT_EQ((*warehouse)->ReadDay(Day(27))->transactions, old_day.transactions);
}

TEST(PostgresWarehouse, ASecondWriterWaitsThenGivesUp) {
  TempDir dir;
  Result<std::string> url = PostgresUrlFor(dir.path());
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto first = OpenPostgresWarehouse(*url);
  auto second = OpenPostgresWarehouse(*url, {.lock_timeout_ms = 50});
  ASSERT_TRUE(first.ok() && second.ok());
  Result<std::unique_ptr<DayWriter>> holding = (*first)->BeginDay(Day(27));
  ASSERT_TRUE(holding.ok());
  Result<std::unique_ptr<DayWriter>> waiting = (*second)->BeginDay(Day(28));
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.status().code(), StatusCode::kUnavailable) << waiting.status().ToString();
  holding->reset();
  EXPECT_TRUE((*second)->BeginDay(Day(28)).ok()) << "the lock is released with the writer";
}

TEST(PostgresWarehouse, AnUnreachableServerIsUnavailableWithoutThePassword) {
  Result<std::unique_ptr<Warehouse>> opened =
      OpenPostgresWarehouse("postgresql://u:sekrit@127.0.0.1:1/db?connect_timeout=2");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(opened.status().message().find("sekrit"), std::string::npos)
      << opened.status().ToString();
}

TEST(SqliteWarehouse, AnotherSchemaVersionIsRefused) {
  TempDir dir;
  ASSERT_TRUE(OpenSqliteWarehouse(dir.path() / kSqliteFileName).ok());
  // A file written by a future version.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / kSqliteFileName).c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "UPDATE warehouse_meta SET value='99' WHERE key='schema_version'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<Warehouse>> reopened = OpenSqliteWarehouse(dir.path() / kSqliteFileName);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
}

// A file of schema version 1 (before double bookings were recorded) is upgraded in place on
// open: the new tables appear, the version becomes the current one, the ledger is untouched.
TEST(SqliteWarehouse, AVersionOneFileIsUpgraded) {
  TempDir dir;
  const fs::path path = dir.path() / kSqliteFileName;
  const DayLedger day = SampleDay(Day(27), 100);
  {
    auto warehouse = OpenSqliteWarehouse(path);
    ASSERT_TRUE(warehouse.ok());
    ASSERT_TRUE((*warehouse)->ReplaceDay(Day(27), day, SampleRun(3)).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP TABLE ledger_double_bookings; DROP TABLE ledger_double_booking_keys; "
                   "UPDATE warehouse_meta SET value = '1' WHERE key = 'schema_version'",
                   nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  Result<std::unique_ptr<Warehouse>> upgraded = OpenSqliteWarehouse(path);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  EXPECT_EQ((*upgraded)->ReadDay(Day(27))->transactions, day.transactions);
  Result<std::vector<DoubleBooking>> bookings = (*upgraded)->DoubleBookings();
  ASSERT_TRUE(bookings.ok()) << bookings.status().ToString();
  EXPECT_TRUE(bookings->empty());
  ASSERT_TRUE((*upgraded)
                  ->ReplaceDay(Day(29), SampleDay(Day(29), 100), SampleRun(3), {},
                               {DoubleBookingFinding(FindingKind::kDoubleBooked, Day(27), Day(29),
                                                     1, {{"acme", "a1"}})})
                  .ok());
  EXPECT_EQ((*upgraded)->DoubleBookings()->size(), 1u);

  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM warehouse_meta WHERE key = 'schema_version'",
                               -1, &statement, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))),
            std::to_string(kSchemaVersion));
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

TEST(PostgresWarehouse, AVersionOneDatabaseIsUpgraded) {
  TempDir dir;
  Result<std::string> url = PostgresUrlFor(dir.path());
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  const DayLedger day = SampleDay(Day(27), 100);
  {
    auto warehouse = OpenPostgresWarehouse(*url);
    ASSERT_TRUE(warehouse.ok());
    ASSERT_TRUE((*warehouse)->ReplaceDay(Day(27), day, SampleRun(3)).ok());
  }
  const auto exec = [&url](const char* sql) {
    PGconn* conn = PQconnectdb(url->c_str());
    PGresult* result = PQexec(conn, sql);
    const ExecStatusType status = PQresultStatus(result);
    std::string value = status == PGRES_TUPLES_OK && PQntuples(result) == 1
                            ? std::string(PQgetvalue(result, 0, 0))
                            : std::string();
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    EXPECT_TRUE(ok) << PQerrorMessage(conn);
    PQclear(result);
    PQfinish(conn);
    return value;
  };
  exec(
      "DROP TABLE ledger_double_bookings; DROP TABLE ledger_double_booking_keys; "
      "UPDATE warehouse_meta SET value = '1' WHERE key = 'schema_version'");

  Result<std::unique_ptr<Warehouse>> upgraded = OpenPostgresWarehouse(*url);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  EXPECT_EQ((*upgraded)->ReadDay(Day(27))->transactions, day.transactions);
  EXPECT_EQ(exec("SELECT value FROM warehouse_meta WHERE key = 'schema_version'"),
            std::to_string(kSchemaVersion));
  ASSERT_TRUE((*upgraded)
                  ->ReplaceDay(Day(29), SampleDay(Day(29), 100), SampleRun(3), {},
                               {DoubleBookingFinding(FindingKind::kDoubleBooked, Day(27), Day(29),
                                                     1, {{"acme", "a1"}})})
                  .ok());
  Result<std::vector<DoubleBooking>> bookings = (*upgraded)->DoubleBookings();
  ASSERT_TRUE(bookings.ok()) << bookings.status().ToString();
  ASSERT_EQ(bookings->size(), 1u);
  EXPECT_EQ((*bookings)[0].keys_still_booked, 1);

  exec("UPDATE warehouse_meta SET value = '99' WHERE key = 'schema_version'");
  Result<std::unique_ptr<Warehouse>> future = OpenPostgresWarehouse(*url);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace firehose::warehouse
