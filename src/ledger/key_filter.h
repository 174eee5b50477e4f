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

namespace firehose::ledger {

// A blocked Bloom filter of key hashes: one 64-bit word per key, four bits in it.
class KeyFilter {
 public:
  explicit KeyFilter(std::size_t words) : words_(words), mask_(words - 1) {}
  void Add(std::uint64_t hash) {
    words_[Word(hash)].fetch_or(Bits(hash), std::memory_order_relaxed);
  }
  bool MayContain(std::uint64_t hash) const {
    const std::uint64_t bits = Bits(hash);
    return (words_[Word(hash)].load(std::memory_order_relaxed) & bits) == bits;
  }
  std::size_t bytes() const { return words_.size() * sizeof(std::uint64_t); }

 private:
  // The partition uses the hash's low bits: the filter uses a remix of it.
  static std::uint64_t Mix(std::uint64_t hash) {
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return hash;
  }
  std::size_t Word(std::uint64_t hash) const {
    return static_cast<std::size_t>(Mix(hash) >> 40) & mask_;
  }
  static std::uint64_t Bits(std::uint64_t hash) {
    const std::uint64_t mixed = Mix(hash);
    return std::uint64_t{1} << (mixed & 63) | std::uint64_t{1} << (mixed >> 6 & 63) |
           std::uint64_t{1} << (mixed >> 12 & 63) | std::uint64_t{1} << (mixed >> 18 & 63);
  }

  std::vector<std::atomic<std::uint64_t>> words_;
  std::size_t mask_;
};

}  // namespace firehose::ledger
