#include "core/crc32c.h"

#include <array>
#include <cstring>

namespace firehose::crc32c {

namespace {

constexpr std::uint32_t kPolynomialReflected = 0x82F63B78;

constexpr std::array<std::uint32_t, 256> MakeTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomialReflected : 0);
    table[i] = crc;
  }
  return table;
}
constexpr auto kTable = MakeTable();

std::uint32_t ExtendPortable(std::uint32_t crc, const unsigned char* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) crc = kTable[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

__attribute__((target("sse4.2"))) std::uint32_t ExtendHardware(std::uint32_t crc,
                                                                const unsigned char* bytes,
                                                                std::size_t size) {
  std::uint64_t state = crc;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes, 8);
    state = __builtin_ia32_crc32di(state, word);
    bytes += 8;
    size -= 8;
  }
  auto state32 = static_cast<std::uint32_t>(state);
  while (size > 0) {
    state32 = __builtin_ia32_crc32qi(state32, *bytes);
    ++bytes;
    --size;
  }
  return state32;
}

const bool kHasHardware = __builtin_cpu_supports("sse4.2");

}  // namespace

std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  crc = ~crc;
  crc = kHasHardware ? ExtendHardware(crc, bytes, size) : ExtendPortable(crc, bytes, size);
  return ~crc;
}

}  // namespace firehose::crc32c
