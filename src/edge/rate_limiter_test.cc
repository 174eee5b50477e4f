#include "edge/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace firehose::edge {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const Clock::time_point kStart = Clock::time_point(seconds(1'000'000));

int AllowedOf(TokenBucket& bucket, int attempts, Clock::time_point now) {
  int allowed = 0;
  for (int i = 0; i < attempts; ++i) allowed += bucket.Acquire(now).allowed ? 1 : 0;
  return allowed;
}

TEST(TokenBucket, AFullBucketAllowsExactlyTheBurstAtOnce) {
  TokenBucket bucket(/*requests_per_second=*/10, /*burst=*/5);
  EXPECT_EQ(AllowedOf(bucket, 20, kStart), 5);
}

TEST(TokenBucket, RefillsAtTheConfiguredRate) {
  TokenBucket bucket(10, 5);
  ASSERT_EQ(AllowedOf(bucket, 5, kStart), 5);
  EXPECT_FALSE(bucket.Acquire(kStart + milliseconds(99)).allowed);
  EXPECT_TRUE(bucket.Acquire(kStart + milliseconds(100)).allowed);
  EXPECT_FALSE(bucket.Acquire(kStart + milliseconds(100)).allowed);
  // Two seconds later the bucket is full again, but never fuller than its burst.
  EXPECT_EQ(AllowedOf(bucket, 50, kStart + seconds(3)), 5);
}

TEST(TokenBucket, SustainedRateOverManySecondsMatchesTheLimit) {
  TokenBucket bucket(100, 1);
  int allowed = 0;
  // One attempt every millisecond for 10 s: 100/s sustained, plus the first token.
  for (int ms = 0; ms < 10'000; ++ms) {
    allowed += bucket.Acquire(kStart + milliseconds(ms)).allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 1000);
}

TEST(TokenBucket, ARefusalSaysHowLongToWaitAndDoesNotExtendIt) {
  TokenBucket bucket(0.5, 1);  // one token every 2 s
  ASSERT_TRUE(bucket.Acquire(kStart).allowed);
  RateDecision refused = bucket.Acquire(kStart + milliseconds(500));
  ASSERT_FALSE(refused.allowed);
  EXPECT_EQ(refused.wait, milliseconds(1500));
  EXPECT_EQ(refused.RetryAfterSeconds(), 2);
  // Hammering while refused takes nothing: the token still comes at 2 s.
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(bucket.Acquire(kStart + milliseconds(600)).allowed);
  EXPECT_TRUE(bucket.Acquire(kStart + seconds(2)).allowed);
}

TEST(TokenBucket, RetryAfterIsAtLeastOneSecond) {
  TokenBucket bucket(1000, 1);
  ASSERT_TRUE(bucket.Acquire(kStart).allowed);
  const RateDecision refused = bucket.Acquire(kStart);
  ASSERT_FALSE(refused.allowed);
  EXPECT_EQ(refused.wait, milliseconds(1));
  EXPECT_EQ(refused.RetryAfterSeconds(), 1);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket bucket(0, 1);
  EXPECT_TRUE(bucket.unlimited());
  EXPECT_EQ(AllowedOf(bucket, 100'000, kStart), 100'000);
}

TEST(TokenBucket, ExtremeConfigsDoNotOverflow) {
  // One token per 30 years: the first request passes, the next waits (capped, no overflow).
  TokenBucket slow(1e-9, 1e9);
  EXPECT_TRUE(slow.Acquire(kStart).allowed);
  EXPECT_GT(slow.Acquire(kStart).RetryAfterSeconds(), 86400);
  TokenBucket fast(1e9, 1e9);
  EXPECT_EQ(AllowedOf(fast, 10, kStart), 10);
}

TEST(TokenBucket, ConcurrentAcquiresNeverExceedTheBurst) {
  TokenBucket bucket(1e-3, 1000);  // effectively no refill during the test
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] { allowed += AllowedOf(bucket, 1000, kStart); });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(RateLimiter, OneBucketPerWebhookPartner) {
  std::vector<PartnerConfig> partners(3);
  partners[0].id = *PartnerId::Parse("acme");
  partners[0].rate_limit = {1, 2};
  partners[1].id = *PartnerId::Parse("globex");
  partners[1].rate_limit = {0, 1};
  partners[2].id = *PartnerId::Parse("poller");
  partners[2].mode = PartnerMode::kPoll;
  RateLimiter limiter(partners);

  EXPECT_TRUE(limiter.Acquire("acme", kStart).allowed);
  EXPECT_TRUE(limiter.Acquire("acme", kStart).allowed);
  EXPECT_FALSE(limiter.Acquire("acme", kStart).allowed);
  // Partners do not share budgets.
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.Acquire("globex", kStart).allowed);
  EXPECT_EQ(limiter.BucketFor("poller"), nullptr);
  EXPECT_EQ(limiter.BucketFor("nobody"), nullptr);
  EXPECT_TRUE(limiter.Acquire("nobody", kStart).allowed);
}

}  // namespace
}  // namespace firehose::edge
