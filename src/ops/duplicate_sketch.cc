#include "ops/duplicate_sketch.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/check.h"

namespace firehose::ops {

namespace {

constexpr std::size_t kBlockWords = 8;  // 512 bits, one cache line

// calloc: the kernel hands out zeroed pages lazily, so a large filter costs memory only as it
// fills.
std::unique_ptr<std::uint64_t[], void (*)(void*)> ZeroedWords(std::size_t words) {
  auto* memory = static_cast<std::uint64_t*>(std::calloc(words, sizeof(std::uint64_t)));
  FH_CHECK(memory != nullptr, "out of memory for the duplicate sketch");
  return {memory, &std::free};
}

}  // namespace

DuplicateSketch::DuplicateSketch(std::size_t filter_bytes)
    : blocks_(std::max<std::size_t>(1, filter_bytes / (kBlockWords * 8))),
      capacity_(std::max<std::uint64_t>(1, blocks_ * 512 / kBitsPerKey)),
      current_(ZeroedWords(blocks_ * kBlockWords)),
      previous_(ZeroedWords(blocks_ * kBlockWords)) {}

DuplicateSketch::~DuplicateSketch() = default;

std::uint64_t DuplicateSketch::PartnerSeed(std::string_view partner_id) {
  return XXH3_64bits(partner_id.data(), partner_id.size());
}

bool DuplicateSketch::Contains(const std::uint64_t* block, std::uint64_t bits) const {
  for (int probe = 0; probe < kProbes; ++probe) {
    const unsigned bit = static_cast<unsigned>(bits >> (9 * probe)) & 511u;
    if ((block[bit >> 6] & (std::uint64_t{1} << (bit & 63))) == 0) return false;
  }
  return true;
}

bool DuplicateSketch::SeenBefore(std::uint64_t partner_seed, std::string_view txn_id) {
  const XXH128_hash_t hash = XXH3_128bits_withSeed(txn_id.data(), txn_id.size(), partner_seed);
  // Lemire's multiply-shift maps 32 hash bits onto [0, blocks_) without a division (blocks_
  // is below 2^26: ops_dedup_filter_bytes is at most 4 GiB).
  const auto block_index = static_cast<std::size_t>(((hash.high64 >> 32) * blocks_) >> 32);
  const std::uint64_t bits = hash.low64;
  std::uint64_t* current = current_.get() + block_index * kBlockWords;
  const std::uint64_t* previous = previous_.get() + block_index * kBlockWords;
  if (Contains(current, bits)) return true;
  const bool seen = Contains(previous, bits);
  for (int probe = 0; probe < kProbes; ++probe) {
    const unsigned bit = static_cast<unsigned>(bits >> (9 * probe)) & 511u;
    current[bit >> 6] |= std::uint64_t{1} << (bit & 63);
  }
  if (++inserted_ >= capacity_) Rotate();
  return seen;
}

void DuplicateSketch::Rotate() {
  std::swap(current_, previous_);
  std::memset(current_.get(), 0, blocks_ * kBlockWords * sizeof(std::uint64_t));
  inserted_ = 0;
  ++rotations_;
}

}  // namespace firehose::ops
