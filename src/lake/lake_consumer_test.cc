// The lake consumer against a real embedded log: on stop it lands what the queue still holds
// (so a graceful stop leaves the lake complete), within its drain bound, exactly once; after a
// failed publication it lands nothing until the writer and the queue agree again.
#include "lake/lake_consumer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "core/fault.h"
#include "core/metrics.h"
#include "core/time.h"
#include "lake/lake_format.h"
#include "lake/lake_test_util.h"
#include "lake/lake_verify.h"
#include "queue/embedded_log.h"

namespace firehose::lake {
namespace {

using testing::AcmeBody;
using testing::LineKeys;
using testing::MakeRecord;
using testing::ReadWholeLake;
using testing::TempDir;
using testing::TestConfig;

constexpr int kRecords = 300;

// Appends `count` webhooks to `log` and waits until every one is durable. With `keys`, adds the
// lake key each one must land as ("<arrival id>/0").
void AppendDurably(EmbeddedLog& log, int count = kRecords, std::vector<std::string>* keys = nullptr,
                   int first_txn = 0) {
  std::vector<std::future<bool>> acks;
  for (int i = first_txn; i < first_txn + count; ++i) {
    auto promise = std::make_shared<std::promise<bool>>();
    acks.push_back(promise->get_future());
    QueueRecord record =
        MakeRecord("acme", AcmeBody("t" + std::to_string(i), "1.00", "2026-11-27T10:00:00Z"),
                   *ParseRfc3339("2026-11-27T10:00:01Z"));
    if (keys != nullptr) keys->push_back(record.arrival_id.str() + "/0");
    log.Append(std::move(record),
               [promise](Result<QueueOffset> offset) { promise->set_value(offset.ok()); });
  }
  for (auto& ack : acks) ASSERT_TRUE(ack.get());
}

std::uint64_t LakeLag(const EmbeddedLog& log) {
  for (const ConsumerStats& consumer : log.Stats().consumers) {
    if (consumer.name == "lake") return consumer.lag_records;
  }
  return UINT64_MAX;
}

std::uint64_t ErrorCount(std::string_view stage, std::string_view kind) {
  return Metrics()
      .CounterFor("firehose_errors_total",
                  {{"stage", std::string(stage)}, {"kind", std::string(kind)}})
      .value();
}

void ExpectVerifies(const std::filesystem::path& lake_root) {
  Result<VerifyReport> report = VerifyLake(lake_root, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const LakeProblem& problem : report->problems) {
    ADD_FAILURE() << problem.kind << " " << problem.path << ": " << problem.message;
  }
}

// "" when `lines` hold every offset in [0, count) once, else which ones are missing or repeated
// (readable where a comparison of a few hundred keys is not).
std::string OffsetProblems(const std::vector<testing::LandedLine>& lines, std::uint64_t count) {
  std::vector<int> seen(count, 0);
  for (const testing::LandedLine& line : lines) {
    if (line.queue_offset < count) ++seen[line.queue_offset];
  }
  std::string problems;
  for (std::uint64_t offset = 0; offset < count; ++offset) {
    if (seen[offset] == 1) continue;
    problems += " " + std::to_string(offset) + (seen[offset] == 0 ? ":missing" : ":repeated");
  }
  return problems;
}

// Clears the fault list however the test ends (a failed assertion must not leave faults on for
// the next test in this process).
struct FaultsOff {
  ~FaultsOff() { fault::SetForTest(""); }
};

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

// A publication fails in the middle of a fetched batch (the writer drops its open range and
// rewinds to the range's first offset), and the Seek back to that offset fails too (cursor
// write EIO). The consumer must land nothing from its stale position after the batch: it retries
// recovery and the Seek until both succeed. Before that was so, it went on from after the batch,
// committed past the dropped range, and a restart never read that range again: the lake lost it
// for good while `lake verify` passed.
TEST(LakeConsumer, AFailedSeekAfterAFailedPublicationLosesNothing) {
  TempDir dir;
  // Ranges of a few dozen records, and fetches of 100: the failing publication's range ends
  // well before its batch does. A short age roll publishes the last partial range quickly.
  const Config config = TestConfig(
      dir.path(), "UTC", "\n[limits]\nlake_file_bytes_max = 16384\nlake_roll_age_ms = 50\n");
  auto log = EmbeddedLog::Open(dir.path() / "queue", config.limits);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<std::string> expected;
  AppendDurably(**log, kRecords, &expected);

  LakeConsumerOptions options;
  options.fetch_records_max = 100;
  options.idle_wait = std::chrono::milliseconds(20);
  options.retry_backoff_initial = std::chrono::milliseconds(10);
  options.retry_backoff_max = std::chrono::milliseconds(40);
  const std::uint64_t publish_errors_before = ErrorCount("lake", "publish");
  const std::uint64_t cursor_errors_before = ErrorCount("queue", "cursor");
  const std::uint64_t seek_errors_before = ErrorCount("lake", "seek");
  {
    FaultsOff faults_off;
    // Hits of log.cursor: 1 the Seek at start, 2 the Seek after the failed publication (no
    // commit comes between: the failing batch's first range is committed only after a Write
    // that succeeds). Hits of lake.temp_sync: one per range (every event is on one date).
    fault::SetForTest("lake.temp_sync=eio@2,log.cursor=eio@2");
    auto consumer = (*log)->OpenConsumer("lake");
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    std::atomic<bool> stop{false};
    std::thread runner([&] {
      const Status status = RunLakeConsumer(config, **consumer, stop, options);
      EXPECT_TRUE(status.ok()) << status.ToString();
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (LakeLag(**log) != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop = true;
    runner.join();
  }
  ASSERT_GT(ErrorCount("lake", "publish"), publish_errors_before) << "the publish fault fired";
  ASSERT_GT(ErrorCount("queue", "cursor"), cursor_errors_before) << "the cursor fault fired";
  EXPECT_GT(ErrorCount("lake", "seek"), seek_errors_before) << "the failed Seek is counted";
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(OffsetProblems(ReadWholeLake(LakeRoot(dir.path())), kRecords), "");
  EXPECT_EQ(LineKeys(ReadWholeLake(LakeRoot(dir.path()))), expected);
  ExpectVerifies(LakeRoot(dir.path()));

  // A restart, with more records: each is in the lake exactly once, and the earlier ones still.
  AppendDurably(**log, 50, &expected, kRecords);
  auto consumer = (*log)->OpenConsumer("lake");
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  const std::atomic<bool> stopping{true};  // only the drain runs: it lands what the queue holds
  ASSERT_TRUE(RunLakeConsumer(config, **consumer, stopping, options).ok());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(OffsetProblems(ReadWholeLake(LakeRoot(dir.path())), kRecords + 50), "");
  EXPECT_EQ(LineKeys(ReadWholeLake(LakeRoot(dir.path()))), expected);
  EXPECT_EQ((*consumer)->committed_next(), QueueOffset(kRecords + 50));
  ExpectVerifies(LakeRoot(dir.path()));
}

}  // namespace
}  // namespace firehose::lake
