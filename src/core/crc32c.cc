#include "core/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>

namespace firehose::crc32c {

// ISA-L's crc32_iscsi is the reflected CRC-32C register without the initial and final
// inversion, and takes an int length: invert around it, in chunks of at most INT_MAX bytes.
std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(const_cast<void*>(data));  // ISA-L only reads it
  std::uint32_t state = ~crc;
  while (size > 0) {
    const std::size_t chunk = std::min<std::size_t>(size, INT_MAX);
    state = crc32_iscsi(bytes, static_cast<int>(chunk), state);
    bytes += chunk;
    size -= chunk;
  }
  return ~state;
}

}  // namespace firehose::crc32c
