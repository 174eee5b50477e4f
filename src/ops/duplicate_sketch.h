// Estimates how many events repeat a (partner, txn_id) seen recently, in bounded memory: a
// rotating pair of blocked Bloom filters.
//
// How it works and what it promises:
//   - Each filter has `filter_bytes` of bits in 512-bit blocks; a key sets kProbes bits in one
//     block (one cache miss per filter). A key is a duplicate if either filter holds it; every
//     key is then added to the current filter.
//   - The current filter takes at most capacity() = filter bits / 16 keys; then it becomes the
//     previous one and an emptied filter becomes current. So the sketch remembers at least the
//     last capacity() keys and at most the last 2 x capacity() (the default 16 MiB filters:
//     8.4 M keys, about 6 minutes at 23 k events/s).
//   - Errors are one-sided. A first sighting is called a duplicate with probability at most
//     about 2 x 0.3% (16 bits per key, 4 probes, blocked layout; measured in the unit test), so
//     the estimated duplicate rate reads high by at most that. A repeat older than the memory
//     above is missed (a resend a day late is the ledger's business, not ops').
//   - Memory: 2 x filter_bytes, fixed; one flood fills it faster for every partner (the window
//     shrinks, the error bound does not change).
// Not thread-safe: the ops consumer thread owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

namespace firehose::ops {

class DuplicateSketch {
 public:
  static constexpr int kProbes = 4;
  static constexpr int kBitsPerKey = 16;

  // `filter_bytes` is rounded down to whole 64-byte blocks (at least one).
  explicit DuplicateSketch(std::size_t filter_bytes);
  ~DuplicateSketch();
  DuplicateSketch(const DuplicateSketch&) = delete;
  DuplicateSketch& operator=(const DuplicateSketch&) = delete;

  // The seed for a partner's keys (hash of its id): computed once per partner.
  static std::uint64_t PartnerSeed(std::string_view partner_id);
  // True if (partner, txn_id) was probably seen before; remembers it either way.
  bool SeenBefore(std::uint64_t partner_seed, std::string_view txn_id);

  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t rotations() const { return rotations_; }
  std::size_t memory_bytes() const { return 2 * blocks_ * 64; }

 private:
  struct Filter;
  bool Contains(const std::uint64_t* block, std::uint64_t bits) const;
  void Rotate();

  std::size_t blocks_;
  std::uint64_t capacity_;
  std::uint64_t inserted_ = 0;  // into the current filter
  std::uint64_t rotations_ = 0;
  std::unique_ptr<std::uint64_t[], void (*)(void*)> current_;
  std::unique_ptr<std::uint64_t[], void (*)(void*)> previous_;
};

}  // namespace firehose::ops
