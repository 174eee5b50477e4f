// What the two durable floors (durable_floor_server for ingest, log_floor_bench for the log)
// share. Free of Firehose code, like the floors themselves.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace firehose::bench {

[[noreturn]] inline void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// A file of `bytes` zeros, synced: written over afterwards, its fdatasync commits data only, as
// the log's prefill arranges for small groups.
inline int OpenZeroFilled(const std::filesystem::path& path, std::uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open");
  const std::string zeros(1 << 20, '\0');
  for (std::uint64_t at = 0; at < bytes; at += zeros.size()) {
    const std::size_t size = std::min<std::uint64_t>(zeros.size(), bytes - at);
    if (::pwrite(fd, zeros.data(), size, static_cast<off_t>(at)) != static_cast<ssize_t>(size))
      Die("pwrite zeros");
  }
  if (::fsync(fd) != 0) Die("fsync");
  return fd;
}

}  // namespace firehose::bench
