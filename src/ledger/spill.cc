#include "ledger/spill.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/allocator.h"
#include "core/fault.h"

namespace firehose::ledger {

namespace {

constexpr std::string_view kSpillWriteProbe = "ledger.spill_write";

Status ReadExactly(int fd, char* out, std::size_t bytes, std::uint64_t offset,
                   const std::filesystem::path& path) {
  while (bytes > 0) {
    const ssize_t got = ::pread(fd, out, bytes, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ErrnoStatus("reading spill file " + path.string(), errno);
    if (got == 0) return DataLoss("spill file " + path.string() + " is shorter than written");
    out += got;
    bytes -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return Status::Ok();
}

}  // namespace

void* MapBytes(std::size_t bytes) {
  void* pointer =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pointer == MAP_FAILED) throw std::bad_alloc();
  return pointer;
}

void UnmapBytes(void* pointer, std::size_t bytes) { ::munmap(pointer, bytes); }

Status MemoryBudget::Add(std::int64_t bytes) {
  const std::int64_t now = used_bytes_.fetch_add(bytes) + bytes;
  std::int64_t peak = peak_bytes_.load();
  while (now > peak && !peak_bytes_.compare_exchange_weak(peak, now)) {
  }
  return now > limit_bytes_ ? SpillIfOver() : Status::Ok();
}

void MemoryBudget::Release(std::int64_t bytes) { used_bytes_.fetch_sub(bytes); }

void MemoryBudget::Register(SpillBuffer* buffer) {
  std::lock_guard lock(mutex_);
  buffers_.push_back(buffer);
}

void MemoryBudget::Unregister(SpillBuffer* buffer) {
  std::lock_guard lock(mutex_);
  buffers_.erase(std::remove(buffers_.begin(), buffers_.end(), buffer), buffers_.end());
}

Status MemoryBudget::SpillIfOver() {
  if (used_bytes() <= limit_bytes_) return Status::Ok();
  std::lock_guard lock(mutex_);
  const std::int64_t target = limit_bytes_ / 4 * 3;
  // Largest first: the fewest files written for the most memory freed.
  std::vector<std::pair<std::int64_t, SpillBuffer*>> candidates;
  for (SpillBuffer* buffer : buffers_) {
    const std::int64_t bytes = buffer->memory_bytes();
    if (bytes > 0) candidates.emplace_back(bytes, buffer);
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [bytes, buffer] : candidates) {
    if (used_bytes() <= target) break;
    std::lock_guard buffer_lock(buffer->mutex_);
    FH_ASSIGN_OR_RETURN(const std::int64_t freed, buffer->SpillLocked());
    Release(freed);
    CountSpilled(freed);
  }
  ReturnFreedMemory();
  return Status::Ok();
}

SpillBuffer::SpillBuffer(MemoryBudget* budget, std::filesystem::path file_path)
    : budget_(budget), file_path_(std::move(file_path)) {
  budget_->Register(this);
}

SpillBuffer::~SpillBuffer() {
  budget_->Unregister(this);
  Free();
}

Status SpillBuffer::Append(Bytes chunk) {
  const auto bytes = static_cast<std::int64_t>(chunk.size());
  {
    std::lock_guard lock(mutex_);
    if (spilled_) {
      FH_RETURN_IF_ERROR(WriteLocked(chunk));
      budget_->CountSpilled(bytes);
      return Status::Ok();
    }
    chunks_.push_back(std::move(chunk));
    memory_bytes_ += bytes;
  }
  return budget_->Add(bytes);
}

Status SpillBuffer::WriteLocked(const Bytes& chunk) {
  if (!file_.valid()) {
    FH_ASSIGN_OR_RETURN(file_, OpenFile(file_path_, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  }
  FH_RETURN_IF_ERROR(
      WriteAll(file_.get(), std::string_view(chunk.data(), chunk.size()), kSpillWriteProbe));
  file_bytes_ += static_cast<std::int64_t>(chunk.size());
  return Status::Ok();
}

Result<std::int64_t> SpillBuffer::SpillLocked() {
  const std::int64_t freed = memory_bytes_;
  for (const Bytes& chunk : chunks_) FH_RETURN_IF_ERROR(WriteLocked(chunk));
  chunks_.clear();
  chunks_.shrink_to_fit();
  memory_bytes_ = 0;
  spilled_ = true;
  return freed;
}

Result<SpillBuffer::Loaded> SpillBuffer::Take() {
  std::lock_guard lock(mutex_);
  Loaded loaded;
  if (file_bytes_ > 0) {
    Bytes block(static_cast<std::size_t>(file_bytes_));
    FH_RETURN_IF_ERROR(ReadExactly(file_.get(), block.data(), block.size(), 0, file_path_));
    loaded.blocks.push_back(std::move(block));
    // Counted now: the loaded bytes are in memory again.
    budget_->used_bytes_.fetch_add(file_bytes_);
    loaded.counted_bytes += file_bytes_;
  }
  for (Bytes& chunk : chunks_) loaded.blocks.push_back(std::move(chunk));
  loaded.counted_bytes += memory_bytes_;
  chunks_.clear();
  memory_bytes_ = 0;
  file_ = FileDescriptor();
  if (file_bytes_ > 0) ::unlink(file_path_.c_str());
  file_bytes_ = 0;
  return loaded;
}

void SpillBuffer::Free() {
  std::lock_guard lock(mutex_);
  budget_->Release(memory_bytes_);
  chunks_.clear();
  memory_bytes_ = 0;
  if (file_.valid()) {
    file_ = FileDescriptor();
    ::unlink(file_path_.c_str());
  }
  file_bytes_ = 0;
}

std::int64_t SpillBuffer::total_bytes() const {
  std::lock_guard lock(mutex_);
  return memory_bytes_ + file_bytes_;
}

std::int64_t SpillBuffer::memory_bytes() const {
  std::lock_guard lock(mutex_);
  return memory_bytes_;
}

bool SpillBuffer::spilled() const {
  std::lock_guard lock(mutex_);
  return spilled_;
}

SpillBuffer::Reader::Reader(const SpillBuffer* buffer, std::size_t block_bytes)
    : buffer_(buffer), block_bytes_(block_bytes) {}

Result<bool> SpillBuffer::Reader::Ensure(std::size_t bytes) {
  while (window_.size() - window_begin_ < bytes) {
    // Keep the unread tail at the front, then append the next piece.
    window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(window_begin_));
    window_begin_ = 0;
    const auto file_bytes = static_cast<std::uint64_t>(buffer_->file_bytes_);
    if (file_offset_ < file_bytes) {
      const std::size_t take = static_cast<std::size_t>(
          std::min<std::uint64_t>(block_bytes_, file_bytes - file_offset_));
      const std::size_t old_size = window_.size();
      window_.resize(old_size + take);
      FH_RETURN_IF_ERROR(ReadExactly(buffer_->file_.get(), window_.data() + old_size, take,
                                     file_offset_, buffer_->file_path_));
      file_offset_ += take;
      continue;
    }
    if (next_chunk_ < buffer_->chunks_.size()) {
      const Bytes& chunk = buffer_->chunks_[next_chunk_++];
      window_.insert(window_.end(), chunk.begin(), chunk.end());
      continue;
    }
    if (window_.size() == 0) return false;
    return DataLoss("a spill buffer ends inside a record (" + buffer_->file_path_.string() + ")");
  }
  return true;
}

}  // namespace firehose::ledger
