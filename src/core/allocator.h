// The process's heap: which allocator it runs on, and its retention policy.
//
// Release builds link tcmalloc (gperftools' tcmalloc_minimal, Debian's libgoogle-perftools-dev;
// CMake option FIREHOSE_ALLOCATOR=tcmalloc|glibc): the edge and the log allocate a record's
// buffers on one thread and free them on another (the io thread encodes, the log's writer or
// completer frees), which glibc's per-thread arenas pay for with an arena lock on both sides,
// and tcmalloc's per-thread caches do not (bench/RESULTS.md, "Ingest: the allocator").
// Sanitizer and fuzzing builds run on their own allocators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace firehose {

// "tcmalloc", "glibc", or "sanitizer" (AddressSanitizer's allocator replaces both).
std::string_view AllocatorName();

// Lets the allocator keep up to `retain_bytes` of freed memory for reuse instead of returning
// it to the kernel as soon as it is free. Group commit frees a whole group's records at once and
// the next group allocates them again: returning and regrowing the heap every group costs page
// faults and zeroing on every cycle (measured with glibc and 64 MiB: the log's 4 MiB-group
// append rate 420-462 MB/s against 310-345 MB/s).
//   glibc     the trim threshold (M_TRIM_THRESHOLD); blocks of 4 MiB and more are mmapped and
//             returned when freed (M_MMAP_THRESHOLD).
//   tcmalloc  the threads' caches together hold at most a quarter of it (at least 1 MiB;
//             tcmalloc.max_total_thread_cache_bytes), tcmalloc's own gradual release is off,
//             and a thread ("heap-release") returns the page heap's free bytes above
//             `retain_bytes` to the kernel once a second.
// 0 leaves the allocator as it is (its defaults, unless an earlier call set a limit). Call early,
// from the main thread; a later call replaces the limit. InvalidArgument if the value is out of
// range or the allocator refuses it.
Status RetainFreedHeap(std::int64_t retain_bytes);

// Returns the free memory the allocator holds to the kernel now, whatever the retention: after
// a phase that freed much at once (a ledger spill), so that the next phase's blocks do not come
// on top of memory nothing counts any more.
void ReturnFreedMemory();

// Free bytes the allocator holds in whole pages it could return to the kernel (glibc: the free
// top of the main heap; tcmalloc: the page heap's free, still mapped bytes). For tests and
// diagnostics.
std::size_t FreeHeapBytes();

namespace internal {
// One pass of the tcmalloc release thread: returns the page heap's free bytes above the current
// limit to the kernel. No-op on other allocators or without a limit.
void ReleaseFreeHeapAboveLimit();
}  // namespace internal

}  // namespace firehose
