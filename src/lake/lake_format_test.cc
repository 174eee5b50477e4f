#include "lake/lake_format.h"

#include <gtest/gtest.h>

namespace firehose::lake {
namespace {

TEST(LakeFormat, PartFileNamesSortByOffsetAndParseBack) {
  const std::string name = PartFileName("w0", QueueOffset(100), QueueOffset(199));
  EXPECT_EQ(name, "part-w0-00000000000000000100-00000000000000000199.jsonl.zst");
  EXPECT_LT(name, PartFileName("w0", QueueOffset(1000), QueueOffset(1000)));
  PartFile parsed;
  ASSERT_TRUE(ParsePartFileName(name, &parsed));
  EXPECT_EQ(parsed.writer, "w0");
  EXPECT_EQ(parsed.first.value(), 100u);
  EXPECT_EQ(parsed.last.value(), 199u);
  EXPECT_FALSE(ParsePartFileName("part-w0-1-2.jsonl.zst", &parsed));
  EXPECT_FALSE(ParsePartFileName(name + ".tmp", &parsed));
}

TEST(LakeFormat, Partitions) {
  const BusinessDate date = BusinessDate::FromCivil(2026, 11, 27);
  EXPECT_EQ(RawPartitionName(date), "event_date=2026-11-27");
  EXPECT_EQ(QuarantinePartitionName(date), "arrival_date=2026-11-27");
  BusinessDate parsed;
  ASSERT_TRUE(ParsePartitionName("event_date=2026-11-27", kRawPartitionKey, &parsed));
  EXPECT_EQ(parsed, date);
  EXPECT_FALSE(ParsePartitionName("arrival_date=2026-11-27", kRawPartitionKey, &parsed));
  EXPECT_FALSE(ParsePartitionName("event_date=2026-13-27", kRawPartitionKey, &parsed));
  EXPECT_EQ(ManifestRelativePath("w0", QueueOffset(1), QueueOffset(2)),
            "writer=w0/00000000000000000001-00000000000000000002.json");
}

}  // namespace
}  // namespace firehose::lake
