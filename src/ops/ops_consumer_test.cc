#include "ops/ops_consumer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <thread>

#include "queue/embedded_log.h"
#include "support/ops_fixtures.h"

namespace firehose::ops {
namespace {

using testing::MakeRecord;
using testing::OpsTestConfig;
using testing::StripeBody;

constexpr std::int64_t kNowS = 1'764'201'600;

TEST(ArrivalProcessorTest, CountsEventsFailuresDuplicatesQuarantineAndLag) {
  const Config config = OpsTestConfig(2);
  const TimestampUs now(kNowS * 1'000'000);
  OpsState state(config, [now] { return now; });
  ArrivalProcessor processor(state);
  const TimestampUs received(now.value() - 300'000);  // 300 ms before the consumer reads it
  processor.Process(MakeRecord("p000", StripeBody("ch_1"), received), now);
  processor.Process(MakeRecord("p000", StripeBody("ch_2", "failed"), received), now);
  processor.Process(MakeRecord("p000", StripeBody("ch_1"), received), now);  // a resend
  processor.Process(MakeRecord("p000", "{not json", received), now);
  processor.Process(MakeRecord("p001", StripeBody("ch_1", "succeeded", 500, "eur"), received), now);

  const PartnerSeries& p000 = *state.Find("p000");
  const BucketValues window = p000.SumSeconds(kNowS, 60);
  EXPECT_EQ(window.events, 3u);
  EXPECT_EQ(window.failed, 1u);
  EXPECT_EQ(window.duplicates, 1u);
  EXPECT_EQ(window.errors[static_cast<int>(IngestError::kQuarantined)], 1u);
  EXPECT_EQ(window.lag_max_ms, 300u);
  const BucketValues minute = p000.Minutes(kNowS, 2)[0];  // received in the minute before
  EXPECT_EQ(minute.amounts[0], 3 * 1234);
  EXPECT_EQ(p000.CurrencySlots()[0], "USD");

  const BucketValues other = state.Find("p001")->SumSeconds(kNowS, 60);
  EXPECT_EQ(other.events, 1u);
  EXPECT_EQ(other.duplicates, 0u) << "the same txn id from another partner is not a duplicate";
}

TEST(ArrivalProcessorTest, TracksUnconfiguredPartnersUpToTheLimit) {
  Config config = OpsTestConfig(1, "");
  config.limits.ops_partners_max = 2;
  OpsState state(config);
  ArrivalProcessor processor(state);
  const TimestampUs now = NowUs();
  processor.Process(MakeRecord("gone1", StripeBody("a"), now), now);
  processor.Process(MakeRecord("gone2", StripeBody("b"), now), now);
  EXPECT_EQ(state.partner_count(), 2u);
  EXPECT_NE(state.Find("gone1"), nullptr);
  EXPECT_EQ(state.Find("gone2"), nullptr);
  EXPECT_EQ(state.overflow_records(), 1u);
}

TEST(ArrivalProcessorTest, EdgeRejectionsLandInThePartnersSeries) {
  const Config config = OpsTestConfig(1);
  const TimestampUs now(kNowS * 1'000'000);
  OpsState state(config, [now] { return now; });
  state.webhook_observer()->OnRejected("p000", "signature_no_match");
  state.webhook_observer()->OnRejected("p000", "rate_limited");
  state.webhook_observer()->OnRejected("_unknown", "unknown_partner");
  const BucketValues window = state.Find("p000")->SumSeconds(kNowS, 1);
  EXPECT_EQ(window.errors[static_cast<int>(IngestError::kBadSignature)], 1u);
  EXPECT_EQ(window.errors[static_cast<int>(IngestError::kRateLimited)], 1u);
  EXPECT_EQ(state.unknown_rejections(), 1u);
}

class OpsConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ops_consumer_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void AppendDurably(Queue& queue, QueueRecord record) {
    std::promise<Result<QueueOffset>> done;
    queue.Append(std::move(record),
                 [&done](Result<QueueOffset> result) { done.set_value(result); });
    ASSERT_TRUE(done.get_future().get().ok());
  }

  std::filesystem::path dir_;
};

TEST_F(OpsConsumerTest, ReadsTheRealLogAndCommitsItsCursor) {
  Config config = OpsTestConfig(1, "[ops]\ncommit_interval_ms = 10\n");
  auto log = EmbeddedLog::Open(dir_, config.limits);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  {
    OpsState state(config);
    OpsConsumer consumer(state, **log);
    ASSERT_TRUE(consumer.Start().ok());
    for (int i = 0; i < 5; ++i) {
      AppendDurably(**log, MakeRecord("p000", StripeBody("ch_" + std::to_string(i)), NowUs()));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (state.Find("p000")->events_total() < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(state.Find("p000")->events_total(), 5u);
    consumer.Stop();
  }
  // The cursor was committed: a new consumer starts after the five records.
  const QueueStats stats = (*log)->Stats();
  bool found = false;
  for (const ConsumerStats& consumer : stats.consumers) {
    if (consumer.name != "ops") continue;
    found = true;
    EXPECT_EQ(consumer.committed_next.value(), 5u);
    EXPECT_EQ(consumer.lag_records, 0u);
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace firehose::ops
