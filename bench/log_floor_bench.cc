// The durable floor for bench/log_vs_dd.sh: the least a log can do to acknowledge an append only
// once it is on disk, measured with log_append_bench's load (the same cases, counters and
// appender model), so that the script shows what group commit with fdatasync itself leaves of
// dd's rate on this machine, next to the embedded log (which also encodes records, checksums
// every frame, calls each append back, indexes, rolls segments and retains).
//
// The floor: appenders copy a ready-made frame into the group being filled (one mutex, no
// allocation, no checksum); one writer thread takes a group of at most group_commit_bytes_max,
// writes it contiguously in 1 MiB pieces, starting the disk on each whole piece
// (sync_file_range) as the log does, then fdatasync; an appender's acknowledgement is a shared
// counter passing its sequence number. Like bench/durable_floor_server.cc it links no Firehose
// code: an anchor should not share the code it measures.
//
// The file lives in $FIREHOSE_BENCH_DIR (default: the system temp directory). By default it is
// zero-filled before timing and written round and round, so that fdatasync commits data only
// (what the log's prefill gives small groups). FIREHOSE_FLOOR_FILE=grow appends to an empty file
// instead, as a log writing new segments does, and =fallocate also allocates 64 MiB ahead of the
// writer with fallocate(2): the cost of a file that grows under every fdatasync.
//
// FIREHOSE_FLOOR_PAGE_CACHE_BYTES=N (default 0: every page stays cached) drops the durable bytes
// older than the last N from the page cache after each fdatasync, in steps of at least 4 MiB, as
// the embedded log does with its default log_page_cache_bytes (64 MiB): with it, each group is
// written into pages that are no longer cached, as in the log's steady state, where a recycled
// segment's file comes round long after its pages were dropped.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "floor_support.h"
#include "log_bench_cases.h"

namespace firehose::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kFrameHeaderBytes = 24;       // as the embedded log's frames (log_format.h)
constexpr std::size_t kWritePieceBytes = 1 << 20;   // as log_writeback_bytes' default
constexpr std::uint64_t kFileBytes = 256ull << 20;  // written round and round
constexpr std::size_t kSpareGroupsMax = 4;          // group buffers kept for reuse
constexpr std::uint64_t kFallocateStepBytes = 64 << 20;
constexpr std::uint64_t kPageCacheDropStepBytes = 4 << 20;  // as the embedded log's
constexpr std::uint64_t kPageCacheDropAlignBytes = 64 << 10;

enum class FileMode { kZeroed, kGrow, kFallocate };

FileMode FileModeFromEnvironment() {
  const char* chosen = std::getenv("FIREHOSE_FLOOR_FILE");
  const std::string mode = chosen != nullptr ? chosen : "zeroed";
  if (mode == "zeroed") return FileMode::kZeroed;
  if (mode == "grow") return FileMode::kGrow;
  if (mode == "fallocate") return FileMode::kFallocate;
  std::fprintf(stderr, "FIREHOSE_FLOOR_FILE must be zeroed, grow or fallocate, not '%s'\n",
               mode.c_str());
  std::exit(2);
}

std::uint64_t PageCacheBytesFromEnvironment() {
  const char* chosen = std::getenv("FIREHOSE_FLOOR_PAGE_CACHE_BYTES");
  if (chosen == nullptr) return 0;
  char* end = nullptr;
  errno = 0;
  const unsigned long long bytes = std::strtoull(chosen, &end, 10);
  if (errno != 0 || end == chosen || *end != '\0') {
    std::fprintf(stderr, "FIREHOSE_FLOOR_PAGE_CACHE_BYTES must be a byte count, not '%s'\n",
                 chosen);
    std::exit(2);
  }
  return bytes;
}

class FloorLog {
 public:
  FloorLog(int fd, FileMode mode, std::size_t group_bytes_max, std::uint64_t page_cache_bytes)
      : fd_(fd),
        mode_(mode),
        group_bytes_max_(group_bytes_max),
        page_cache_bytes_(page_cache_bytes),
        writer_([this] { WriterLoop(); }) {}

  ~FloorLog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    ready_.notify_one();
    writer_.join();
  }

  // Copies the frame into the group being filled; returns its sequence number (from 1).
  std::uint64_t Append(const std::string& frame) {
    bool wake = false;
    std::uint64_t sequence = 0;
    {
      std::lock_guard lock(mutex_);
      if (pending_.empty() || pending_.back().bytes.size() + frame.size() > group_bytes_max_) {
        pending_.emplace_back();
        if (!spare_.empty()) {
          pending_.back().bytes = std::move(spare_.back());
          spare_.pop_back();
        }
        pending_.back().bytes.reserve(group_bytes_max_);
      }
      pending_.back().bytes.insert(pending_.back().bytes.end(), frame.begin(), frame.end());
      sequence = ++appended_;
      pending_.back().last = sequence;
      wake = writer_waiting_;
    }
    if (wake) ready_.notify_one();
    return sequence;
  }

  void WaitDurable(std::uint64_t sequence) {
    std::unique_lock lock(mutex_);
    durable_cv_.wait(lock, [&] { return durable_ >= sequence; });
  }

  std::uint64_t fsyncs() const { return fsyncs_; }
  double fsync_seconds() const { return fsync_seconds_; }

 private:
  struct Group {
    std::vector<char> bytes;
    std::uint64_t last = 0;  // the sequence number of its last frame
  };

  void WriterLoop() {
    Group group;
    while (true) {
      {
        std::unique_lock lock(mutex_);
        writer_waiting_ = true;
        ready_.wait(lock, [&] { return !pending_.empty() || stop_; });
        writer_waiting_ = false;
        if (pending_.empty()) return;
        if (group.bytes.capacity() > 0 && spare_.size() < kSpareGroupsMax) {
          spare_.push_back(std::move(group.bytes));
        }
        group = std::move(pending_.front());
        pending_.pop_front();
      }
      Write(group.bytes.data(), group.bytes.size());
      const auto started = std::chrono::steady_clock::now();
      if (::fdatasync(fd_) != 0) Die("fdatasync");
      fsync_seconds_ +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      ++fsyncs_;
      {
        std::lock_guard lock(mutex_);
        durable_ = group.last;
      }
      durable_cv_.notify_all();
      DropFromPageCache();
      group.bytes.clear();
    }
  }

  // After the acknowledgements, as the log does: the durable bytes older than the last
  // page_cache_bytes_ leave the cache (in the zero-filled file's offsets, which wrap around).
  void DropFromPageCache() {
    if (page_cache_bytes_ == 0 || written_ < page_cache_bytes_) return;
    const std::uint64_t drop_until =
        (written_ - page_cache_bytes_) & ~(kPageCacheDropAlignBytes - 1);
    if (drop_until < dropped_until_ + kPageCacheDropStepBytes) return;
    const std::uint64_t wrap =
        mode_ == FileMode::kZeroed ? kFileBytes : std::numeric_limits<std::uint64_t>::max();
    for (std::uint64_t from = dropped_until_; from < drop_until;) {
      const std::uint64_t offset = from % wrap;
      const std::uint64_t length = std::min(drop_until - from, wrap - offset);
      (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                            POSIX_FADV_DONTNEED);
      from += length;
    }
    dropped_until_ = drop_until;
  }

  // In pieces of 1 MiB (round and round a zero-filled file, or at its end); the disk starts on
  // each whole piece while the next is copied, and fdatasync waits for the rest.
  void Write(const char* bytes, std::size_t size) {
    while (size > 0) {
      std::size_t piece = std::min(size, kWritePieceBytes);
      if (mode_ == FileMode::kZeroed) {
        if (position_ == kFileBytes) position_ = 0;
        piece = std::min<std::uint64_t>(piece, kFileBytes - position_);
      } else if (mode_ == FileMode::kFallocate && position_ + piece > allocated_) {
        if (::fallocate(fd_, 0, static_cast<off_t>(allocated_), kFallocateStepBytes) != 0) {
          Die("fallocate");
        }
        allocated_ += kFallocateStepBytes;
      }
      const ssize_t written = ::pwrite(fd_, bytes, piece, static_cast<off_t>(position_));
      if (written < 0) {
        if (errno == EINTR) continue;
        Die("pwrite");
      }
      const auto done = static_cast<std::size_t>(written);
      if (done == kWritePieceBytes &&
          ::sync_file_range(fd_, static_cast<off_t>(position_), static_cast<off_t>(done),
                            SYNC_FILE_RANGE_WRITE) != 0) {
        Die("sync_file_range");
      }
      position_ += done;
      written_ += done;
      bytes += done;
      size -= done;
    }
  }

  const int fd_;
  const FileMode mode_;
  const std::size_t group_bytes_max_;
  const std::uint64_t page_cache_bytes_;
  std::uint64_t position_ = 0;       // writer thread only
  std::uint64_t written_ = 0;        // likewise: bytes written in all
  std::uint64_t dropped_until_ = 0;  // likewise: of written_, dropped from the page cache
  std::uint64_t allocated_ = 0;      // likewise: fallocate'd up to here
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable durable_cv_;
  std::deque<Group> pending_;
  std::vector<std::vector<char>> spare_;
  std::uint64_t appended_ = 0;
  std::uint64_t durable_ = 0;
  bool writer_waiting_ = false;
  bool stop_ = false;
  std::uint64_t fsyncs_ = 0;  // writer thread; read after the appenders joined
  double fsync_seconds_ = 0;  // likewise
  std::thread writer_;
};

// log_append_bench's appender: at most `window` appends outstanding, refilled once half of the
// window is durable (with window 1: at once).
void RunAppender(FloorLog& log, const std::string& frame, std::int64_t count, std::int64_t window) {
  std::deque<std::uint64_t> outstanding;
  const std::int64_t refill_at = window - std::max<std::int64_t>(1, window / 2);
  for (std::int64_t i = 0; i < count; ++i) {
    if (static_cast<std::int64_t>(outstanding.size()) >= window) {
      // Wait until no more than refill_at are outstanding: for the one at that position.
      log.WaitDurable(outstanding[outstanding.size() - refill_at - 1]);
      outstanding.erase(outstanding.begin(),
                        outstanding.end() - static_cast<std::ptrdiff_t>(refill_at));
    }
    outstanding.push_back(log.Append(frame));
  }
  if (!outstanding.empty()) log.WaitDurable(outstanding.back());
}

void BM_FloorAppend(benchmark::State& state) {
  const std::int64_t appenders = state.range(0);
  const std::int64_t window = state.range(1);
  const std::int64_t group_mib = state.range(2);
  const auto record_bytes = static_cast<std::size_t>(state.range(3));
  const std::int64_t per_appender = LogBenchRecordsPerAppender(appenders, window, record_bytes);

  std::string pattern = (LogBenchParent() / "firehose-floor-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) Die("mkdtemp under FIREHOSE_BENCH_DIR");
  const fs::path dir = pattern;
  const FileMode mode = FileModeFromEnvironment();
  const fs::path path = dir / "floor.log";
  const int fd = mode == FileMode::kZeroed
                     ? OpenZeroFilled(path, kFileBytes)
                     : ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open");
  std::string frame(kFrameHeaderBytes + record_bytes, 'x');
  std::memcpy(frame.data(), "\x51\xEE\xFF\xC0", 4);
  std::uint64_t fsyncs = 0;
  double fsync_seconds = 0;
  std::int64_t records = 0;
  double elapsed_seconds = 0;
  {
    FloorLog log(fd, mode, static_cast<std::size_t>(group_mib) << 20,
                 PageCacheBytesFromEnvironment());
    const auto started = std::chrono::steady_clock::now();
    for (auto _ : state) {
      std::vector<std::thread> threads;
      for (std::int64_t a = 0; a < appenders; ++a) {
        threads.emplace_back([&] { RunAppender(log, frame, per_appender, window); });
      }
      for (auto& thread : threads) thread.join();
      records += appenders * per_appender;
    }
    elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fsyncs = log.fsyncs();
    fsync_seconds = log.fsync_seconds();
  }
  ::close(fd);
  SetLogBenchCounters(state, records, frame.size(), fsyncs, fsync_seconds, elapsed_seconds);
  std::error_code error;
  fs::remove_all(dir, error);
}

// log_append_bench's cases.
BENCHMARK(BM_FloorAppend)->Apply(OneInFlightPerAppender);
BENCHMARK(BM_FloorAppend)->Apply(ManyInFlight);

}  // namespace
}  // namespace firehose::bench

BENCHMARK_MAIN();
