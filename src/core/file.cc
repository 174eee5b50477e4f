#include "core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "core/fault.h"

namespace firehose {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

Status FileDescriptor::Close() {
  if (fd_ < 0) return Status::Ok();
  const int fd = Release();
  if (::close(fd) != 0) return ErrnoStatus("close", errno);
  return Status::Ok();
}

Result<FileDescriptor> OpenFile(const std::filesystem::path& path, int flags, int mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("open " + path.string(), errno);
  return FileDescriptor(fd);
}

Status WriteAll(int fd, std::string_view bytes, std::string_view probe) {
  if (const int injected = fault::Check(probe)) return ErrnoStatus("write (injected)", injected);
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return Status::Ok();
}

Status PwriteAll(int fd, std::string_view bytes, std::uint64_t offset) {
  if (const int injected = fault::Check("file.write")) return ErrnoStatus("pwrite (injected)", injected);
  while (!bytes.empty()) {
    const ssize_t written = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("pwrite", errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
    offset += static_cast<std::uint64_t>(written);
  }
  return Status::Ok();
}

Status SyncData(int fd, std::string_view probe) {
  if (const int injected = fault::Check(probe)) return ErrnoStatus("fdatasync (injected)", injected);
  if (::fdatasync(fd) != 0) return ErrnoStatus("fdatasync", errno);
  return Status::Ok();
}

Status SyncDirectory(const std::filesystem::path& directory) {
  FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(directory, O_RDONLY | O_DIRECTORY));
  if (const int injected = fault::Check("file.fsync_dir")) return ErrnoStatus("fsync dir (injected)", injected);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync " + directory.string(), errno);
  return Status::Ok();
}

Status EnsureDirectory(const std::filesystem::path& directory) {
  std::error_code error;
  if (std::filesystem::is_directory(directory, error)) return Status::Ok();
  const std::filesystem::path parent = directory.parent_path();
  if (!parent.empty() && parent != directory) FH_RETURN_IF_ERROR(EnsureDirectory(parent));
  if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir " + directory.string(), errno);
  }
  if (!parent.empty()) return SyncDirectory(parent);
  return Status::Ok();
}

Status RenameDurably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (const int injected = fault::Check("file.rename")) return ErrnoStatus("rename (injected)", injected);
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus("rename " + from.string() + " -> " + to.string(), errno);
  }
  FH_RETURN_IF_ERROR(SyncDirectory(to.parent_path()));
  if (from.parent_path() != to.parent_path()) FH_RETURN_IF_ERROR(SyncDirectory(from.parent_path()));
  return Status::Ok();
}

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path temp = path.string() + ".tmp";
  {
    FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    Status status = WriteAll(fd.get(), bytes);
    if (status.ok()) status = SyncData(fd.get());
    if (status.ok()) status = fd.Close();
    if (!status.ok()) {
      ::unlink(temp.c_str());
      return status.WithContext("writing " + path.string());
    }
  }
  return RenameDurably(temp, path);
}

Result<std::string> ReadFile(const std::filesystem::path& path, std::uint64_t bytes_max) {
  FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(path, O_RDONLY));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return ErrnoStatus("fstat " + path.string(), errno);
  if (static_cast<std::uint64_t>(info.st_size) > bytes_max) {
    return ResourceExhausted(path.string() + " is " + std::to_string(info.st_size) +
                             " bytes, over the limit of " + std::to_string(bytes_max));
  }
  std::string contents(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t filled = 0;
  while (filled < contents.size()) {
    const ssize_t got = ::read(fd.get(), contents.data() + filled, contents.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + path.string(), errno);
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  contents.resize(filled);
  return contents;
}

}  // namespace firehose
