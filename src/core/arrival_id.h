// Arrival ids: ULIDs (48-bit millisecond time + 80 random bits, Crockford base32).
#pragma once

#include "core/types.h"

namespace firehose {

// Returns a new arrival id. Thread-safe (each thread keeps its own generator, seeded from the
// kernel's CSPRNG). Ids from one thread increase strictly; ids from different threads and
// processes collide with probability ~2^-80 per millisecond.
ArrivalId NewArrivalId(TimestampUs now);

}  // namespace firehose
