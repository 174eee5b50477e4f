#include "poll/retry.h"

#include <gtest/gtest.h>

#include <set>

namespace firehose::poll {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Backoff, FullJitterStaysWithinTheDoublingCeilingAndTheCap) {
  std::mt19937_64 random(7);
  for (std::int64_t failures = 0; failures < 70; ++failures) {
    const std::int64_t ceiling =
        std::min<std::int64_t>(30'000, 200LL << std::min<std::int64_t>(failures, 20));
    milliseconds longest{0};
    for (int i = 0; i < 400; ++i) {
      const milliseconds delay = BackoffDelay(failures, 200, 30'000, random);
      ASSERT_GE(delay.count(), 0);
      ASSERT_LE(delay.count(), ceiling) << "after " << failures << " failures";
      longest = std::max(longest, delay);
    }
    // Jitter spreads over the whole range: 400 draws come near the ceiling.
    EXPECT_GT(longest.count(), ceiling * 8 / 10) << "after " << failures << " failures";
  }
}

TEST(Backoff, DrawsDifferAcrossCalls) {
  std::mt19937_64 random(1);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 50; ++i) seen.insert(BackoffDelay(5, 100, 10'000, random).count());
  EXPECT_GT(seen.size(), 40U);
}

TEST(RetryAfter, ParsesDelaySeconds) {
  EXPECT_EQ(ParseRetryAfter("120", 0), seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", 0), seconds(0));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", 0), seconds(INT32_MAX));
}

TEST(RetryAfter, ParsesHttpDatesRelativeToNow) {
  // Wed, 21 Oct 2026 07:28:00 GMT = 1792567680
  constexpr std::int64_t kThen = 1792567680;
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", kThen - 30), seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wednesday, 21-Oct-26 07:28:00 GMT", kThen - 5), seconds(5));
  EXPECT_EQ(ParseRetryAfter("Wed Oct 21 07:28:00 2026", kThen - 1), seconds(1));
  // A date in the past means "now".
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", kThen + 100), seconds(0));
}

TEST(RetryAfter, RejectsWhatIsNeitherForm) {
  for (const char* value : {"", "-5", "+5", "1.5", "soon", "12abc", "Wed, 99 Foo 2026"}) {
    EXPECT_EQ(ParseRetryAfter(value, 0), std::nullopt) << value;
  }
}

TEST(CircuitBreaker, OpensAfterKConsecutiveFailuresOnly) {
  const SteadyTime t0{};
  CircuitBreaker breaker(3, milliseconds(1000));
  breaker.OnFailure(t0);
  breaker.OnFailure(t0);
  breaker.OnSuccess();  // a success resets the count
  breaker.OnFailure(t0);
  breaker.OnFailure(t0);
  EXPECT_EQ(breaker.StateAt(t0), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(breaker.Allow(t0));
  breaker.OnFailure(t0);
  EXPECT_EQ(breaker.StateAt(t0), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(breaker.Allow(t0 + milliseconds(999)));
  EXPECT_EQ(breaker.times_opened(), 1U);
}

TEST(CircuitBreaker, HalfOpenLetsExactlyOneProbeThrough) {
  const SteadyTime t0{};
  CircuitBreaker breaker(1, milliseconds(1000));
  breaker.OnFailure(t0);
  const SteadyTime later = t0 + milliseconds(1000);
  EXPECT_EQ(breaker.StateAt(later), CircuitBreaker::State::kHalfOpen);
  EXPECT_TRUE(breaker.Allow(later));
  EXPECT_FALSE(breaker.Allow(later));  // the probe is in flight
  EXPECT_FALSE(breaker.Allow(later + milliseconds(5000)));
  breaker.OnSuccess();
  EXPECT_EQ(breaker.StateAt(later), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(breaker.Allow(later));
  EXPECT_TRUE(breaker.Allow(later));
}

TEST(CircuitBreaker, AFailedProbeOpensAgainForAnotherCoolDown) {
  const SteadyTime t0{};
  CircuitBreaker breaker(2, milliseconds(1000));
  breaker.OnFailure(t0);
  breaker.OnFailure(t0);
  const SteadyTime probe_time = t0 + milliseconds(1500);
  ASSERT_TRUE(breaker.Allow(probe_time));
  breaker.OnFailure(probe_time);
  EXPECT_EQ(breaker.StateAt(probe_time), CircuitBreaker::State::kOpen);
  EXPECT_EQ(breaker.open_until(), probe_time + milliseconds(1000));
  EXPECT_FALSE(breaker.Allow(probe_time + milliseconds(999)));
  EXPECT_TRUE(breaker.Allow(probe_time + milliseconds(1000)));
  EXPECT_EQ(breaker.times_opened(), 2U);
}

}  // namespace
}  // namespace firehose::poll
