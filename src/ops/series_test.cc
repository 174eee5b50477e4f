#include "ops/series.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace firehose::ops {
namespace {

constexpr std::int64_t kNowS = 1'764'201'600;  // a minute boundary

TimestampUs At(std::int64_t second, std::int64_t micros = 0) {
  return TimestampUs(second * 1'000'000 + micros);
}

ArrivalCounts Counts(std::int64_t second, std::uint32_t events, std::uint32_t failed = 0) {
  ArrivalCounts counts;
  counts.received_at = At(second, 250'000);
  counts.events = events;
  counts.failed = failed;
  counts.lag_ms = 40;
  return counts;
}

TEST(SeriesTest, BucketsArrivalsByTheSecondTheyWereReceived) {
  PartnerSeries series("acme");
  series.RecordArrival(Counts(kNowS - 2, 3, 1));
  series.RecordArrival(Counts(kNowS, 5));
  series.RecordError(At(kNowS), IngestError::kBadSignature);

  const std::vector<BucketValues> seconds = series.Seconds(kNowS, 3);
  ASSERT_EQ(seconds.size(), 3u);
  EXPECT_EQ(seconds[0].events, 3u);
  EXPECT_EQ(seconds[0].failed, 1u);
  EXPECT_EQ(seconds[1].events, 0u);
  EXPECT_EQ(seconds[2].events, 5u);
  EXPECT_EQ(seconds[2].errors[static_cast<int>(IngestError::kBadSignature)], 1u);

  const BucketValues window = series.SumSeconds(kNowS, 10);
  EXPECT_EQ(window.events, 8u);
  // (1 failed + 1 signature failure) / (8 events + 1 refused request)
  EXPECT_NEAR(window.error_pct(), 200.0 / 9, 1e-9);
  EXPECT_EQ(series.events_total(), 8u);
  EXPECT_EQ(series.last_seen(), At(kNowS, 250'000));
}

TEST(SeriesTest, AnHourLaterASecondBucketHoldsOnlyTheNewSecond) {
  PartnerSeries series("acme");
  series.RecordArrival(Counts(kNowS, 7));
  const std::int64_t later = kNowS + kSecondBuckets;  // same ring slot
  series.RecordArrival(Counts(later, 2));
  EXPECT_EQ(series.Seconds(later, 1)[0].events, 2u);
  EXPECT_EQ(series.SumSeconds(later, 3600).events, 2u);
  // The old second is still in the minute ring (a day long).
  const std::vector<BucketValues> minutes = series.Minutes(later, 61);
  EXPECT_EQ(minutes.front().events, 7u);
  EXPECT_EQ(minutes.back().events, 2u);
  // A late record for the hour-old second no longer fits the second ring, but does the minutes.
  series.RecordArrival(Counts(kNowS, 1));
  EXPECT_EQ(series.Seconds(later, 1)[0].events, 2u);
  EXPECT_EQ(series.Minutes(later, 61).front().events, 8u);
}

TEST(SeriesTest, AmountsGoToTheFirstCurrenciesAndTheRestToOther) {
  PartnerSeries series("acme");
  for (std::string_view code : {"USD", "EUR", "GBP", "JPY", "CHF", "USD"}) {
    series.AddAmount(At(kNowS), *Currency::FromCode(code), AmountMinor(100));
  }
  const auto slots = series.CurrencySlots();
  EXPECT_EQ(slots[0], "USD");
  EXPECT_EQ(slots[1], "EUR");
  EXPECT_EQ(slots[2], "GBP");
  const BucketValues minute = series.Minutes(kNowS, 1)[0];
  EXPECT_EQ(minute.amounts[0], 200);
  EXPECT_EQ(minute.amounts[1], 100);
  EXPECT_EQ(minute.amounts[kCurrencySlots], 200);  // JPY and CHF under "other"
}

TEST(SeriesTest, ARefusedArrivalIsSeenAFailedPollIsNot) {
  PartnerSeries series("acme");
  series.RecordError(At(kNowS), IngestError::kPollFailure);
  EXPECT_EQ(series.last_seen(), TimestampUs(0));
  EXPECT_EQ(series.errors_total(), 1u);
  series.RecordError(At(kNowS), IngestError::kRateLimited);
  EXPECT_EQ(series.last_seen(), At(kNowS));
}

TEST(SeriesTest, EdgeReasonsMapToIngestErrorKinds) {
  EXPECT_EQ(IngestErrorForReason("signature_no_match"), IngestError::kBadSignature);
  EXPECT_EQ(IngestErrorForReason("signature_timestamp_too_old"), IngestError::kBadSignature);
  EXPECT_EQ(IngestErrorForReason("rate_limited"), IngestError::kRateLimited);
  EXPECT_EQ(IngestErrorForReason("body_too_large"), IngestError::kOversize);
  EXPECT_EQ(IngestErrorForReason("queue_full"), IngestError::kUnavailable);
  EXPECT_EQ(IngestErrorForReason("unsupported_media_type"), IngestError::kOther);
}

TEST(SeriesTest, ConcurrentWritersLoseNoCount) {
  PartnerSeries series("acme");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&series] {
      for (int i = 0; i < 20000; ++i) {
        // Spread over 3 seconds so that writers race on claiming fresh buckets.
        series.RecordError(At(kNowS + i % 3), IngestError::kRateLimited);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const BucketValues sum = series.SumSeconds(kNowS + 2, 3);
  EXPECT_EQ(sum.errors[static_cast<int>(IngestError::kRateLimited)], 80000u);
  EXPECT_EQ(series.errors_total(), 80000u);
}

TEST(SeriesTest, MemoryPerPartnerIsFixed) {
  EXPECT_EQ(sizeof(SecondBucket), 48u);
  EXPECT_EQ(sizeof(MinuteBucket), 88u);
  EXPECT_EQ(PartnerSeries::kSeriesBytes, 3600u * 48 + 1440u * 88);
}

}  // namespace
}  // namespace firehose::ops
