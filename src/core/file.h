// Durable file primitives shared by every stage that writes to disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace firehose {

// Owns a POSIX file descriptor.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.Release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  Status Close();

 private:
  int fd_ = -1;
};

Result<FileDescriptor> OpenFile(const std::filesystem::path& path, int flags, int mode = 0644);

// write(2) until every byte is written (or an error: nothing is retried after ENOSPC/EIO).
// `probe` names the fault probe checked before writing.
Status WriteAll(int fd, std::string_view bytes, std::string_view probe = "file.write");
Status PwriteAll(int fd, std::string_view bytes, std::uint64_t offset);
// fdatasync(2), with the "file.fsync" probe (or `probe`).
Status SyncData(int fd, std::string_view probe = "file.fsync");
// Makes a directory's entries (creates, renames, unlinks) durable.
Status SyncDirectory(const std::filesystem::path& directory);
// mkdir -p, syncing each created directory's parent so the new entries survive a crash.
Status EnsureDirectory(const std::filesystem::path& directory);

// Writes `bytes` to `path` so that a reader sees either the old file or the whole new one:
// temp file in the same directory, fsync, rename, fsync of the directory.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes);

// Reads a whole file, refusing files larger than `bytes_max`.
Result<std::string> ReadFile(const std::filesystem::path& path, std::uint64_t bytes_max);

// Renames and syncs the directory (or both directories).
Status RenameDurably(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace firehose
