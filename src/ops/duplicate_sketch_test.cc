#include "ops/duplicate_sketch.h"

#include <gtest/gtest.h>

#include <string>

namespace firehose::ops {
namespace {

TEST(DuplicateSketchTest, RecognisesRepeatsPerPartner) {
  DuplicateSketch sketch(1 << 20);
  const std::uint64_t acme = DuplicateSketch::PartnerSeed("acme");
  const std::uint64_t globex = DuplicateSketch::PartnerSeed("globex");
  EXPECT_FALSE(sketch.SeenBefore(acme, "ch_1"));
  EXPECT_TRUE(sketch.SeenBefore(acme, "ch_1"));
  EXPECT_FALSE(sketch.SeenBefore(globex, "ch_1"));  // another partner's txn id is another key
}

// The error bound the header promises: under ~0.6% false duplicates at full load, and every
// repeat within the last capacity() keys found.
TEST(DuplicateSketchTest, FalsePositiveRateStaysWithinTheBound) {
  DuplicateSketch sketch(1 << 20);  // 16,384 blocks; capacity 524,288 keys
  const std::uint64_t seed = DuplicateSketch::PartnerSeed("acme");
  const std::uint64_t keys = 3 * sketch.capacity();  // rotates twice: both filters full
  std::uint64_t false_positives = 0;
  std::uint64_t measured = 0;
  for (std::uint64_t i = 0; i < keys; ++i) {
    const bool seen = sketch.SeenBefore(seed, "txn_" + std::to_string(i));
    if (i >= 2 * sketch.capacity()) {  // once the previous filter is full too
      false_positives += seen;
      ++measured;
    }
  }
  // A key a filter already holds (a false positive) is not inserted again, so rotations come a
  // little later than every capacity() calls.
  EXPECT_EQ(sketch.rotations(), 2u);
  const double rate = static_cast<double>(false_positives) / static_cast<double>(measured);
  EXPECT_LT(rate, 0.006) << "false-positive rate " << rate;
  // Every one of the last capacity() keys is remembered.
  std::uint64_t missed = 0;
  for (std::uint64_t i = keys - sketch.capacity() / 2; i < keys; ++i) {
    missed += !sketch.SeenBefore(seed, "txn_" + std::to_string(i));
  }
  EXPECT_EQ(missed, 0u);
}

}  // namespace
}  // namespace firehose::ops
