#include "core/allocator.h"

#include <malloc.h>

#include <string>

namespace firehose {

namespace {

// Blocks at least this large are mmapped and returned to the kernel when freed: a rare large
// body does not stay resident.
constexpr int kMmapThresholdBytes = 4 << 20;

}  // namespace

Status RetainFreedHeap(std::int64_t retain_bytes) {
  if (retain_bytes == 0) return Status::Ok();
  if (retain_bytes < 0 || retain_bytes > INT32_MAX) {
    return InvalidArgument("heap retention of " + std::to_string(retain_bytes) +
                           " bytes is outside [0, 2^31)");
  }
#if defined(__SANITIZE_ADDRESS__)
  return Status::Ok();  // AddressSanitizer's allocator replaces glibc's: nothing to tune
#endif
  // Setting either parameter turns off glibc's dynamic adjustment of both, so both are set.
  if (mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(retain_bytes)) != 1) {
    return InvalidArgument("glibc refused the heap retention of " + std::to_string(retain_bytes) +
                           " bytes");
  }
  return Status::Ok();
}

}  // namespace firehose
