#include "support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "support/raw_http.h"

extern char** environ;

namespace firehose::testing {

namespace {

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

}  // namespace

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Kill(SIGKILL);
}

bool ChildProcess::Start(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra,
                         const std::filesystem::path& log_path) {
  std::vector<std::string> args = argv;
  std::vector<std::string> env = Environment(env_extra);
  std::vector<char*> arg_pointers = Pointers(args);
  std::vector<char*> env_pointers = Pointers(env);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // The child: unblock every signal the test may have blocked, redirect output, exec.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    if (!log_path.empty()) {
      const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
    }
    execve(arg_pointers[0], arg_pointers.data(), env_pointers.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

void ChildProcess::Kill(int signal_number) {
  if (pid_ <= 0) return;
  kill(pid_, signal_number);
  if (signal_number == SIGKILL) {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return DecodeStatus(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int LinesContaining(const std::filesystem::path& path, std::string_view text) {
  std::ifstream log(path);
  std::string line;
  int found = 0;
  while (std::getline(log, line)) {
    if (line.find(text) != std::string::npos) ++found;
  }
  return found;
}

std::uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

HttpAnswer HttpGet(std::uint16_t port, const std::string& path,
                   const std::vector<std::string>& headers) {
  HeaderList header_list = {{"Connection", "close"}};
  for (const std::string& header : headers) {
    const std::size_t colon = header.find(':');
    header_list.emplace_back(header.substr(0, colon),
                             colon == std::string::npos ? "" : header.substr(colon + 2));
  }
  const auto response = RoundTrip(port, BuildRequest("GET", path, header_list));
  if (!response) return {};
  return {response->status, response->body};
}

bool WaitForHttp(std::uint16_t port, const std::string& path, int status,
                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (HttpGet(port, path).status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int RunCommand(const std::vector<std::string>& argv, std::string* stdout_text,
               const std::vector<std::string>& env_extra) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return -1;
  std::vector<std::string> args = argv;
  std::vector<std::string> env = Environment(env_extra);
  std::vector<char*> arg_pointers = Pointers(args);
  std::vector<char*> env_pointers = Pointers(env);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execve(arg_pointers[0], arg_pointers.data(), env_pointers.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[65536];
  ssize_t got = 0;
  while ((got = read(pipe_fds[0], buffer, sizeof buffer)) > 0)
    output.append(buffer, static_cast<std::size_t>(got));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (stdout_text != nullptr) *stdout_text = std::move(output);
  return DecodeStatus(status);
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/firehose-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const bool failed = info != nullptr && info->result() != nullptr && info->result()->Failed();
  if (failed) {
    std::fprintf(stderr, "keeping %s for inspection\n", path_.c_str());
    return;
  }
  std::error_code error;
  std::filesystem::remove_all(path_, error);
}

}  // namespace firehose::testing
