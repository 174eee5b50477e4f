#include "cli/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace firehose::cli {

namespace {

// A stop signal that reached a thread which does not block it (one started before
// BlockStopSignals: a library's or the sanitizer runtime's) is caught here instead of taking the
// default action, which would end the process without its graceful stop.
std::atomic<int> g_caught_signal{0};
std::atomic<bool> g_hard_exit{false};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "the signal handler may only touch lock-free atomics");

extern "C" void OnStopSignal(int signal_number) {
  if (g_hard_exit.load()) _exit(130);
  g_caught_signal.store(signal_number);
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void BlockStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
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
    if (const int caught = g_caught_signal.exchange(0); caught != 0) return caught;
    if (should_stop && should_stop()) return 0;
    if (deadline != std::chrono::steady_clock::duration::zero() &&
        std::chrono::steady_clock::now() - start >= deadline) {
      return 0;
    }
  }
}

void InstallHardExit() {
  // From now on the next stop signal ends the process: the graceful shutdown is taking too long
  // for the operator. A thread waits for it where it is blocked; the handler acts where it is not.
  g_hard_exit.store(true);
  if (g_caught_signal.load() != 0) _exit(130);
  std::thread([] {
    const sigset_t set = StopSignals();
    int signal_number = 0;
    sigwait(&set, &signal_number);
    _exit(130);
  }).detach();
}

}  // namespace firehose::cli
