#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace firehose {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4 and the standard check value.
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c::Value(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  const std::string data = "the quick brown fox jumps over the lazy dog, twice over";
  for (std::size_t split = 0; split <= data.size(); ++split) {
    const std::uint32_t first = crc32c::Value(data.data(), split);
    EXPECT_EQ(crc32c::Extend(first, data.data() + split, data.size() - split), crc32c::Value(data));
  }
}

}  // namespace
}  // namespace firehose
