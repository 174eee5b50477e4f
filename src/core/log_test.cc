#include "core/log.h"

#include <gtest/gtest.h>

namespace firehose {
namespace {

using std::chrono::milliseconds;

TEST(LogThrottle, OneLinePerKeyPerIntervalAndCountsWhatItHeldBack) {
  LogThrottle throttle(milliseconds(1000), 8);
  const LogThrottle::Clock::time_point start{};
  std::uint64_t held = 99;
  EXPECT_TRUE(throttle.Allow("acme/signature_no_match", start, &held));
  EXPECT_EQ(held, 0u);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_FALSE(throttle.Allow("acme/signature_no_match", start + milliseconds(i * 100), &held));
  }
  // Another key has its own interval.
  EXPECT_TRUE(throttle.Allow("acme/rate_limited", start + milliseconds(600), &held));
  EXPECT_EQ(held, 0u);
  EXPECT_TRUE(throttle.Allow("acme/signature_no_match", start + milliseconds(1000), &held));
  EXPECT_EQ(held, 5u);
  EXPECT_FALSE(throttle.Allow("acme/signature_no_match", start + milliseconds(1500), &held));
  EXPECT_TRUE(throttle.Allow("acme/signature_no_match", start + milliseconds(2000), &held));
  EXPECT_EQ(held, 1u);
}

TEST(LogThrottle, HoldsAtMostKeysMaxKeys) {
  LogThrottle throttle(milliseconds(1000), 4);
  const LogThrottle::Clock::time_point start{};
  std::uint64_t held = 0;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(throttle.Allow(std::to_string(i), start, &held));
  EXPECT_FALSE(throttle.Allow("0", start, &held));
  // A fifth key starts the table afresh: memory stays bounded, and "0" may log again.
  EXPECT_TRUE(throttle.Allow("4", start, &held));
  EXPECT_TRUE(throttle.Allow("0", start, &held));
}

}  // namespace
}  // namespace firehose
