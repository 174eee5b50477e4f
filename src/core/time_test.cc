#include "core/time.h"

#include <gtest/gtest.h>

namespace firehose {
namespace {

constexpr std::int64_t kNov27 = 1764201600;  // 2025-11-27T00:00:00Z

TEST(Rfc3339, ParsesZuluOffsetsAndFractions) {
  EXPECT_EQ(ParseRfc3339("2025-11-27T00:00:00Z")->value(), kNov27 * 1'000'000);
  EXPECT_EQ(ParseRfc3339("2025-11-27T00:00:00.5Z")->value(), kNov27 * 1'000'000 + 500'000);
  EXPECT_EQ(ParseRfc3339("2025-11-27T00:00:00.123456789Z")->value(), kNov27 * 1'000'000 + 123'456);
  EXPECT_EQ(ParseRfc3339("2025-11-27T02:00:00+02:00")->value(), kNov27 * 1'000'000);
  EXPECT_EQ(ParseRfc3339("2025-11-26T19:00:00-05:00")->value(), kNov27 * 1'000'000);
  EXPECT_EQ(ParseRfc3339("2025-11-27t00:00:00z")->value(), kNov27 * 1'000'000);
  EXPECT_EQ(ParseRfc3339("2025-11-27 00:00:00Z")->value(), kNov27 * 1'000'000);
}

TEST(Rfc3339, RejectsMalformedTimes) {
  for (const char* text : {"", "2025-11-27", "2025-11-27T00:00:00", "2025-13-01T00:00:00Z",
                           "2025-02-30T00:00:00Z", "2025-11-27T24:00:00Z", "2025-11-27T00:00:60Z",
                           "2025-11-27T00:00:00.Z", "2025-11-27T00:00:00+2:00",
                           "2025-11-27T00:00:00Zjunk", "1969-12-31T00:00:00Z", "10000-01-01T00:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(text).ok()) << text;
  }
}

TEST(Rfc3339, FormatsWithMicroseconds) {
  EXPECT_EQ(FormatRfc3339Micros(TimestampUs(kNov27 * 1'000'000 + 42)), "2025-11-27T00:00:00.000042Z");
  const auto parsed = ParseRfc3339(FormatRfc3339Micros(TimestampUs(1'700'000'123'456'789)));
  EXPECT_EQ(parsed->value(), 1'700'000'123'456'789);
}

TEST(UnixTime, SecondsAndMillis) {
  EXPECT_EQ(ParseUnixSeconds("1764201600")->value(), kNov27 * 1'000'000);
  EXPECT_EQ(ParseUnixSeconds("1764201600.25")->value(), kNov27 * 1'000'000 + 250'000);
  EXPECT_EQ(ParseUnixMillis("1764201600123")->value(), kNov27 * 1'000'000 + 123'000);
  EXPECT_FALSE(ParseUnixSeconds("-1").ok());
  EXPECT_FALSE(ParseUnixSeconds("1e9").ok());
  EXPECT_FALSE(ParseUnixSeconds("99999999999999999999").ok());
  EXPECT_FALSE(ParseUnixMillis("1764201600123.5555").ok());
}

TEST(BusinessCalendar, UtcAndNamedZones) {
  const BusinessCalendar utc;
  const TimestampUs late_evening(kNov27 * 1'000'000 - 1);  // 2025-11-26T23:59:59.999999Z
  EXPECT_EQ(utc.DateOf(late_evening).ToString(), "2025-11-26");
  EXPECT_EQ(utc.DateOf(TimestampUs(kNov27 * 1'000'000)).ToString(), "2025-11-27");

  auto tokyo = BusinessCalendar::ForZone("Asia/Tokyo");
  ASSERT_TRUE(tokyo.ok()) << tokyo.status().ToString();
  EXPECT_EQ(tokyo->DateOf(late_evening).ToString(), "2025-11-27");
  EXPECT_EQ(tokyo->StartOf(BusinessDate::FromCivil(2025, 11, 27)).value(), (kNov27 - 9 * 3600) * 1'000'000);
  EXPECT_FALSE(BusinessCalendar::ForZone("Mars/Olympus").ok());
}

}  // namespace
}  // namespace firehose
