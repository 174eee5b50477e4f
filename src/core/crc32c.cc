#include "core/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace firehose::crc32c {
namespace {

// Below this many bytes a loop of SSE4.2 crc32 instructions beats ISA-L, whose folding code
// costs ~17 ns however few the bytes: a frame header's 20 bytes take ~6 ns this way. The log's
// writer thread checksums one header per frame, on the path every group waits on: ISA-L's call
// was 10% of that thread's samples with 600-byte records (bench/RESULTS.md, "Embedded log",
// stop 22). ISA-L is ahead again from 256 bytes.
constexpr std::size_t kInstructionLoopBytesMax = 224;

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t InstructionLoop(std::uint32_t state,
                                                                const unsigned char* bytes,
                                                                std::size_t size) {
  std::uint64_t wide = state;
  for (; size >= 8; bytes += 8, size -= 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes, 8);
    wide = _mm_crc32_u64(wide, word);
  }
  auto narrow = static_cast<std::uint32_t>(wide);
  for (; size > 0; ++bytes, --size) narrow = _mm_crc32_u8(narrow, *bytes);
  return narrow;
}

const bool kHasInstruction = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

// ISA-L's crc32_iscsi is the reflected CRC-32C register without the initial and final
// inversion, and takes an int length: invert around it, in chunks of at most INT_MAX bytes.
std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(const_cast<void*>(data));  // ISA-L only reads it
  std::uint32_t state = ~crc;
#if defined(__x86_64__)
  if (size <= kInstructionLoopBytesMax && kHasInstruction) {
    return ~InstructionLoop(state, bytes, size);
  }
#endif
  while (size > 0) {
    const std::size_t chunk = std::min<std::size_t>(size, INT_MAX);
    state = crc32_iscsi(bytes, static_cast<int>(chunk), state);
    bytes += chunk;
    size -= chunk;
  }
  return ~state;
}

}  // namespace firehose::crc32c
