// Failure probes compiled into the real I/O path (append, fsync, roll, rename, commit).
//
// Tests switch them on through the environment variable FIREHOSE_FAULTS, a comma-separated list
// of `probe=action[@n]`:
//   action  eio | enospc   the probe returns that errno (the caller handles it as a real one)
//           crash          the process dies at once (_exit(137), like kill -9, no cleanup)
//           sleepN         the probe sleeps N milliseconds, then returns 0 (a slow disk)
//   @n      fire on the n-th hit only (1-based); `@n+` fires on the n-th and every later hit;
//           without @ it fires on every hit.
// Example: FIREHOSE_FAULTS="lake.after_manifest=crash@2,log.fsync=eio@5+,log.fsync=sleep150@2"
// With the variable unset, a probe costs one relaxed atomic load.
#pragma once

#include <string_view>

namespace firehose::fault {

// Returns the errno to inject at `probe`, or 0. May sleep first, or not return (crash).
int Check(std::string_view probe);

// Replaces the active fault list (tests in the same process); "" clears it.
void SetForTest(std::string_view spec);

}  // namespace firehose::fault
