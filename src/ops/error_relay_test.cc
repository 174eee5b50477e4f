// The relay's two in-memory halves without NATS: the ingest side's bounded tally, and the ops
// side's receiver (decode, validate, apply). tests/integration/ops_relay_test.cc runs them
// over a real nats-server and real processes.
#include "ops/error_relay.h"

#include <gtest/gtest.h>

#include <thread>

#include "support/ops_fixtures.h"

namespace firehose::ops {
namespace {

using testing::OpsTestConfig;

constexpr std::int64_t kNowS = 1'764'201'600;
constexpr std::size_t kBytesMax = 65536;

std::uint64_t MessagesCounted(std::string_view role, std::string_view outcome) {
  return Metrics().SumCounters("firehose_ops_relay_messages_total",
                               {{"role", std::string(role)}, {"outcome", std::string(outcome)}});
}

std::uint64_t ErrorsCounted(std::string_view role, std::string_view outcome) {
  return Metrics().SumCounters("firehose_ops_relayed_errors_total",
                               {{"role", std::string(role)}, {"outcome", std::string(outcome)}});
}

std::uint64_t ErrorsOf(const OpsState& state, std::string_view partner, IngestError kind) {
  return state.Find(partner)->SumSeconds(kNowS, 60).errors[static_cast<int>(kind)];
}

std::string Message(const std::vector<RelayCount>& counts, TimestampUs at) {
  const auto messages = EncodeRelayMessages("ingest-host:77", 1, at, counts, kBytesMax);
  return messages.empty() ? "" : messages[0].text;
}

TEST(RelayTallyTest, SumsPerSourcePartnerAndReason) {
  RelayTally tally(16);
  EXPECT_TRUE(tally.empty());
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(tally.Add(RelaySource::kWebhook, "p0", "signature_no_match", 1));
  EXPECT_TRUE(tally.Add(RelaySource::kWebhook, "p0", "rate_limited", 2));
  EXPECT_TRUE(tally.Add(RelaySource::kPoll, "p0", "rate_limited", 1));  // another source
  EXPECT_EQ(tally.entries(), 3u);
  const std::vector<RelayCount> counts = tally.Take();
  const std::vector<RelayCount> expected = {{RelaySource::kWebhook, "p0", "rate_limited", 2},
                                            {RelaySource::kWebhook, "p0", "signature_no_match", 3},
                                            {RelaySource::kPoll, "p0", "rate_limited", 1}};
  EXPECT_EQ(counts, expected);
  EXPECT_TRUE(tally.empty());
  EXPECT_TRUE(tally.Take().empty());
}

TEST(RelayTallyTest, RefusesNewEntriesBeyondItsLimitButKeepsCountingKnownOnes) {
  RelayTally tally(2);
  EXPECT_TRUE(tally.Add(RelaySource::kWebhook, "p0", "a", 1));
  EXPECT_TRUE(tally.Add(RelaySource::kWebhook, "p1", "a", 1));
  EXPECT_FALSE(tally.Add(RelaySource::kWebhook, "p2", "a", 1));
  EXPECT_TRUE(tally.Add(RelaySource::kWebhook, "p0", "a", 5));
  EXPECT_EQ(tally.entries(), 2u);
  const auto counts = tally.Take();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].count, 6u);
  EXPECT_TRUE(tally.Add(RelaySource::kWebhook, "p2", "a", 1)) << "room again after a Take";
}

TEST(RelayTallyTest, RemembersWhenItsOldestCountArrived) {
  RelayTally tally(4);
  const auto t0 = RelayTally::Clock::now();
  tally.Add(RelaySource::kWebhook, "p0", "a", 1, t0);
  tally.Add(RelaySource::kWebhook, "p1", "a", 1, t0 + std::chrono::seconds(5));
  EXPECT_EQ(tally.oldest(), t0);
  tally.Take();
  tally.Add(RelaySource::kWebhook, "p1", "a", 1, t0 + std::chrono::seconds(9));
  EXPECT_EQ(tally.oldest(), t0 + std::chrono::seconds(9));
}

TEST(RelayTallyTest, CountsEveryAddFromManyThreads) {
  RelayTally tally(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&tally, t] {
      for (int i = 0; i < 10000; ++i) {
        tally.Add(RelaySource::kWebhook, "p" + std::to_string(i % 8), t % 2 ? "a" : "b", 1);
      }
    });
  }
  std::uint64_t taken = 0;
  for (int i = 0; i < 50; ++i) {
    for (const RelayCount& count : tally.Take()) taken += count.count;
  }
  for (std::thread& thread : threads) thread.join();
  for (const RelayCount& count : tally.Take()) taken += count.count;
  EXPECT_EQ(taken, 40000u);
}

TEST(RelayReceiverTest, AppliesCountsThroughTheSameMappingAsTheEdgesObserver) {
  const Config config = OpsTestConfig(2);
  const TimestampUs now(kNowS * 1'000'000);
  OpsState state(config, [now] { return now; });
  RelayReceiver receiver(state, kBytesMax);
  const std::uint64_t applied_before = MessagesCounted("ops", "applied");
  const std::uint64_t unknown_before = ErrorsCounted("ops", "unknown_partner");
  const std::string message =
      Message({{RelaySource::kWebhook, "p000", "signature_no_match", 4},
               {RelaySource::kWebhook, "p000", "signature_timestamp_too_old", 1},
               {RelaySource::kWebhook, "p000", "body_too_large", 2},
               {RelaySource::kWebhook, "p001", "queue_unavailable", 3},
               {RelaySource::kWebhook, "_unknown", "unknown_partner", 5},
               {RelaySource::kPoll, "p001", "connect", 6},
               {RelaySource::kPoll, "gone", "timeout", 7}},
              TimestampUs(now.value() - 2'000'000));
  EXPECT_EQ(receiver.Receive(message), "applied");
  EXPECT_EQ(ErrorsOf(state, "p000", IngestError::kBadSignature), 5u);
  EXPECT_EQ(ErrorsOf(state, "p000", IngestError::kOversize), 2u);
  EXPECT_EQ(ErrorsOf(state, "p001", IngestError::kUnavailable), 3u);
  EXPECT_EQ(ErrorsOf(state, "p001", IngestError::kPollFailure), 6u);
  EXPECT_EQ(state.unknown_rejections(), 12u);
  EXPECT_EQ(MessagesCounted("ops", "applied"), applied_before + 1);
  EXPECT_EQ(ErrorsCounted("ops", "unknown_partner"), unknown_before + 12);
  // Booked in the second the sender sent them (2 s ago).
  const auto seconds = state.Find("p000")->Seconds(kNowS, 3);
  EXPECT_EQ(seconds[0].errors[static_cast<int>(IngestError::kBadSignature)], 5u);
  // A refusal is the partner talking; a failed poll is not.
  EXPECT_EQ(state.Find("p000")->last_seen().value(), now.value() - 2'000'000);
}

TEST(RelayReceiverTest, NeverBooksIntoTheFuture) {
  const Config config = OpsTestConfig(1);
  const TimestampUs now(kNowS * 1'000'000);
  OpsState state(config, [now] { return now; });
  RelayReceiver receiver(state, kBytesMax);
  ASSERT_EQ(receiver.Receive(Message({{RelaySource::kWebhook, "p000", "rate_limited", 1}},
                                     TimestampUs(now.value() + 3'600'000'000))),
            "applied");
  EXPECT_EQ(
      state.Find("p000")->Seconds(kNowS, 1)[0].errors[static_cast<int>(IngestError::kRateLimited)],
      1u);
}

TEST(RelayReceiverTest, DropsBadMessagesWholeAndCountsThem) {
  const Config config = OpsTestConfig(1);
  const TimestampUs now(kNowS * 1'000'000);
  OpsState state(config, [now] { return now; });
  RelayReceiver receiver(state, 1024);
  const std::uint64_t malformed = MessagesCounted("ops", "malformed");
  const std::uint64_t too_large = MessagesCounted("ops", "too_large");
  const std::uint64_t unknown_version = MessagesCounted("ops", "unknown_version");

  EXPECT_EQ(receiver.Receive("not json"), "malformed");
  EXPECT_EQ(receiver.Receive(std::string(2000, ' ')), "too_large");
  std::string future = Message({{RelaySource::kWebhook, "p000", "rate_limited", 1}}, now);
  future.replace(future.find("\"format_version\":1"), 18, "\"format_version\":9");
  EXPECT_EQ(receiver.Receive(future), "unknown_version");
  // One bad entry spoils the message: nothing of it is applied.
  std::string bad_count = Message({{RelaySource::kWebhook, "p000", "rate_limited", 1},
                                   {RelaySource::kWebhook, "p000", "signature_missing", 1}},
                                  now);
  bad_count.replace(bad_count.rfind("\"count\":1"), 9, "\"count\":-1");
  EXPECT_EQ(receiver.Receive(bad_count), "malformed");
  for (int i = 0; i < 100; ++i) receiver.Receive("{");  // throttled log lines, all counted

  EXPECT_EQ(MessagesCounted("ops", "malformed"), malformed + 102);
  EXPECT_EQ(MessagesCounted("ops", "too_large"), too_large + 1);
  EXPECT_EQ(MessagesCounted("ops", "unknown_version"), unknown_version + 1);
  EXPECT_EQ(state.Find("p000")->errors_total(), 0u);
  EXPECT_EQ(state.unknown_rejections(), 0u);
}

}  // namespace
}  // namespace firehose::ops
