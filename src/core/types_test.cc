#include "core/types.h"

#include <gtest/gtest.h>

#include <set>

#include "core/arrival_id.h"
#include "core/time.h"

namespace firehose {
namespace {

TEST(BusinessDate, ParsesFormatsAndRejects) {
  EXPECT_EQ(BusinessDate::Parse("1970-01-01")->days_since_epoch(), 0);
  EXPECT_EQ(BusinessDate::Parse("2024-02-29")->ToString(), "2024-02-29");
  EXPECT_EQ(BusinessDate::Parse("2026-11-27")->AddDays(5).ToString(), "2026-12-02");
  EXPECT_FALSE(BusinessDate::Parse("2023-02-29").ok());
  EXPECT_FALSE(BusinessDate::Parse("2026-11-7").ok());
  EXPECT_FALSE(BusinessDate::Parse("2026/11/27").ok());
}

TEST(PartnerId, OnlyLowercaseDigitsDashUnderscore) {
  EXPECT_TRUE(PartnerId::Parse("acme_pay-2").ok());
  EXPECT_FALSE(PartnerId::Parse("").ok());
  EXPECT_FALSE(PartnerId::Parse("Acme").ok());
  EXPECT_FALSE(PartnerId::Parse("../etc").ok());
  EXPECT_FALSE(PartnerId::Parse("a b").ok());
  EXPECT_FALSE(PartnerId::Parse(std::string(65, 'a')).ok());
}

TEST(TxnId, LengthUtf8AndControlCharacters) {
  EXPECT_TRUE(TxnId::Parse("ch_3Mtw").ok());
  EXPECT_TRUE(TxnId::Parse("zahlung-ä").ok());
  EXPECT_TRUE(TxnId::Parse(std::string(128, 'x')).ok());
  EXPECT_FALSE(TxnId::Parse(std::string(129, 'x')).ok());
  EXPECT_FALSE(TxnId::Parse("").ok());
  EXPECT_FALSE(TxnId::Parse("a\nb").ok());
  EXPECT_FALSE(TxnId::Parse("\xff\xfe").ok());
}

TEST(ArrivalId, UniqueOrderedAndParseable) {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 10000; ++i) {
    const ArrivalId id = NewArrivalId(TimestampUs(1'700'000'000'000'000));
    ASSERT_TRUE(ArrivalId::Parse(id.str()).ok()) << id.str();
    ASSERT_GT(id.str(), previous);
    previous = id.str();
    seen.insert(id.str());
  }
  EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace firehose
