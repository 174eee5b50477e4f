// The lake consumer against a real embedded log: on stop it lands what the queue still holds
// (so a graceful stop leaves the lake complete), within its drain bound, exactly once.
#include "lake/lake_consumer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "core/time.h"
#include "lake/lake_format.h"
#include "lake/lake_test_util.h"
#include "queue/embedded_log.h"

namespace firehose::lake {
namespace {

using testing::AcmeBody;
using testing::MakeRecord;
using testing::ReadWholeLake;
using testing::TempDir;
using testing::TestConfig;

constexpr int kRecords = 300;

// Appends kRecords webhooks to `log` and waits until every one is durable.
void AppendDurably(EmbeddedLog& log) {
  std::vector<std::future<bool>> acks;
  for (int i = 0; i < kRecords; ++i) {
    auto promise = std::make_shared<std::promise<bool>>();
    acks.push_back(promise->get_future());
    log.Append(MakeRecord("acme", AcmeBody("t" + std::to_string(i), "1.00", "2026-11-27T10:00:00Z"),
                          *ParseRfc3339("2026-11-27T10:00:01Z")),
               [promise](Result<QueueOffset> offset) { promise->set_value(offset.ok()); });
  }
  for (auto& ack : acks) ASSERT_TRUE(ack.get());
}

TEST(LakeConsumer, AStopLandsWhatTheQueueStillHoldsExactlyOnce) {
  TempDir dir;
  const Config config = TestConfig(dir.path());
  auto log = EmbeddedLog::Open(dir.path() / "queue", config.limits);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  AppendDurably(**log);

  auto consumer = (*log)->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  const std::atomic<bool> stopping{true};  // stopped before it fetched anything: only the drain runs
  ASSERT_TRUE(RunLakeConsumer(config, **consumer, stopping).ok());
  EXPECT_EQ(ReadWholeLake(LakeRoot(dir.path())).size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ((*consumer)->committed_next(), QueueOffset(kRecords));

  // A second stop finds nothing new: nothing lands twice.
  ASSERT_TRUE(RunLakeConsumer(config, **consumer, stopping).ok());
  EXPECT_EQ(ReadWholeLake(LakeRoot(dir.path())).size(), static_cast<std::size_t>(kRecords));
}

TEST(LakeConsumer, WhatTheDrainBoundLeavesLandsAtTheNextStart) {
  TempDir dir;
  const Config config = TestConfig(dir.path());
  auto log = EmbeddedLog::Open(dir.path() / "queue", config.limits);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  AppendDurably(**log);
  const std::atomic<bool> stopping{true};
  {
    auto consumer = (*log)->OpenConsumer("lake");
    ASSERT_TRUE(consumer.ok());
    LakeConsumerOptions no_drain;
    no_drain.stop_drain_max = std::chrono::milliseconds(0);
    ASSERT_TRUE(RunLakeConsumer(config, **consumer, stopping, no_drain).ok());
    EXPECT_TRUE(ReadWholeLake(LakeRoot(dir.path())).empty());
  }
  auto consumer = (*log)->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE(RunLakeConsumer(config, **consumer, stopping).ok());
  EXPECT_EQ(ReadWholeLake(LakeRoot(dir.path())).size(), static_cast<std::size_t>(kRecords));
}

}  // namespace
}  // namespace firehose::lake
