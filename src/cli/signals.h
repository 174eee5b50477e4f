// Clean shutdown on SIGINT / SIGTERM for the long-running commands.
#pragma once

#include <chrono>
#include <functional>

namespace firehose::cli {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards, so
// that they are delivered only to WaitForStop, and installs a handler for both: a thread that
// started earlier and does not block them records the signal for WaitForStop instead of the
// process taking the default action (dying without its graceful stop). Call before starting
// any stage.
void BlockStopSignals();

// Waits until SIGINT/SIGTERM arrives, `deadline` passes (if not zero), or `should_stop()`
// returns true (checked every 100 ms). Returns the signal number, or 0. A second signal while
// the caller is shutting down exits the process at once (see InstallHardExit).
int WaitForStop(std::chrono::steady_clock::duration deadline,
                const std::function<bool()>& should_stop);

// After the first signal: a second SIGINT/SIGTERM ends the process immediately with 130.
void InstallHardExit();

}  // namespace firehose::cli
