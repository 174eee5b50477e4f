#include "core/json_integer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

namespace firehose {
namespace {

using nlohmann::json;

TEST(JsonInteger, ReadsIntegersThatFit) {
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("0")), 0);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("-9223372036854775808")),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("9223372036854775807")),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(JsonInteger<std::uint64_t>(json::parse("18446744073709551615")),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(JsonInteger<int>(json::parse("-7")), -7);
  EXPECT_EQ(JsonInteger<std::int64_t>(nlohmann::ordered_json::parse("1764201600000000")),
            1764201600000000);
}

TEST(JsonInteger, RefusesWhatGetWouldHaveGuessed) {
  // Past 64 bits nlohmann keeps a double: casting it was undefined behaviour.
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("17642376010444444444400000")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::uint64_t>(json::parse("18446744073709551616")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("9223372036854775808")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::uint64_t>(json::parse("-1")), std::nullopt);  // not 2^64 - 1
  EXPECT_EQ(JsonInteger<int>(json::parse("2147483648")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("1.5")), std::nullopt);  // not 1
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("1.0")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("1e3")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("\"12\"")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("true")), std::nullopt);
  EXPECT_EQ(JsonInteger<std::int64_t>(json::parse("null")), std::nullopt);
}

TEST(JsonInteger, JsonGetThrowsTheJsonTypeErrorNamingWhatItFound) {
  EXPECT_EQ(JsonGet<std::uint64_t>(json::parse("42")), 42u);
  try {
    (void)JsonGet<std::uint64_t>(json::parse("-1"));
    FAIL() << "no exception";
  } catch (const json::exception& error) {
    EXPECT_NE(std::string(error.what()).find("unsigned 64 bits, found -1"), std::string::npos)
        << error.what();
  }
  try {
    (void)JsonGet<std::int64_t>(nlohmann::ordered_json::parse("[1]"));
    FAIL() << "no exception";
  } catch (const json::exception& error) {
    EXPECT_NE(std::string(error.what()).find("found array value"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace firehose
