// Real child processes for integration tests: start the `firehose` binary (or any program),
// wait for it to serve HTTP, kill it with any signal, restart it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace firehose::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts `argv` (argv[0] is the program path) with `env_extra` ("NAME=value") added to this
  // process's environment; stdout and stderr are appended to `log_path` (if not empty).
  bool Start(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra = {},
             const std::filesystem::path& log_path = {});
  // Sends `signal_number`; with SIGKILL, also reaps.
  void Kill(int signal_number);
  // Waits up to `timeout` for the child to exit; returns its exit status (as from waitpid's
  // WEXITSTATUS, or 128 + signal), or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Lines of the text file at `path` (a child's log) that contain `text`; 0 if it cannot be read.
int LinesContaining(const std::filesystem::path& path, std::string_view text);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
std::uint16_t FreePort();

// Polls GET http://127.0.0.1:<port><path> until it answers `status` or `timeout` passes.
bool WaitForHttp(std::uint16_t port, const std::string& path, int status,
                 std::chrono::milliseconds timeout);

// One GET on 127.0.0.1 (connection closed after it): status and body; status 0 if no answer.
struct HttpAnswer {
  int status = 0;
  std::string body;
};
HttpAnswer HttpGet(std::uint16_t port, const std::string& path,
                   const std::vector<std::string>& headers = {});

// Runs a command to completion; returns its exit status and captures stdout.
int RunCommand(const std::vector<std::string>& argv, std::string* stdout_text,
               const std::vector<std::string>& env_extra = {});

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor unless the test failed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace firehose::testing
