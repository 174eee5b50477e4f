// `--shard i/N` parsing and the shard files' writer; the sharded run itself is tested end to end
// through the binary (tests/integration/ledger_cli_test.cc: 4 shards == a single run, a shard
// killed mid-commit, a rows file that is not its manifest's, a commit's memory; on SQLite and
// PostgreSQL).
#include "ledger/shards.h"

#include <gtest/gtest.h>

#include <fstream>

#include "lake/lake_test_util.h"

namespace firehose::ledger {
namespace {

TEST(ParseShard, AcceptsIndexOfCount) {
  Result<ShardSpec> first = ParseShard("0/4");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->index, 0);
  EXPECT_EQ(first->count, 4);
  Result<ShardSpec> last = ParseShard("3/4");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->index, 3);
  EXPECT_TRUE(ParseShard("0/1").ok());
}

TEST(ParseShard, RefusesEverythingElseAsUsage) {
  for (const char* bad : {"4/4", "/4", "1/", "a/b", "1/0", "-1/4", "1/4x", "", "1", "0/5000"}) {
    Result<ShardSpec> parsed = ParseShard(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

const BusinessDate kDay = BusinessDate::FromCivil(2025, 11, 27);

// A shard whose run starts writing is absent until its run finishes: its previous manifest goes
// first, so nothing can pair it with the new rows.
TEST(ShardOutput, BeginningADayRemovesTheShardsPreviousManifest) {
  lake::testing::TempDir dir;
  const std::filesystem::path manifest = dir.path() / "shard-1-of-2.json";
  std::ofstream(manifest) << "{}\n";
  const std::unique_ptr<warehouse::Warehouse> output = ShardOutput(nullptr, dir.path(), {1, 2});
  Result<std::unique_ptr<warehouse::DayWriter>> writer = output->BeginDay(kDay);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(manifest));
}

// The commit reads a rows file in one pass: transactions, totals, conflicts.
TEST(ShardOutput, RefusesRowsOutOfTheOrderTheCommitReadsThem) {
  lake::testing::TempDir dir;
  const std::unique_ptr<warehouse::Warehouse> output = ShardOutput(nullptr, dir.path(), {0, 1});
  Result<std::unique_ptr<warehouse::DayWriter>> writer = output->BeginDay(kDay);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  warehouse::TotalRow total;
  total.business_date = kDay;
  total.partner_id = "acme";
  total.currency = "USD";
  ASSERT_TRUE((*writer)->AddTotal(total).ok());
  warehouse::TransactionRow late;
  late.business_date = kDay;
  late.partner_id = "acme";
  late.txn_id = "t1";
  late.currency = "USD";
  EXPECT_EQ((*writer)->AddTransaction(late).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace firehose::ledger
