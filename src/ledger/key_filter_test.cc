#include "ledger/key_filter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ledger/ledger_job.h"

namespace firehose::ledger {
namespace {

std::uint64_t DayKey(std::int64_t i) { return KeyHash("acme", "t" + std::to_string(i)); }
std::uint64_t OtherKey(std::int64_t i) { return KeyHash("globex", "o" + std::to_string(i)); }

// A filter past 2^24 words (a memory bound above 1 GiB and ~90 M keys in the day) must spread
// the keys over all its words. It used to address only the first 2^24 (128 MiB): the rest was
// allocated and charged to the memory budget for nothing, and the used part saturated.
TEST(KeyFilter, KeysSpreadOverWordsPastTheFirstTwoToThe24) {
  constexpr std::size_t kRegionWords = std::size_t{1} << 20;
  constexpr std::size_t kRegions = 17;  // 2^24 words and one region past them: 136 MiB
  KeyFilter filter(kRegions * kRegionWords);
  constexpr std::int64_t kKeys = 1 << 19;
  std::vector<std::int64_t> keys_in_region(kRegions);
  for (std::int64_t i = 0; i < kKeys; ++i) {
    const std::uint64_t hash = DayKey(i);
    filter.Add(hash);
    const std::size_t word = filter.WordOf(hash);
    ASSERT_LT(word, kRegions * kRegionWords);
    ++keys_in_region[word / kRegionWords];
  }
  const double expected = static_cast<double>(kKeys) / kRegions;  // ~30.8 k, sigma ~170
  for (std::size_t region = 0; region < kRegions; ++region) {
    EXPECT_NEAR(static_cast<double>(keys_in_region[region]), expected, expected * 0.05)
        << "words " << region * kRegionWords << " to " << (region + 1) * kRegionWords;
  }
  for (std::int64_t i = 0; i < kKeys; i += 101) {
    ASSERT_TRUE(filter.MayContain(DayKey(i))) << "a key added is never pruned: " << i;
  }
}

// The probability that a probe's four bits are all set in a word that holds `keys` keys, each of
// which set four uniformly drawn bits (repeats allowed, as in KeyFilter::Bits).
double WordFalsePositive(int keys) {
  // The probe's four draws hit d distinct bits in S(4, d) * 64!/(64-d)! of 64^4 ways (S: Stirling
  // numbers of the second kind); d given bits are all set with inclusion-exclusion.
  constexpr double kStirling[] = {0, 1, 7, 6, 1};
  double probability = 0;
  double arrangements = 1;  // 64!/(64-d)!
  for (int d = 1; d <= 4; ++d) {
    arrangements *= 64 - (d - 1);
    double all_set = 0;
    double choose = 1;  // C(d, i)
    for (int i = 0; i <= d; ++i) {
      all_set += (i % 2 == 0 ? 1 : -1) * choose * std::pow(1 - i / 64.0, 4.0 * keys);
      choose = choose * (d - i) / (i + 1);
    }
    probability += kStirling[d] * arrangements / std::pow(64.0, 4) * all_set;
  }
  return probability;
}

// The bits within a word are drawn independently of the word: at 12 bits per key the share of
// absent keys let through is what theory gives for a blocked Bloom filter of this shape.
TEST(KeyFilter, FalsePositiveRateMatchesTheTheory) {
  constexpr std::size_t kWords = std::size_t{1} << 16;
  constexpr std::int64_t kKeys = kWords * 64 / 12;
  KeyFilter filter(kWords);
  for (std::int64_t i = 0; i < kKeys; ++i) filter.Add(DayKey(i));

  // Keys per word are Poisson distributed with mean kKeys / kWords.
  const double mean = static_cast<double>(kKeys) / kWords;
  double expected = 0;
  double poisson = std::exp(-mean);
  for (int keys = 0; keys < 64; ++keys) {
    expected += poisson * WordFalsePositive(keys);
    poisson *= mean / (keys + 1);
  }

  constexpr std::int64_t kProbes = 1'000'000;
  std::int64_t passed = 0;
  for (std::int64_t i = 0; i < kProbes; ++i) passed += filter.MayContain(OtherKey(i)) ? 1 : 0;
  const double measured = static_cast<double>(passed) / kProbes;
  // ~1.2 % of a million probes: the sampling error is about 1 % of the rate.
  EXPECT_NEAR(measured, expected, expected * 0.05) << "expected " << expected;
}

}  // namespace
}  // namespace firehose::ledger
