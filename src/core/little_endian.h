// Fixed-width little-endian integers in byte buffers: the on-disk formats (queue records, log
// segments, frames and cursors) are all little-endian, whatever the machine.
#pragma once

#include <cstddef>
#include <cstdint>

namespace firehose {

// Writes `value` to out[0, sizeof(T)) and returns the byte after it.
template <typename T>
char* PutLittleEndian(char* out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    *out++ = static_cast<char>(static_cast<std::uint64_t>(value) >> (8 * i));
  }
  return out;
}

// Reads a T from in[0, sizeof(T)).
template <typename T>
T GetLittleEndian(const char* in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return static_cast<T>(value);
}

}  // namespace firehose
