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

// ISA-L takes different code paths by length and alignment: every one must agree with the
// definition (reflected polynomial 0x82F63B78, bit by bit).
TEST(Crc32c, EveryLengthAndAlignmentMatchesTheBitwiseDefinition) {
  const auto reference = [](const unsigned char* bytes, std::size_t size) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < size; ++i) {
      crc ^= bytes[i];
      for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0);
    }
    return ~crc;
  };
  std::string data(70'000, '\0');
  std::uint32_t seed = 12345;
  for (char& c : data) {
    seed = seed * 1103515245u + 12345u;
    c = static_cast<char>(seed >> 24);
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t size = 0; size <= 1100; ++size) {
      ASSERT_EQ(crc32c::Value(bytes + offset, size), reference(bytes + offset, size))
          << "offset " << offset << " size " << size;
    }
  }
  for (const std::size_t size : {4095u, 4096u, 60'024u, 69'993u}) {
    EXPECT_EQ(crc32c::Value(bytes + 7, size), reference(bytes + 7, size)) << "size " << size;
  }
}

}  // namespace
}  // namespace firehose
