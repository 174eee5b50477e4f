#include "cli/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

namespace firehose::cli {

namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForStop(std::chrono::steady_clock::duration deadline,
                const std::function<bool()>& should_stop) {
  const sigset_t set = StopSignals();
  const auto start = std::chrono::steady_clock::now();
  constexpr timespec kPoll{0, 100'000'000};
  while (true) {
    const int signal_number = sigtimedwait(&set, nullptr, &kPoll);
    if (signal_number > 0) return signal_number;
    if (should_stop && should_stop()) return 0;
    if (deadline != std::chrono::steady_clock::duration::zero() &&
        std::chrono::steady_clock::now() - start >= deadline) {
      return 0;
    }
  }
}

void InstallHardExit() {
  // A thread that waits for the next stop signal and ends the process: the graceful shutdown
  // is taking too long for the operator.
  std::thread([] {
    const sigset_t set = StopSignals();
    int signal_number = 0;
    sigwait(&set, &signal_number);
    _exit(130);
  }).detach();
}

}  // namespace firehose::cli
