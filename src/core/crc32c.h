// CRC-32C (Castagnoli), the checksum of every queue frame. Uses the SSE4.2 crc32 instruction
// when the CPU has it (about 10 GB/s here), a table otherwise; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace firehose::crc32c {

// Extends `crc` (the CRC of some bytes A) to the CRC of A followed by data[0, size).
std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t Value(const void* data, std::size_t size) { return Extend(0, data, size); }
inline std::uint32_t Value(std::string_view bytes) { return Extend(0, bytes.data(), bytes.size()); }

}  // namespace firehose::crc32c
