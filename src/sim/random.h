// The simulator's deterministic randomness.
//
// Everything the simulator generates (secrets, transactions, faults, truth) is a pure function of
// the seed, on every platform and compiler: the generator is xoshiro256** seeded through
// splitmix64, and every draw below is defined here in integer arithmetic (the standard
// library's distributions are implementation-defined, so they are never used). Independent
// purposes draw from independent streams (`SimRandom::Stream(seed, purpose, index)`), so that
// adding a draw for one purpose does not shift another's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace firehose::sim {

class SimRandom {
 public:
  explicit SimRandom(std::uint64_t seed) {
    for (std::uint64_t& word : state_) word = SplitMix(&seed);
  }

  // A stream for one purpose ("secret", "txn", ...) and one index (a partner, a send).
  static SimRandom Stream(std::uint64_t seed, std::string_view purpose, std::uint64_t index = 0) {
    std::uint64_t mixed = seed ^ 0x6a09e667f3bcc909ULL;
    for (unsigned char c : purpose) mixed = (mixed ^ c) * 0x100000001b3ULL;  // FNV-1a step
    mixed ^= index * 0x9e3779b97f4a7c15ULL;
    return SimRandom(SplitMix(&mixed));
  }

  std::uint64_t Next() {
    const std::uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound); bound > 0. Rejection sampling: no modulo bias.
  std::uint64_t Below(std::uint64_t bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const std::uint64_t value = Next();
      if (value >= threshold) return value % bound;
    }
  }

  // Uniform in [low, high], inclusive.
  std::int64_t Between(std::int64_t low, std::int64_t high) {
    const auto span = static_cast<std::uint64_t>(high - low) + 1;
    return low + static_cast<std::int64_t>(span == 0 ? Next() : Below(span));
  }

  // True with probability parts_per_million / 1e6.
  bool ChancePpm(std::uint32_t parts_per_million) { return Below(1'000'000) < parts_per_million; }

  // `count` characters from `alphabet`.
  std::string Text(std::string_view alphabet, std::size_t count) {
    std::string out(count, ' ');
    for (char& c : out) c = alphabet[Below(alphabet.size())];
    return out;
  }

 private:
  static std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t SplitMix(std::uint64_t* state) {
    std::uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4];
};

inline constexpr std::string_view kAlphanumeric =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
inline constexpr std::string_view kLowerHex = "0123456789abcdef";

}  // namespace firehose::sim
