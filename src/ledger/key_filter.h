// The ledger job's Bloom filter of the day's keys (docs/ledger.md, "How the job works", steps 2
// and 3): the day's scan adds every key hash, the neighbours' scan keeps only lines whose key may
// be in it. It only prunes: a false positive costs a neighbour's line kept for nothing, never a
// wrong ledger.
//
// Thread safety: Add and MayContain may be called from any number of threads at once (relaxed
// atomics: a key added before the scan threads are joined is seen by every later MayContain).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/check.h"

namespace firehose::ledger {

// A blocked Bloom filter of key hashes: one 64-bit word per key, four bits in it.
//
// Both come from one remix of the hash: the word from its high bits scaled to the word count
// (multiply-shift: every word is reachable, whatever the count), the four bits from its low 24
// bits. The two stay independent as long as the word index needs at most 40 bits.
class KeyFilter {
 public:
  static constexpr std::size_t kWordsMax = std::size_t{1} << 40;

  // `words` need not be a power of two.
  explicit KeyFilter(std::size_t words) : words_(words) {
    FH_CHECK(words >= 1 && words <= kWordsMax, "a key filter of 1 to 2^40 words");
  }
  void Add(std::uint64_t hash) {
    words_[WordOf(hash)].fetch_or(Bits(hash), std::memory_order_relaxed);
  }
  bool MayContain(std::uint64_t hash) const {
    const std::uint64_t bits = Bits(hash);
    return (words_[WordOf(hash)].load(std::memory_order_relaxed) & bits) == bits;
  }
  std::size_t bytes() const { return words_.size() * sizeof(std::uint64_t); }

  // The index of the word a key hash lands in (public for the tests).
  std::size_t WordOf(std::uint64_t hash) const {
    __extension__ using Uint128 = unsigned __int128;
    return static_cast<std::size_t>((Uint128{Mix(hash)} * words_.size()) >> 64);
  }

 private:
  // The partition uses the hash's low bits: the filter uses a remix of it.
  static std::uint64_t Mix(std::uint64_t hash) {
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return hash;
  }
  static std::uint64_t Bits(std::uint64_t hash) {
    const std::uint64_t mixed = Mix(hash);
    return std::uint64_t{1} << (mixed & 63) | std::uint64_t{1} << (mixed >> 6 & 63) |
           std::uint64_t{1} << (mixed >> 12 & 63) | std::uint64_t{1} << (mixed >> 18 & 63);
  }

  std::vector<std::atomic<std::uint64_t>> words_;
};

}  // namespace firehose::ledger
