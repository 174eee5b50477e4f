#include "core/money.h"

#include <gtest/gtest.h>

#include <limits>

namespace firehose {
namespace {

std::int64_t ParseOk(std::string_view text, int exponent) {
  const MoneyParse parsed = ParseDecimalAmount(text, exponent);
  EXPECT_TRUE(parsed.ok) << text << " -> " << MoneyErrorName(parsed.error);
  return parsed.amount.value();
}

MoneyError ParseError(std::string_view text, int exponent) {
  const MoneyParse parsed = ParseDecimalAmount(text, exponent);
  EXPECT_FALSE(parsed.ok) << text << " parsed as " << parsed.amount.value();
  return parsed.error;
}

TEST(Currency, ExponentsComeFromTheIsoTable) {
  EXPECT_EQ(Currency::FromCode("JPY")->exponent(), 0);
  EXPECT_EQ(Currency::FromCode("USD")->exponent(), 2);
  EXPECT_EQ(Currency::FromCode("EUR")->exponent(), 2);
  EXPECT_EQ(Currency::FromCode("KWD")->exponent(), 3);
  EXPECT_EQ(Currency::FromCode("BHD")->exponent(), 3);
  EXPECT_EQ(Currency::FromCode("CLF")->exponent(), 4);
  EXPECT_EQ(Currency::FromCode("usd")->code(), "USD");
}

TEST(Currency, UnknownAndMalformedCodesAreRejected) {
  EXPECT_FALSE(Currency::FromCode("ABC").ok());
  EXPECT_FALSE(Currency::FromCode("XAU").ok());  // gold has no minor unit
  EXPECT_FALSE(Currency::FromCode("US").ok());
  EXPECT_FALSE(Currency::FromCode("USDX").ok());
  EXPECT_FALSE(Currency::FromCode("U$D").ok());
  EXPECT_FALSE(Currency::FromCode("").ok());
}

TEST(DecimalAmount, ExponentZeroTwoAndThree) {
  EXPECT_EQ(ParseOk("1500", 0), 1500);
  EXPECT_EQ(ParseOk("12.34", 2), 1234);
  EXPECT_EQ(ParseOk("12.3", 2), 1230);
  EXPECT_EQ(ParseOk("12", 2), 1200);
  EXPECT_EQ(ParseOk("0.01", 2), 1);
  EXPECT_EQ(ParseOk("1.234", 3), 1234);
  EXPECT_EQ(ParseOk("0.5", 3), 500);
  EXPECT_EQ(ParseOk("007.00", 2), 700);
}

TEST(DecimalAmount, Signs) {
  EXPECT_EQ(ParseOk("-12.34", 2), -1234);
  EXPECT_EQ(ParseOk("-0.005", 3), -5);
  EXPECT_EQ(ParseOk("-0", 2), 0);
  EXPECT_EQ(ParseError("+12.34", 2), MoneyError::kPlusSign);
  EXPECT_EQ(ParseError("--1", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError("1-", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError("-", 2), MoneyError::kMissingDigits);
}

TEST(DecimalAmount, TooManyFractionDigitsIsAnErrorNotARounding) {
  EXPECT_EQ(ParseError("12.345", 2), MoneyError::kTooManyFractionDigits);
  EXPECT_EQ(ParseError("12.340", 2), MoneyError::kTooManyFractionDigits);
  EXPECT_EQ(ParseError("1.5", 0), MoneyError::kTooManyFractionDigits);
  EXPECT_EQ(ParseError("0.0001", 3), MoneyError::kTooManyFractionDigits);
}

TEST(DecimalAmount, Overflow) {
  // INT64_MAX minor units is the largest representable amount, in both directions.
  EXPECT_EQ(ParseOk("92233720368547758.07", 2), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(ParseOk("-92233720368547758.08", 2), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(ParseError("92233720368547758.08", 2), MoneyError::kOverflow);
  EXPECT_EQ(ParseError("9223372036854775808", 0), MoneyError::kOverflow);
  EXPECT_EQ(ParseError("100000000000000000000000", 2), MoneyError::kOverflow);
  // Above 2^53: a double would have lost the last digits.
  EXPECT_EQ(ParseOk("90071992547409.93", 2), 9007199254740993);
}

TEST(DecimalAmount, WhitespaceExponentsAndJunkEachHaveTheirOwnName) {
  EXPECT_EQ(ParseError("", 2), MoneyError::kEmpty);
  EXPECT_EQ(ParseError(" 12.00", 2), MoneyError::kWhitespace);
  EXPECT_EQ(ParseError("12.00 ", 2), MoneyError::kWhitespace);
  EXPECT_EQ(ParseError("1 2", 2), MoneyError::kWhitespace);
  EXPECT_EQ(ParseError("12.00\n", 2), MoneyError::kWhitespace);
  EXPECT_EQ(ParseError("1e3", 2), MoneyError::kExponentNotation);
  EXPECT_EQ(ParseError("1.5E2", 2), MoneyError::kExponentNotation);
  EXPECT_EQ(ParseError("12,00", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError("$12", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError("0x10", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError("1..2", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError("NaN", 2), MoneyError::kInvalidCharacter);
  EXPECT_EQ(ParseError(".5", 2), MoneyError::kMissingDigits);
  EXPECT_EQ(ParseError("12.", 2), MoneyError::kMissingDigits);
  EXPECT_EQ(ParseError(std::string_view("1\0", 2), 2), MoneyError::kInvalidCharacter);
}

TEST(MinorUnits, IntegersOnly) {
  EXPECT_EQ(ParseMinorUnits("1234").amount.value(), 1234);
  EXPECT_EQ(ParseMinorUnits("-5").amount.value(), -5);
  EXPECT_FALSE(ParseMinorUnits("12.00").ok);
  EXPECT_FALSE(ParseMinorUnits("1e3").ok);
  EXPECT_EQ(ParseMinorUnits("9223372036854775808").error, MoneyError::kOverflow);
}

TEST(FormatAmount, RoundTripsEveryExponent) {
  EXPECT_EQ(FormatAmount(AmountMinor(1234), 2), "12.34");
  EXPECT_EQ(FormatAmount(AmountMinor(5), 2), "0.05");
  EXPECT_EQ(FormatAmount(AmountMinor(-5), 3), "-0.005");
  EXPECT_EQ(FormatAmount(AmountMinor(1500), 0), "1500");
  EXPECT_EQ(FormatAmount(AmountMinor(0), 2), "0.00");
  EXPECT_EQ(FormatAmount(AmountMinor(std::numeric_limits<std::int64_t>::min()), 2),
            "-92233720368547758.08");
  for (const std::int64_t value : {0LL, 1LL, -1LL, 999LL, 123456789LL, -987654321012LL}) {
    for (int exponent : {0, 2, 3, 4}) {
      const std::string text = FormatAmount(AmountMinor(value), exponent);
      EXPECT_EQ(ParseOk(text, exponent), value) << text;
    }
  }
}

TEST(CheckedAdd, DetectsOverflowBothWays) {
  AmountMinor sum;
  EXPECT_TRUE(CheckedAdd(AmountMinor(1), AmountMinor(2), &sum));
  EXPECT_EQ(sum.value(), 3);
  EXPECT_FALSE(CheckedAdd(AmountMinor(std::numeric_limits<std::int64_t>::max()), AmountMinor(1), &sum));
  EXPECT_FALSE(CheckedAdd(AmountMinor(std::numeric_limits<std::int64_t>::min()), AmountMinor(-1), &sum));
}

}  // namespace
}  // namespace firehose
