// The process's heap policy for the long-running roles.
#pragma once

#include <cstdint>

#include "core/status.h"

namespace firehose {

// Lets glibc's malloc keep up to `retain_bytes` of freed memory at the top of each heap for
// reuse instead of returning it to the kernel as soon as it is free (M_TRIM_THRESHOLD), and
// serves blocks below 4 MiB from the heap (M_MMAP_THRESHOLD). Group commit frees a whole
// group's records at once and the next group allocates them again: with glibc's defaults that
// trims and regrows the heap every group (page faults and zeroing on every cycle; measured with
// 64 MiB: the log's 4 MiB-group append rate 420-462 MB/s against 310-345 MB/s). 0 keeps glibc's
// defaults. Call once, early, from the main thread. InvalidArgument if glibc refuses.
Status RetainFreedHeap(std::int64_t retain_bytes);

}  // namespace firehose
