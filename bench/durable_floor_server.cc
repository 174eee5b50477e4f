// The durable floor for bench/ingest_vs_nginx.sh: the least a server can do to acknowledge a
// webhook only once its body is on disk, so that the benchmark shows what durability itself
// costs on the machine, next to nginx (which keeps nothing) and Firehose (which also verifies,
// maps and frames every arrival).
//
//   durable_floor_server [--port 0] [--threads 2] [--file-bytes 268435456] --data-dir DIR
//       Prints "LISTENING <port>" once it accepts; serves until SIGINT/SIGTERM, then prints
//       "STATS accepted=.. fsyncs=.. appends_per_fsync=.. fsync_mean_ms=..".
//
// Like nginx's workers: one epoll loop per thread on its own SO_REUSEPORT listener, HTTP/1.1
// keep-alive, requests framed by Content-Length and nothing parsed beyond that. Like the
// embedded log's group commit: complete bodies are queued, one writer thread writes everything
// queued with one pwrite and one fdatasync, then each io thread sends its connections' 202s. The
// file is zero-filled up front and written round and round, as the log's prefill does, so that
// fdatasync commits data only. No signature, no mapping, no frame, no CRC, no index, no retention:
// a floor, not a log — what it acknowledged stays on disk only until the writer comes round the
// file again.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "floor_support.h"

namespace firehose::bench {
namespace {

constexpr std::string_view kAnswer = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
constexpr std::size_t kHeaderBytesMax = 64 << 10;
constexpr std::size_t kBodyBytesMax = 2 << 20;
constexpr std::size_t kReadBytes = 64 << 10;
constexpr int kEventsPerWait = 256;

// A request's body waiting for the fdatasync, and whom to answer once it is durable.
struct Waiter {
  int fd;
  std::uint64_t connection;  // the io thread's id for the connection (fds are reused)
};

struct IoThread {
  int epoll = -1;
  int wake = -1;  // eventfd: durable answers are waiting in `durable`
  int listener = -1;
  std::mutex mutex;
  std::vector<Waiter> durable;  // guarded by mutex
};

// What the writer thread takes in one group.
struct Group {
  std::string bytes;
  std::vector<std::pair<IoThread*, Waiter>> waiters;
};

class Log {
 public:
  Log(int fd, std::uint64_t file_bytes) : fd_(fd), file_bytes_(file_bytes) {}

  void Add(std::string_view body, IoThread* io, Waiter waiter) {
    {
      std::lock_guard lock(mutex_);
      pending_.bytes.append(body);
      pending_.waiters.emplace_back(io, waiter);
    }
    ready_.notify_one();
  }

  void WriterLoop() {
    Group group;
    std::vector<IoThread*> woken;
    while (true) {
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !pending_.waiters.empty(); });
        std::swap(group, pending_);
      }
      Write(group.bytes);
      const auto start = std::chrono::steady_clock::now();
      if (::fdatasync(fd_) != 0) Die("fdatasync");
      fsync_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
      ++fsyncs_;
      accepted_ += group.waiters.size();
      woken.clear();
      for (const auto& [io, waiter] : group.waiters) {
        std::lock_guard lock(io->mutex);
        io->durable.push_back(waiter);
        if (std::find(woken.begin(), woken.end(), io) == woken.end()) woken.push_back(io);
      }
      for (IoThread* io : woken) {
        const std::uint64_t one = 1;
        if (::write(io->wake, &one, sizeof one) != sizeof one) Die("write eventfd");
      }
      group.bytes.clear();
      group.waiters.clear();
    }
  }

  std::string Stats() const {
    const double fsyncs = static_cast<double>(std::max<std::uint64_t>(fsyncs_, 1));
    char text[160];
    std::snprintf(
        text, sizeof text, "accepted=%llu fsyncs=%llu appends_per_fsync=%.1f fsync_mean_ms=%.2f",
        static_cast<unsigned long long>(accepted_.load()),
        static_cast<unsigned long long>(fsyncs_.load()), static_cast<double>(accepted_) / fsyncs,
        static_cast<double>(fsync_ns_) / fsyncs / 1e6);
    return text;
  }

 private:
  // Round and round the zero-filled file: every write lands on allocated blocks.
  void Write(std::string_view bytes) {
    while (!bytes.empty()) {
      if (position_ == file_bytes_) position_ = 0;
      const std::size_t size = std::min<std::uint64_t>(bytes.size(), file_bytes_ - position_);
      const ssize_t written = ::pwrite(fd_, bytes.data(), size, static_cast<off_t>(position_));
      if (written < 0) {
        if (errno == EINTR) continue;
        Die("pwrite");
      }
      position_ += static_cast<std::uint64_t>(written);
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  const int fd_;
  const std::uint64_t file_bytes_;
  std::uint64_t position_ = 0;  // writer thread only
  std::mutex mutex_;
  std::condition_variable ready_;
  Group pending_;  // guarded by mutex_
  std::atomic<std::uint64_t> accepted_{0}, fsyncs_{0}, fsync_ns_{0};
};

struct Connection {
  int fd;
  std::uint64_t id;
  std::string in;
  bool waiting = false;  // a request is waiting for its fdatasync: the next one waits in `in`
};

// Case-insensitive search for the Content-Length header in `head` (request line + headers).
std::optional<std::size_t> ContentLength(std::string_view head) {
  constexpr std::string_view kName = "\r\ncontent-length:";
  for (std::size_t at = 0; at + kName.size() <= head.size(); ++at) {
    bool match = true;
    for (std::size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(head[at + i])) == kName[i];
    }
    if (!match) continue;
    std::size_t value = 0;
    std::size_t i = at + kName.size();
    while (i < head.size() && head[i] == ' ') ++i;
    if (i >= head.size() || !std::isdigit(static_cast<unsigned char>(head[i]))) return std::nullopt;
    for (; i < head.size() && std::isdigit(static_cast<unsigned char>(head[i])); ++i) {
      value = value * 10 + static_cast<std::size_t>(head[i] - '0');
      if (value > kBodyBytesMax) return std::nullopt;
    }
    return value;
  }
  return 0;  // no body
}

class Server {
 public:
  Server(Log& log, IoThread& io) : log_(log), io_(io) {}

  void Run() {
    epoll_event events[kEventsPerWait];
    while (true) {
      const int ready = ::epoll_wait(io_.epoll, events, kEventsPerWait, -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        Die("epoll_wait");
      }
      for (int i = 0; i < ready; ++i) {
        const int fd = events[i].data.fd;
        if (fd == io_.listener) {
          Accept();
        } else if (fd == io_.wake) {
          Answer();
        } else {
          Read(fd);
        }
      }
    }
  }

 private:
  void Accept() {
    while (true) {
      const int fd = ::accept4(io_.listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that went away meanwhile
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (::epoll_ctl(io_.epoll, EPOLL_CTL_ADD, fd, &event) != 0) Die("epoll_ctl");
      connections_[fd] = Connection{fd, next_id_++, {}, false};
    }
  }

  void Close(Connection& connection) {
    ::close(connection.fd);  // also leaves the epoll set
    connections_.erase(connection.fd);
  }

  void Read(int fd) {
    const auto found = connections_.find(fd);
    if (found == connections_.end()) return;
    Connection& connection = found->second;
    while (true) {
      const ssize_t got = ::recv(fd, read_buffer_.data(), read_buffer_.size(), 0);
      if (got > 0) {
        connection.in.append(read_buffer_.data(), static_cast<std::size_t>(got));
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (got < 0 && errno == EINTR) continue;
      return Close(connection);  // EOF or error
    }
    Parse(connection);
  }

  // Queues the next complete request of `connection`, unless one is already waiting.
  void Parse(Connection& connection) {
    if (connection.waiting) return;
    const std::size_t end = connection.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (connection.in.size() > kHeaderBytesMax) Close(connection);
      return;
    }
    const std::optional<std::size_t> body_bytes =
        ContentLength(std::string_view(connection.in).substr(0, end + 2));
    if (!body_bytes) return Close(connection);
    const std::size_t total = end + 4 + *body_bytes;
    if (connection.in.size() < total) return;
    log_.Add(std::string_view(connection.in).substr(end + 4, *body_bytes), &io_,
             Waiter{connection.fd, connection.id});
    connection.in.erase(0, total);
    connection.waiting = true;
  }

  void Answer() {
    std::uint64_t count = 0;
    if (::read(io_.wake, &count, sizeof count) < 0 && errno != EAGAIN) Die("read eventfd");
    {
      std::lock_guard lock(io_.mutex);
      std::swap(answering_, io_.durable);
    }
    for (const Waiter& waiter : answering_) {
      const auto found = connections_.find(waiter.fd);
      if (found == connections_.end() || found->second.id != waiter.connection) continue;
      Connection& connection = found->second;
      // 45 bytes into an idle keep-alive socket: a short send means the client is gone.
      if (::send(connection.fd, kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(kAnswer.size())) {
        Close(connection);
        continue;
      }
      connection.waiting = false;
      Parse(connection);
    }
    answering_.clear();
  }

  Log& log_;
  IoThread& io_;
  std::unordered_map<int, Connection> connections_;
  std::uint64_t next_id_ = 1;
  std::vector<Waiter> answering_;
  std::vector<char> read_buffer_ = std::vector<char>(kReadBytes);
};

int Listen(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) Die("bind");
  if (::listen(fd, 1024) != 0) Die("listen");
  return fd;
}

std::uint16_t PortOf(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) Die("getsockname");
  return ntohs(address.sin_port);
}

int Main(int argc, char** argv) {
  CLI::App app{"The durable floor for the ingest benchmark (bench/ingest_vs_nginx.sh)."};
  int port = 0;
  int threads = 2;
  std::uint64_t file_bytes = 256 << 20;
  std::filesystem::path data_dir;
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0: any free one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--threads", threads, "io threads (epoll loops)")->check(CLI::Range(1, 64));
  app.add_option("--file-bytes", file_bytes, "size of the zero-filled file written round and round")
      ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{64} << 30));
  app.add_option("--data-dir", data_dir, "directory for the file (on the disk to measure)")
      ->required();
  CLI11_PARSE(app, argc, argv);

  // SIGINT/SIGTERM are taken by sigwait below, in no other thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::filesystem::create_directories(data_dir);
  Log log(OpenZeroFilled(data_dir / "floor.log", file_bytes), file_bytes);
  std::vector<std::unique_ptr<IoThread>> ios;
  for (int i = 0; i < threads; ++i) {
    auto io = std::make_unique<IoThread>();
    io->listener = Listen(static_cast<std::uint16_t>(port));
    if (port == 0) port = PortOf(io->listener);  // the others share it (SO_REUSEPORT)
    io->epoll = ::epoll_create1(EPOLL_CLOEXEC);
    io->wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (io->epoll < 0 || io->wake < 0) Die("epoll_create1/eventfd");
    for (const int fd : {io->listener, io->wake}) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (::epoll_ctl(io->epoll, EPOLL_CTL_ADD, fd, &event) != 0) Die("epoll_ctl");
    }
    ios.push_back(std::move(io));
  }
  std::thread([&log] { log.WriterLoop(); }).detach();
  for (auto& io : ios) {
    std::thread([&log, io = io.get()] { Server(log, *io).Run(); }).detach();
  }
  std::printf("LISTENING %d\n", port);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::printf("STATS %s\n", log.Stats().c_str());
  std::fflush(stdout);
  std::_Exit(0);  // the threads loop forever; nothing is left to flush
}

}  // namespace
}  // namespace firehose::bench

int main(int argc, char** argv) { return firehose::bench::Main(argc, argv); }
