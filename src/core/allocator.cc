#include "core/allocator.h"

#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#if FIREHOSE_TCMALLOC
#include <gperftools/malloc_extension.h>
#include <gperftools/malloc_extension_c.h>
#endif

namespace firehose {

namespace {

#if FIREHOSE_TCMALLOC
// The threads' caches get this share of the retention, and at least the minimum.
constexpr std::int64_t kThreadCacheShare = 4;
constexpr std::int64_t kThreadCacheBytesMin = 1 << 20;
constexpr std::chrono::seconds kReleaseInterval{1};

std::atomic<std::int64_t> retain_limit_bytes{0};

std::size_t TcmallocProperty(const char* name) {
  std::size_t value = 0;
  if (MallocExtension_GetNumericProperty(name, &value) == 0) return 0;
  return value;
}

void ReleaseLoop() {
  ::pthread_setname_np(::pthread_self(), "heap-release");
  while (true) {
    std::this_thread::sleep_for(kReleaseInterval);
    internal::ReleaseFreeHeapAboveLimit();
  }
}
#elif !defined(__SANITIZE_ADDRESS__)
// glibc: blocks at least this large are mmapped and returned to the kernel when freed, so a
// rare large body does not stay resident.
constexpr int kMmapThresholdBytes = 4 << 20;
#endif

}  // namespace

std::string_view AllocatorName() {
#if defined(__SANITIZE_ADDRESS__)
  return "sanitizer";
#elif FIREHOSE_TCMALLOC
  return "tcmalloc";
#else
  return "glibc";
#endif
}

Status RetainFreedHeap(std::int64_t retain_bytes) {
  if (retain_bytes < 0 || retain_bytes > INT32_MAX) {
    return InvalidArgument("heap retention of " + std::to_string(retain_bytes) +
                           " bytes is outside [0, 2^31)");
  }
  if (retain_bytes == 0) return Status::Ok();
#if defined(__SANITIZE_ADDRESS__)
  return Status::Ok();  // AddressSanitizer's allocator replaces the others: nothing to tune
#elif FIREHOSE_TCMALLOC
  const auto caches =
      static_cast<std::size_t>(std::max(retain_bytes / kThreadCacheShare, kThreadCacheBytesMin));
  if (MallocExtension_SetNumericProperty("tcmalloc.max_total_thread_cache_bytes", caches) == 0) {
    return InvalidArgument("tcmalloc refused a thread cache limit of " + std::to_string(caches) +
                           " bytes");
  }
  // Off: the release thread below enforces the limit instead of tcmalloc's own pace.
  MallocExtension::instance()->SetMemoryReleaseRate(0);
  retain_limit_bytes.store(retain_bytes);
  static std::once_flag started;
  std::call_once(started, [] { std::thread(ReleaseLoop).detach(); });
  return Status::Ok();
#else
  // Setting either parameter turns off glibc's dynamic adjustment of both, so both are set.
  if (mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(retain_bytes)) != 1) {
    return InvalidArgument("glibc refused the heap retention of " + std::to_string(retain_bytes) +
                           " bytes");
  }
  return Status::Ok();
#endif
}

void ReturnFreedMemory() {
#if FIREHOSE_TCMALLOC
  MallocExtension_ReleaseFreeMemory();
#else
  ::malloc_trim(0);
#endif
}

std::size_t FreeHeapBytes() {
#if FIREHOSE_TCMALLOC
  return TcmallocProperty("tcmalloc.pageheap_free_bytes");
#else
  return mallinfo2().keepcost;
#endif
}

namespace internal {

void ReleaseFreeHeapAboveLimit() {
#if FIREHOSE_TCMALLOC
  const std::int64_t limit = retain_limit_bytes.load();
  if (limit <= 0) return;
  const std::size_t free_bytes = TcmallocProperty("tcmalloc.pageheap_free_bytes");
  if (free_bytes > static_cast<std::size_t>(limit)) {
    MallocExtension_ReleaseToSystem(free_bytes - static_cast<std::size_t>(limit));
  }
#endif
}

}  // namespace internal

}  // namespace firehose
