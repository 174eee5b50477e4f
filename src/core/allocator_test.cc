#include "core/allocator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

namespace firehose {
namespace {

// Allocates `total` bytes in 1 KiB blocks (as a group of records would), frees them all, and
// returns how much free memory the allocator then holds in pages it could return to the kernel.
std::size_t FreeBytesAfterAGroup(std::size_t total) {
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
  return FreeHeapBytes();
}

TEST(Allocator, RunsOnTheAllocatorItWasBuiltFor) {
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(AllocatorName(), "sanitizer");
#elif FIREHOSE_EXPECT_TCMALLOC
  EXPECT_EQ(AllocatorName(), "tcmalloc");
#else
  EXPECT_EQ(AllocatorName(), "glibc");
#endif
}

TEST(RetainFreedHeap, KeepsFreedMemoryUpToTheLimitAndNoMore) {
  if (AllocatorName() == "sanitizer") GTEST_SKIP() << "AddressSanitizer replaces the allocator";
  ASSERT_TRUE(RetainFreedHeap(64 << 20).ok());
  EXPECT_GE(FreeBytesAfterAGroup(20 << 20), std::size_t{12} << 20)
      << "the freed group was returned to the kernel";
  internal::ReleaseFreeHeapAboveLimit();  // what tcmalloc's release thread does every second
  EXPECT_GE(FreeHeapBytes(), std::size_t{12} << 20) << "a pass released what the limit keeps";

  ASSERT_TRUE(RetainFreedHeap(1 << 20).ok());
  std::size_t kept = FreeBytesAfterAGroup(20 << 20);
  if (AllocatorName() == "tcmalloc") {
    // The release thread, not the free, enforces the limit: within a few of its passes.
    for (int i = 0; i < 50 && kept > (std::size_t{2} << 20); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      kept = FreeHeapBytes();
    }
  }
  EXPECT_LE(kept, std::size_t{2} << 20) << "more than the limit was kept";
}

TEST(RetainFreedHeap, ReturnFreedMemoryGivesEverythingBack) {
  if (AllocatorName() == "sanitizer") GTEST_SKIP() << "AddressSanitizer replaces the allocator";
  ASSERT_TRUE(RetainFreedHeap(64 << 20).ok());
  ASSERT_GE(FreeBytesAfterAGroup(20 << 20), std::size_t{12} << 20);
  ReturnFreedMemory();
  EXPECT_LE(FreeHeapBytes(), std::size_t{1} << 20);
}

TEST(RetainFreedHeap, ZeroLeavesTheAllocatorAndOutOfRangeIsRefused) {
  EXPECT_TRUE(RetainFreedHeap(0).ok());
  EXPECT_EQ(RetainFreedHeap(-1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RetainFreedHeap(std::int64_t{1} << 40).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace firehose
