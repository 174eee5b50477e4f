// The graceful stop of the long-running commands, in a forked child that is sent real signals.
#include "cli/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace firehose::cli {
namespace {

using namespace std::chrono_literals;

// Exit codes of the child.
constexpr int kStoppedBySigterm = 0;
constexpr int kStoppedOtherwise = 1;
constexpr int kStillRunning = 2;

// In the child: where it reports that it is ready, and later that it is stopping.
int g_report_fd = -1;

void Report() {
  if (write(g_report_fd, "r", 1) != 1) _exit(kStoppedOtherwise);
}

// Waits for the child's next report.
bool AwaitReport(int fd) {
  char byte = 0;
  return read(fd, &byte, 1) == 1;
}

// Starts a child that begins a thread *before* BlockStopSignals (as a library or the sanitizer
// runtime may), then waits for a stop. `after_stop` runs in the child after the first stop and
// returns its exit code; `starting` is how long the child takes, after blocking the signals,
// before it waits (a role loading its config and starting). Returns the child's pid once it has
// blocked them, and in `reports` the end of the pipe the child reports on.
pid_t StartChild(int (*after_stop)(int signal_number), int& reports,
                 std::chrono::milliseconds starting = 0ms) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid != 0) {
    close(pipe_fds[1]);
    reports = pipe_fds[0];
    return AwaitReport(reports) ? pid : -1;
  }
  close(pipe_fds[0]);
  g_report_fd = pipe_fds[1];
  std::thread early([] { std::this_thread::sleep_for(30s); });
  early.detach();
  BlockStopSignals();
  Report();
  std::this_thread::sleep_for(starting);
  const int signal_number = WaitForStop(10s, {});
  _exit(after_stop(signal_number));
}

int ExitStatus(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);  // killed: no graceful stop
  return WEXITSTATUS(status);
}

TEST(StopSignals, ProcessDirectedSigtermReachesWaitForStopEvenViaAThreadStartedBeforeBlocking) {
  int reports = -1;
  const pid_t pid = StartChild(
      [](int signal_number) {
        return signal_number == SIGTERM ? kStoppedBySigterm : kStoppedOtherwise;
      },
      reports);
  ASSERT_GT(pid, 0);
  // The main thread blocks SIGTERM, so the kernel delivers it to the early thread.
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  close(reports);
  EXPECT_EQ(ExitStatus(pid), kStoppedBySigterm)
      << "1015 means SIGTERM's default action killed the child without a graceful stop";
}

// `firehose run` blocks the stop signals before it loads its config and starts its roles: a
// SIGTERM that comes meanwhile waits, pending, and stops the process once it waits for a stop.
TEST(StopSignals, ASigtermWhileStartingStopsTheProcessOnceStarted) {
  int reports = -1;
  const pid_t pid = StartChild(
      [](int signal_number) {
        return signal_number == SIGTERM ? kStoppedBySigterm : kStoppedOtherwise;
      },
      reports, 300ms);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);  // the child is still "starting" for 300 ms
  close(reports);
  EXPECT_EQ(ExitStatus(pid), kStoppedBySigterm)
      << "1015 means SIGTERM's default action killed the starting child";
}

TEST(StopSignals, ASecondSignalDuringTheGracefulStopEndsTheProcessWith130) {
  int reports = -1;
  const pid_t pid = StartChild(
      [](int signal_number) {
        if (signal_number != SIGTERM) return kStoppedOtherwise;
        InstallHardExit();
        Report();                          // stopping
        std::this_thread::sleep_for(20s);  // a graceful stop that takes too long
        return kStillRunning;
      },
      reports);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(AwaitReport(reports)) << "the child did not begin its graceful stop";
  ASSERT_EQ(kill(pid, SIGINT), 0);
  close(reports);
  EXPECT_EQ(ExitStatus(pid), 130);
}

}  // namespace
}  // namespace firehose::cli
