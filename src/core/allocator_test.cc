#include "core/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <vector>

namespace firehose {
namespace {

#if !defined(__SANITIZE_ADDRESS__)
// Allocates `total` bytes in 1 KiB blocks (as a group of records would), frees them all, and
// returns how much free memory the top of the heap then holds (mallinfo2's keepcost: what a
// trim would return to the kernel).
std::size_t TopOfHeapAfterAGroup(std::size_t total) {
  // Lowest first, so that the few blocks glibc caches per thread are the lowest ones and the
  // rest coalesces into the top of the heap; the list itself is allocated below the blocks.
  std::vector<char*> blocks;
  blocks.reserve(total / 1024 + 1);
  for (std::size_t allocated = 0; allocated < total; allocated += 1024) {
    char* block = static_cast<char*>(std::malloc(1024));
    block[0] = 1;
    blocks.push_back(block);
  }
  for (char* block : blocks) std::free(block);
  return mallinfo2().keepcost;
}
#endif

TEST(RetainFreedHeap, KeepsFreedMemoryUpToTheLimitAndNoMore) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces glibc's malloc";
#else
  ASSERT_TRUE(RetainFreedHeap(64 << 20).ok());
  EXPECT_GE(TopOfHeapAfterAGroup(20 << 20), std::size_t{16} << 20)
      << "the freed group was returned to the kernel";
  ASSERT_TRUE(RetainFreedHeap(1 << 20).ok());
  EXPECT_LE(TopOfHeapAfterAGroup(20 << 20), std::size_t{2} << 20)
      << "more than the limit was kept";
#endif
}

TEST(RetainFreedHeap, ZeroKeepsGlibcsDefaultsAndOutOfRangeIsRefused) {
  EXPECT_TRUE(RetainFreedHeap(0).ok());
  EXPECT_EQ(RetainFreedHeap(-1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RetainFreedHeap(std::int64_t{1} << 40).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace firehose
