// `--shard i/N` parsing; the sharded run itself is tested end to end through the binary
// (tests/integration/ledger_cli_test.cc: 4 shards == a single run, on SQLite and PostgreSQL).
#include "ledger/shards.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace firehose::ledger
