// Memory the ledger job may use, and byte buffers that move to disk when it runs out.
//
// The job keeps its per-partition data (versions read, booked rows, conflicts) in SpillBuffers.
// Every byte a buffer holds in memory is counted by the job's MemoryBudget; when the count
// passes the budget's limit, the budget spills the largest in-memory buffers to their files until
// it is back under three quarters of the limit. A buffer that spilled once stays on disk: its
// later chunks are appended to its file, so its bytes keep their order (file first, then the
// chunks still in memory).
//
// Thread safety: a SpillBuffer may be appended to from several threads (it locks); MemoryBudget
// is thread-safe. Spill files live in the job's spill directory and are deleted with it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "core/file.h"
#include "core/status.h"

namespace firehose::ledger {

// An allocator that leaves new elements uninitialised: byte buffers are always written before
// they are read, and zero-filling them cost a tenth of the scan. Blocks of kMappedBytesMin and
// more are mapped and unmapped directly: a loaded partition or a sort index goes back to the
// system the moment it is freed, instead of staying in the heap (where glibc's moving mmap
// threshold would put the next ones) as fragments the job's memory budget no longer counts.
inline constexpr std::size_t kMappedBytesMin = 1 << 20;
void* MapBytes(std::size_t bytes);  // throws std::bad_alloc
void UnmapBytes(void* pointer, std::size_t bytes);

template <typename T>
struct UninitializedAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (bytes >= kMappedBytesMin) return static_cast<T*>(MapBytes(bytes));
    return std::allocator<T>().allocate(count);
  }
  void deallocate(T* pointer, std::size_t count) noexcept {
    const std::size_t bytes = count * sizeof(T);
    if (bytes >= kMappedBytesMin) return UnmapBytes(pointer, bytes);
    std::allocator<T>().deallocate(pointer, count);
  }
  template <typename U>
  void construct(U* pointer) noexcept {
    ::new (static_cast<void*>(pointer)) U;  // default-initialisation: no zeroing for char
  }
  template <typename U, typename... Args>
  void construct(U* pointer, Args&&... args) {
    ::new (static_cast<void*>(pointer)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const UninitializedAllocator<U>&) const noexcept {
    return true;
  }
};

// Bytes of whole records.
using Bytes = std::vector<char, UninitializedAllocator<char>>;

class SpillBuffer;

class MemoryBudget {
 public:
  explicit MemoryBudget(std::int64_t limit_bytes) : limit_bytes_(limit_bytes) {}

  std::int64_t limit_bytes() const { return limit_bytes_; }
  // Before any buffer or count exists (the job sets what is left of its bound once it has
  // reserved the memory it does not count byte for byte).
  void set_limit_bytes(std::int64_t limit_bytes) { limit_bytes_ = limit_bytes; }
  std::int64_t used_bytes() const { return used_bytes_.load(std::memory_order_relaxed); }
  std::int64_t peak_bytes() const { return peak_bytes_.load(std::memory_order_relaxed); }
  std::int64_t spilled_bytes() const { return spilled_bytes_.load(std::memory_order_relaxed); }

  // Counts memory that is not in a buffer (sort indexes, loaded partitions, filters). Never
  // fails: the caller sized its request from the limit; Add may make buffers spill.
  Status Add(std::int64_t bytes);
  void Release(std::int64_t bytes);

  // Spills the largest in-memory buffers while the count is over the limit.
  Status SpillIfOver();

 private:
  friend class SpillBuffer;
  void Register(SpillBuffer* buffer);
  void Unregister(SpillBuffer* buffer);
  void CountSpilled(std::int64_t bytes) { spilled_bytes_.fetch_add(bytes); }

  std::int64_t limit_bytes_;
  std::atomic<std::int64_t> used_bytes_{0};
  std::atomic<std::int64_t> peak_bytes_{0};
  std::atomic<std::int64_t> spilled_bytes_{0};
  std::mutex mutex_;  // guards buffers_ and serialises spilling
  std::vector<SpillBuffer*> buffers_;
};

class SpillBuffer {
 public:
  SpillBuffer(MemoryBudget* budget, std::filesystem::path file_path);
  ~SpillBuffer();
  SpillBuffer(const SpillBuffer&) = delete;
  SpillBuffer& operator=(const SpillBuffer&) = delete;

  // Takes a chunk of whole records. May spill this or other buffers (outside this one's lock).
  Status Append(Bytes chunk);
  // Takes every byte out of the buffer, in order: the file's bytes as one block, then the
  // chunks that were in memory. Records never straddle blocks. The blocks stay counted by the
  // budget: the caller releases `counted_bytes` when it frees them. The buffer is empty after.
  struct Loaded {
    std::vector<Bytes> blocks;
    std::int64_t counted_bytes = 0;
  };
  Result<Loaded> Take();
  // Drops every byte, in memory and on disk.
  void Free();

  std::int64_t total_bytes() const;
  std::int64_t memory_bytes() const;
  bool spilled() const;
  const std::filesystem::path& file_path() const { return file_path_; }

  // Reads a buffer's bytes in order, `block_bytes` of file at a time. The buffer must not change
  // while a reader is open.
  class Reader {
   public:
    Reader(const SpillBuffer* buffer, std::size_t block_bytes);
    // Makes at least `bytes` contiguous bytes available at data(); false at the end.
    Result<bool> Ensure(std::size_t bytes);
    const char* data() const { return window_.data() + window_begin_; }
    void Consume(std::size_t bytes) { window_begin_ += bytes; }

   private:
    const SpillBuffer* buffer_;
    std::size_t block_bytes_;
    std::uint64_t file_offset_ = 0;
    std::size_t next_chunk_ = 0;
    Bytes window_;
    std::size_t window_begin_ = 0;
  };

 private:
  friend class MemoryBudget;
  // Writes the in-memory chunks to the file (caller holds mutex_). Returns the bytes freed.
  Result<std::int64_t> SpillLocked();
  Status WriteLocked(const Bytes& chunk);

  MemoryBudget* budget_;
  const std::filesystem::path file_path_;
  mutable std::mutex mutex_;
  std::vector<Bytes> chunks_;
  std::int64_t memory_bytes_ = 0;
  FileDescriptor file_;
  std::int64_t file_bytes_ = 0;
  bool spilled_ = false;
};

}  // namespace firehose::ledger
