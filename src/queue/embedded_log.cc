#include "queue/embedded_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "core/crc32c.h"
#include "core/fault.h"
#include "core/file.h"
#include "core/metrics.h"
#include "queue/log_format.h"

namespace firehose {

namespace {

using log_format::Frame;
using log_format::FrameCheck;
using log_format::kFrameHeaderBytes;
using log_format::kSegmentHeaderBytes;
using SteadyClock = std::chrono::steady_clock;

// A sparse index entry every this many bytes of a segment: positioning a consumer reads at most
// this much, and the index costs 16 bytes per 64 KiB (2 MiB for an 8 GiB log).
constexpr std::uint64_t kIndexIntervalBytes = 64 << 10;
// Consumers and recovery read segments in chunks of this size (or one frame, if larger).
constexpr std::uint64_t kReadChunkBytes = 256 << 10;
// How often the maintenance thread applies retention and refreshes the gauges.
constexpr auto kMaintenanceInterval = std::chrono::seconds(1);
// After a write fails for lack of space, Full() says so for this long; then an append probes.
constexpr auto kDiskFullBackoff = std::chrono::seconds(1);
// At the size limit, consumed segments are deleted until this fraction of queue_bytes_max is
// free (or nothing consumed is left), so that the edge does not flap at the limit.
constexpr std::uint64_t kPressureFreeDivisor = 4;
// The prefill thread writes zeros in chunks of at most this size (see PrefillLoop).
constexpr std::uint64_t kPrefillChunkBytes = 1 << 20;
// Prefill pays for small groups only. It saves each fdatasync one journal commit (~0.15 ms
// here) at the price of writing every byte twice, zeros then frames; a group this large takes
// longer to write than the commit it saves, and its fdatasync met the zeros of the chunks synced
// meanwhile (4 MiB groups: fdatasync 5.2-5.7 ms with prefill, 3.6-4.2 ms without). After such a
// group the prefill thread rests until a smaller one comes; the writer grows the file itself.
constexpr std::uint64_t kPrefillGroupBytesMax = 256 << 10;
// The writer drops durable bytes from the page cache (log_page_cache_bytes) in steps of at least
// this much, so that the drop costs one call per few groups; and in ranges that start and end on
// this alignment (a multiple of any page size), so that no page is left partly dropped.
constexpr std::uint64_t kPageCacheDropStepBytes = 4 << 20;
constexpr std::uint64_t kPageCacheDropAlignBytes = 64 << 10;
// Failure log lines of the writer are rate-limited to one per this interval.
constexpr auto kFailureLogInterval = std::chrono::seconds(1);
// A group commit's fdatasync slower than this held every append of the group for that long:
// it is counted (firehose_queue_fsync_slow_total) and logged, at most once per interval. On an
// idle disk an fdatasync takes ~0.3-0.5 ms; the ingest benchmark's worst p99 stalls were
// fdatasyncs of 44-160 ms while the shared disk was slow.
constexpr auto kSlowFsync = std::chrono::milliseconds(100);
constexpr auto kSlowFsyncLogInterval = std::chrono::seconds(10);
constexpr std::uint64_t kCursorFileBytesMax = 4096;
constexpr std::size_t kConsumerNameBytesMax = 64;
constexpr std::string_view kLockFileName = "LOCK";
constexpr std::string_view kCursorDirectory = "cursors";
constexpr std::string_view kTempSuffix = ".tmp";
// A retired segment kept for reuse: "<segment file name>.free" (segment_recycle_max).
constexpr std::string_view kRecycledSuffix = ".free";
// Pending frames are copied into shared chunks of this size; up to group_commit_bytes_max of
// emptied chunks are kept for reuse.
constexpr std::size_t kFrameChunkBytes = 1 << 20;
// A frame over this size (a batched webhook) is encoded into a chunk of its own, freed once
// written: its per-byte costs dwarf one allocation, and packed into shared chunks, 256
// connections of batched webhooks kept ~12 MiB more resident than with a buffer per frame
// (bench/RESULTS.md, "Embedded log", stop 20). Smaller frames are encoded into a buffer of the
// appending thread (so it never grows past this) and copied into the shared chunk.
constexpr std::size_t kSharedChunkFrameBytesMax = 16 << 10;
// How many frames ahead the writer fetches the header it will fill in (see WriteBatch).
constexpr std::size_t kHeaderPrefetchDistance = 16;

// Lets a repeated log line through at most once per interval; the next line that goes through
// says how many were held back. One thread only.
class LogThrottle {
 public:
  explicit LogThrottle(SteadyClock::duration interval) : interval_(interval) {}

  // True when a line may be logged now; `*held_back` is then how many were not, since the last.
  bool Admit(std::size_t* held_back) {
    const auto now = SteadyClock::now();
    if (logged_once_ && now - last_ < interval_) {
      ++held_back_;
      return false;
    }
    *held_back = held_back_;
    held_back_ = 0;
    last_ = now;
    logged_once_ = true;
    return true;
  }

 private:
  const SteadyClock::duration interval_;
  SteadyClock::time_point last_{};
  bool logged_once_ = false;
  std::size_t held_back_ = 0;
};

bool IsValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > kConsumerNameBytesMax) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

Status CheckLimits(const Limits& limits) {
  for (const LimitSpec& spec : kLimitSpecs) {
    const std::int64_t value = limits.*spec.field;
    if (value < spec.min || value > spec.max) {
      return InvalidArgument("limits." + std::string(spec.name) + " = " + std::to_string(value) +
                             " is outside [" + std::to_string(spec.min) + ", " +
                             std::to_string(spec.max) + "]");
    }
  }
  // Retention never deletes the active segment, so the log must hold a full active segment and
  // one more largest frame, or it could stay full for ever once consumers have caught up.
  const std::int64_t needed = limits.segment_bytes_max +
                              static_cast<std::int64_t>(log_format::FrameBytes(
                                  static_cast<std::uint64_t>(limits.record_bytes_max))) +
                              static_cast<std::int64_t>(kSegmentHeaderBytes);
  if (limits.queue_bytes_max < needed) {
    return InvalidArgument("limits.queue_bytes_max = " + std::to_string(limits.queue_bytes_max) +
                           " must be at least segment_bytes_max + record_bytes_max + " +
                           std::to_string(kFrameHeaderBytes + kSegmentHeaderBytes) + " = " +
                           std::to_string(needed));
  }
  return Status::Ok();
}

// Reads up to `size` bytes at `position`; fewer only at end of file.
Result<std::size_t> PreadFull(int fd, char* out, std::size_t size, std::uint64_t position) {
  std::size_t filled = 0;
  while (filled < size) {
    const ssize_t got =
        ::pread(fd, out + filled, size - filled, static_cast<off_t>(position + filled));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("pread", errno);
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  return filled;
}

Result<struct stat> StatFd(int fd, const std::filesystem::path& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return ErrnoStatus("fstat " + path.string(), errno);
  return info;
}

// Cuts the file to `size` bytes and makes the cut durable (torn tails, failed batches, sealing).
Status TruncateDurably(int fd, std::uint64_t size) {
  if (const int injected = fault::Check("log.truncate"))
    return ErrnoStatus("ftruncate (injected)", injected);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return ErrnoStatus("ftruncate", errno);
  return SyncData(fd, "log.truncate_fsync");
}

// A segment file's header: the outer Result fails when the file cannot be read, the inner one
// when the bytes are not a segment header.
Result<Result<log_format::SegmentHeader>> ReadSegmentHeader(int fd) {
  std::string bytes(kSegmentHeaderBytes, '\0');
  FH_ASSIGN_OR_RETURN(const std::size_t got, PreadFull(fd, bytes.data(), bytes.size(), 0));
  bytes.resize(got);
  return log_format::DecodeSegmentHeader(bytes);
}

// True when the file's bytes [from, end) are all zero.
Result<bool> IsZeroFilled(int fd, std::uint64_t from, std::uint64_t end) {
  std::string chunk;
  for (std::uint64_t at = from; at < end; at += chunk.size()) {
    chunk.resize(std::min(kReadChunkBytes, end - at));
    FH_ASSIGN_OR_RETURN(const std::size_t got, PreadFull(fd, chunk.data(), chunk.size(), at));
    if (got < chunk.size()) return false;
    if (std::any_of(chunk.begin(), chunk.end(), [](char c) { return c != '\0'; })) return false;
  }
  return true;
}

// Writes zeros to [from, end) of `fd`.
Status WriteZeros(int fd, std::uint64_t from, std::uint64_t end) {
  if (const int injected = fault::Check("log.prefill"))
    return ErrnoStatus("write (injected)", injected);
  static const std::string zeros(kPrefillChunkBytes, '\0');
  while (from < end) {
    const std::size_t size = std::min<std::uint64_t>(zeros.size(), end - from);
    const ssize_t written = ::pwrite(fd, zeros.data(), size, static_cast<off_t>(from));
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("pwrite", errno);
    }
    from += static_cast<std::uint64_t>(written);
  }
  return Status::Ok();
}

TimestampUs ModificationTime(const struct stat& info) {
  return TimestampUs(static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000 +
                     info.st_mtim.tv_nsec / 1000);
}

// Reads frames in sequence from one segment file through a buffer, never past `end` (the
// segment's durable size for consumers, its file size for recovery). A frame's length is bounded
// by the format's maximum, not by record_bytes_max: a frame written under a higher limit is
// read like any other. Not thread-safe.
class FrameReader {
 public:
  FrameReader(int fd, std::uint64_t position, std::uint64_t end)
      : fd_(fd), position_(position), end_(end) {}

  std::uint64_t position() const { return position_; }
  bool AtEnd() const { return position_ >= end_; }
  void ExtendEnd(std::uint64_t end) { end_ = std::max(end_, end); }

  // Parses the frame at position() without consuming it. kTruncated means the bytes up to the
  // end end inside a frame (or there are none left).
  Result<FrameCheck> Peek(Frame* frame) {
    std::uint64_t needed = kFrameHeaderBytes;
    while (true) {
      FH_RETURN_IF_ERROR(Fill(needed));
      const std::string_view available = Available();
      std::uint64_t frame_bytes = 0;
      const FrameCheck check = log_format::ParseFrame(available, frame, &frame_bytes);
      if (check != FrameCheck::kTruncated) return check;
      if (BufferEnd() >= end_ || frame_bytes <= available.size()) return check;
      needed = frame_bytes;
    }
  }

  void Consume(const Frame& frame) { position_ += frame.bytes; }

 private:
  std::uint64_t BufferEnd() const { return buffer_start_ + buffer_.size(); }

  std::string_view Available() const {
    if (position_ < buffer_start_ || position_ >= BufferEnd()) return {};
    const std::uint64_t stop = std::min(BufferEnd(), end_);
    return std::string_view(buffer_).substr(position_ - buffer_start_, stop - position_);
  }

  // Makes [position_, position_ + needed) buffered, or as much of it as lies before end_.
  Status Fill(std::uint64_t needed) {
    const std::uint64_t wanted_end = std::min(end_, position_ + needed);
    if (position_ >= buffer_start_ && BufferEnd() >= wanted_end) return Status::Ok();
    if (position_ >= buffer_start_ && position_ <= BufferEnd()) {
      buffer_.erase(0, position_ - buffer_start_);
    } else {
      buffer_.clear();
    }
    buffer_start_ = position_;
    const std::uint64_t read_end = std::min(end_, position_ + std::max(needed, kReadChunkBytes));
    const std::uint64_t read_from = BufferEnd();
    const std::size_t kept = buffer_.size();
    buffer_.resize(read_end - buffer_start_);
    FH_ASSIGN_OR_RETURN(const std::size_t got,
                        PreadFull(fd_, buffer_.data() + kept, read_end - read_from, read_from));
    buffer_.resize(kept + got);
    if (BufferEnd() < wanted_end) {
      return DataLoss("segment file ends at byte " + std::to_string(BufferEnd()) +
                      ", before its durable size " + std::to_string(end_));
    }
    return Status::Ok();
  }

  int fd_;
  std::uint64_t position_;
  std::uint64_t end_;
  std::string buffer_;  // the file's bytes [buffer_start_, buffer_start_ + buffer_.size())
  std::uint64_t buffer_start_ = 0;
};

struct PartnerCounters {
  PartnerId partner;
  Counter* received = nullptr;
  Counter* accepted = nullptr;
};

// Frames waiting for the writer, in append order. Appenders copy their frames in at `used`
// under the log's mutex; the writer fills in the headers of the frames it takes and writes them
// as they lie, a few contiguous runs per group; once it is past every frame of a chunk the chunk
// is reused. A frame allocated per record by the appender and freed on the writer's side, and
// groups written from thousands of iovecs, cost ~0.5 us of CPU per 600-byte frame: 1.8 us per
// record before, 1.2 after, where the disk takes ~0.6 us to write such a frame (bench/RESULTS.md,
// "Embedded log", stop 20).
struct FrameChunk {
  // A shared chunk of kFrameChunkBytes, or one frame's own.
  FrameChunk(std::size_t size, bool is_shared)
      : bytes(std::make_unique_for_overwrite<char[]>(size)), capacity(size), shared(is_shared) {}
  std::unique_ptr<char[]> bytes;
  std::size_t capacity;
  bool shared;
  std::size_t used = 0;  // guarded by the log's mutex: bytes holding frames
};

struct PendingAppend {
  // The frame: chunk->bytes[position, position + bytes), kFrameHeaderBytes for the header (filled
  // in by the writer), then the encoded record.
  FrameChunk* chunk = nullptr;
  std::size_t position = 0;
  std::size_t bytes = 0;
  std::uint32_t payload_crc = 0;
  Queue::AppendCallback done;
  const PartnerCounters* partner = nullptr;  // lives as long as the log

  char* frame() const { return chunk->bytes.get() + position; }
};

struct IndexEntry {
  std::uint64_t offset;
  std::uint64_t position;
};

struct Segment {
  QueueOffset base;
  std::filesystem::path path;
  std::uint64_t durable_bytes = 0;  // bytes holding the header and durable frames
  TimestampUs last_write;           // when its last durable frame was written (retention age)
  std::vector<IndexEntry> index;    // sparse, by increasing offset
};

// A retired segment's file kept for a later segment to be written into (segment_recycle_max).
struct RecycledFile {
  std::filesystem::path path;
  std::uint64_t bytes = 0;
};

struct CursorState {
  QueueOffset committed_next;    // the durable value
  QueueOffset retention_floor;   // <= committed_next; lowered before a backward Seek is written
  bool open = false;             // a consumer object holds it
  std::optional<Status> broken;  // the cursor file could not be read at Open
};

// docs/instrumentation.md: a series label only ever holds a real partner id.
std::string PartnerLabel(const PartnerId& partner) {
  return partner.empty() ? std::string("_unknown") : partner.str();
}

Counter& RejectedCounter(const PartnerId& partner, std::string_view reason) {
  return Metrics().CounterFor(
      "firehose_rejected_total",
      {{"stage", "queue"}, {"partner", PartnerLabel(partner)}, {"reason", std::string(reason)}});
}

Counter& ErrorCounter(std::string_view kind) {
  return Metrics().CounterFor("firehose_errors_total",
                              {{"stage", "queue"}, {"kind", std::string(kind)}});
}

Gauge& LagGauge(const std::string& consumer) {
  return Metrics().GaugeFor("firehose_consumer_lag_records", {{"consumer", consumer}});
}

// Starts the disk writing [from, to) of `fd` without waiting for it (the group's fdatasync
// waits). A file system that cannot do this is left to the fdatasync; a real error (EIO, ENOSPC
// of a delayed allocation) fails the group as a failed write would.
Status StartWriteback(int fd, std::uint64_t from, std::uint64_t to) {
  if (const int injected = fault::Check("log.writeback"))
    return ErrnoStatus("sync_file_range (injected)", injected);
  if (::sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(to - from),
                        SYNC_FILE_RANGE_WRITE) == 0) {
    return Status::Ok();
  }
  if (errno == EINVAL || errno == ESPIPE || errno == ENOSYS || errno == EOPNOTSUPP) {
    return Status::Ok();
  }
  return ErrnoStatus("sync_file_range", errno);
}

// The batch's frames as runs of contiguous memory: consecutive frames of one chunk lie end to end.
std::vector<iovec> FrameRuns(const std::vector<PendingAppend>& batch) {
  std::vector<iovec> runs;
  for (const PendingAppend& item : batch) {
    char* const frame = item.frame();
    if (!runs.empty() && static_cast<char*>(runs.back().iov_base) + runs.back().iov_len == frame) {
      runs.back().iov_len += item.bytes;
    } else {
      runs.push_back({frame, item.bytes});
    }
  }
  return runs;
}

// pwritev of `runs` at `position`, in calls of at most IOV_MAX runs. With `piece_bytes` > 0 each
// call writes at most that many bytes, and whenever a whole piece has been written since the
// last start and more bytes follow, the disk is started on it before the next is copied (see
// log_writeback_bytes): the copy into the page cache and the disk's write then overlap instead
// of taking turns, and the group's fdatasync waits only for the last piece and the flush.
// Written in one go, a 4 MiB group left the disk idle for the 0.6-0.9 ms of its copy
// (bench/RESULTS.md, "Embedded log", stop 15).
Status WriteFrames(int fd, std::uint64_t position, const std::vector<iovec>& runs,
                   std::uint64_t piece_bytes) {
  if (const int injected = fault::Check("log.write"))
    return ErrnoStatus("write (injected)", injected);
  const std::uint64_t piece_max =
      piece_bytes > 0 ? piece_bytes : std::numeric_limits<std::uint64_t>::max();
  std::size_t next_run = 0;
  std::size_t run_done = 0;                 // bytes of runs[next_run] already written
  std::uint64_t writeback_from = position;  // written, the disk not yet started on it
  std::vector<iovec> vectors;
  vectors.reserve(std::min<std::size_t>(runs.size(), IOV_MAX));
  while (next_run < runs.size()) {
    vectors.clear();
    std::uint64_t call_bytes = 0;
    for (std::size_t i = next_run;
         i < runs.size() && vectors.size() < IOV_MAX && call_bytes < piece_max; ++i) {
      const std::size_t skip = i == next_run ? run_done : 0;
      const std::size_t length = static_cast<std::size_t>(
          std::min<std::uint64_t>(runs[i].iov_len - skip, piece_max - call_bytes));
      vectors.push_back({static_cast<char*>(runs[i].iov_base) + skip, length});
      call_bytes += length;
    }
    const ssize_t written = ::pwritev(fd, vectors.data(), static_cast<int>(vectors.size()),
                                      static_cast<off_t>(position));
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("pwritev", errno);
    }
    position += static_cast<std::uint64_t>(written);
    std::size_t remaining = static_cast<std::size_t>(written);
    while (remaining > 0) {
      const std::size_t left = runs[next_run].iov_len - run_done;
      if (remaining < left) {
        run_done += remaining;
        break;
      }
      remaining -= left;
      ++next_run;
      run_done = 0;
    }
    if (piece_bytes > 0 && next_run < runs.size() && position - writeback_from >= piece_bytes) {
      FH_RETURN_IF_ERROR(StartWriteback(fd, writeback_from, position));
      writeback_from = position;
    }
  }
  return Status::Ok();
}

}  // namespace

// The log's state, shared by the EmbeddedLog facade, its two threads and its consumers.
//
// Locking: mutex_ guards everything marked "guarded"; the writer-owned fields are touched only
// by the writer thread (and by Recover, before it starts). No I/O happens under mutex_ except
// on the rare consumer paths documented at each method.
class EmbeddedLog::Core {
 public:
  Core(std::filesystem::path dir, const Limits& limits, Clock clock)
      : dir_(std::move(dir)), limits_(limits), clock_(std::move(clock)) {
    Metrics().Describe("firehose_queue_appends_total", "Records made durable by the embedded log.");
    Metrics().Describe("firehose_queue_fsyncs_total",
                       "fdatasync calls of the embedded log's writer.");
    Metrics().Describe("firehose_queue_fsync_seconds", "Latency of the writer's fdatasync.");
    Metrics().Describe("firehose_queue_fsync_slow_total",
                       "Writer fdatasyncs over " + std::to_string(kSlowFsync.count()) +
                           " ms: every append of the group waited that long.");
    Metrics().Describe("firehose_queue_bytes", "Bytes stored in the embedded log's segments.");
    Metrics().Describe("firehose_queue_records", "Durable records stored in the embedded log.");
    Metrics().Describe("firehose_queue_durable_offset", "The offset the next durable append gets.");
    Metrics().Describe("firehose_consumer_lag_records", "Durable records not yet committed.");
    Metrics().Describe("firehose_queue_segments", "Segment files of the embedded log.");
    Metrics().Describe("firehose_queue_segments_deleted_total",
                       "Segment files deleted, by reason (retention, size_limit).");
    Metrics().Describe("firehose_queue_recycled_segments",
                       "Retired segments' files kept for later segments (segment_recycle_max).");
    Metrics().Describe("firehose_queue_segments_created_total",
                       "Segments created, by file: new, or recycled (a retired segment's).");
  }

  const Limits& limits() const { return limits_; }
  const std::filesystem::path& dir() const { return dir_; }

  Status Recover();
  void Start();
  void Shutdown();
  void ReleaseDirectory();

  void Append(QueueRecord record, AppendCallback done);
  QueueStats Stats() const;
  bool Full() const;
  std::size_t EnforceRetention();
  std::vector<QueueOffset> SegmentBaseOffsets() const;

  // ---- for consumers ----

  struct SegmentLocation {
    QueueOffset base;
    std::filesystem::path path;
    std::uint64_t durable_bytes = 0;
    QueueOffset hint_offset;  // a frame at or before the wanted offset, and its position
    std::uint64_t hint_position = 0;
  };

  // Waits up to `wait` until a record at `next` is durable (or the log shut down); returns the
  // durable high-watermark.
  QueueOffset WaitForDurable(QueueOffset next, std::chrono::milliseconds wait);
  // The segment holding `offset` (OutOfRange if retention deleted it).
  Result<SegmentLocation> Locate(QueueOffset offset) const;
  // Marks `name` open and returns its durable position, or nullopt for a consumer that has no
  // cursor yet (it is then registered at the oldest stored record, returned in `*start`).
  Result<std::optional<QueueOffset>> AcquireConsumer(const std::string& name, QueueOffset* start);
  void ForgetConsumer(const std::string& name);  // its cursor file could not be created
  void ReleaseConsumer(const std::string& name);
  // Marks `name` open so that nothing acquires it while its cursor file is removed; false if
  // there is no such consumer. EraseConsumer then forgets it (and zeroes its lag gauge).
  Result<bool> ReserveForDrop(const std::string& name);
  void EraseConsumer(const std::string& name);
  // Validates a seek target and lowers the consumer's retention floor to it before the cursor
  // is written, so retention cannot delete what the consumer is about to read again.
  Status PrepareSeek(const std::string& name, QueueOffset next);
  // Publishes a durably written cursor value.
  void CursorWritten(const std::string& name, QueueOffset committed_next);

 private:
  // Recovery.
  Status LockDirectory();
  struct Listing {
    std::vector<QueueOffset> bases;              // segments, sorted
    std::vector<std::filesystem::path> recycled;  // *.log.free files
  };
  Result<Listing> ListSegments();
  // Leftovers of failed rolls (see RemoveTrailingLeftovers): segment files with no frame of
  // their own, named for an offset the segment before them holds.
  Status RemoveTrailingLeftovers(std::vector<QueueOffset>* bases);
  Result<bool> HoldsNoFrames(QueueOffset base);
  Result<QueueOffset> ValidFramesEnd(QueueOffset base);
  Status RemoveLeftoverSegment(QueueOffset base, QueueOffset previous_end);
  Status RecoverSegment(QueueOffset base, bool is_last, QueueOffset expected_base, bool check_base);
  Status CheckTailIsTorn(int fd, const std::filesystem::path& path, std::uint64_t bad_position,
                         std::uint64_t file_bytes, QueueOffset expected, std::string_view what);
  Status LoadCursors();
  // Makes the segment `base`: in a recycled file when one is kept (`*recycled` then says so),
  // else in a new one.
  Result<Segment> CreateSegment(QueueOffset base, bool* recycled = nullptr);
  Result<Segment> ReuseRecycledFile(const RecycledFile& file, QueueOffset base);
  void AdoptRecycledFiles(std::vector<std::filesystem::path> paths);
  // Whether `files` recycled files of `bytes` in all are within segment_recycle_max and, with the
  // log, within three quarters of queue_bytes_max.
  bool RecycledFitLocked(std::size_t files, std::uint64_t bytes) const;
  std::uint64_t RecycledBytesLocked() const;

  // The writer thread.
  void WriterLoop();
  void WaitForGroupLocked(std::unique_lock<std::mutex>& lock);
  Status PrepareActiveSegment(std::uint64_t first_frame_bytes);
  void TakeBatchLocked(bool segment_ready, std::vector<PendingAppend>* batch);
  Status WriteBatch(std::vector<PendingAppend>& batch);
  void DropFromPageCache();
  void FailBatch(std::vector<PendingAppend>& batch, const Status& status);
  Status CutBackFailedBatch(const Status& failure);
  // Acknowledges a written (or failed) group: hands it to the completer thread, which runs the
  // groups' callbacks in order, or runs them itself when they are quick and the completer idle.
  void Complete(std::vector<PendingAppend>& batch, QueueOffset first, Status status);
  void CompleterLoop();
  // Runs a group's callbacks in order (acknowledgements, or the group's failure) and records
  // what one cost.
  void RunCallbacks(std::vector<PendingAppend>& batch, QueueOffset first, const Status& status);
  Status RepairActiveSegment();
  Status Roll();
  Status SealActiveSegment();
  void LogWriterFailure(const Status& status, std::size_t records);
  void CountSlowFsync(SteadyClock::duration took, std::string_view segment_name,
                      std::size_t records);

  // The prefill thread keeps the active segment's file zero-filled a little ahead of the
  // writer, so that the writer's fdatasync overwrites allocated blocks and does not have to
  // commit a file size change to the journal (measured on 25-record groups: fsync p50
  // 0.31-0.42 ms against 0.41-0.59 ms).
  // Zeros after the last frame of the last segment read as its clean end (RecoverSegment); a
  // segment is cut to its frames before the next one is created, so sealed segments never end
  // in zeros.
  void PrefillLoop();
  // Writer: waits until no chunk of zeros being written overlaps bytes before `end`, then
  // claims the file up to `end`, so that no later chunk of zeros overwrites the frames.
  void ClaimForWrite(std::uint64_t end);
  bool PrefillDueLocked() const;  // under prefill_mutex_
  // Writer: stops prefilling the active segment (waiting for a chunk being written), before its
  // file is cut or replaced; AttachPrefill starts again on `path`, whose bytes up to
  // `file_end` exist (frames up to `write_end`, zeros after).
  void DetachPrefill();
  void AttachPrefill(const std::filesystem::path& path, std::uint64_t write_end,
                     std::uint64_t file_end);

  // The maintenance thread.
  void MaintenanceLoop();
  void UpdateGauges();

  PartnerCounters& CountersFor(const PartnerId& partner);
  bool SpaceFullLocked() const;
  Status AdmitLocked(std::uint64_t frame_bytes, std::string_view* reason);
  FrameChunk& SharedChunkWithRoomLocked(std::size_t frame_bytes);
  void RecycleFrontChunkLocked();
  void ReleaseFrames(const std::vector<PendingAppend>& batch);
  std::uint64_t UsedBytesLocked() const { return stored_bytes_ + in_flight_bytes_; }

  const std::filesystem::path dir_;
  const Limits limits_;
  const Clock clock_;

  mutable std::mutex mutex_;
  std::condition_variable writer_cv_;       // pending_ reached writer_wakes_at_, or stop
  std::condition_variable durable_cv_;      // durable_next_ moved, or closed
  std::condition_variable maintenance_cv_;  // retention wanted, or stop
  // guarded: appends not yet taken by the writer, oldest first: pending_[pending_taken_, end),
  // and their bytes. A vector the writer swaps with its emptied batch when it takes them all (the
  // usual case), so that taking a group does not move each append's state under the lock, nor
  // allocate a deque block per few appends (bench/RESULTS.md, "Embedded log", stop 22). When
  // the group cannot take them all (a backlog past group_commit_bytes_max), the writer moves out
  // a prefix and only moves the rest down once it is no longer than what was taken.
  std::vector<PendingAppend> pending_;
  std::size_t pending_taken_ = 0;
  std::uint64_t pending_bytes_ = 0;
  std::size_t PendingCountLocked() const { return pending_.size() - pending_taken_; }
  // guarded: the chunks holding pending frames and those being written, oldest first; appends go
  // to back(). Emptied chunks wait in spare_chunks_ (at most spare_chunks_max_).
  std::deque<std::unique_ptr<FrameChunk>> chunks_;
  std::vector<std::unique_ptr<FrameChunk>> spare_chunks_;  // guarded
  const std::size_t spare_chunks_max_ = std::max<std::size_t>(
      1, static_cast<std::size_t>(limits_.group_commit_bytes_max) / kFrameChunkBytes);
  // guarded: while the writer waits, the pending count that ends its wait (1: any append; the
  // last group's size while a group refills); otherwise none. An append wakes the writer only
  // when it brings pending_ there: one wake-up per wait, not one per append (each a futex call
  // and a thread switch on the appender's io thread while a group refills).
  std::size_t writer_wakes_at_ = std::numeric_limits<std::size_t>::max();
  std::uint64_t in_flight_records_ = 0;         // guarded: pending + being written
  std::uint64_t in_flight_bytes_ = 0;           // guarded
  std::uint64_t stored_bytes_ = 0;              // guarded: sum of durable_bytes
  std::deque<Segment> segments_;                // guarded: oldest first; back() is active
  QueueOffset durable_next_;                    // guarded
  std::map<std::string, CursorState> cursors_;  // guarded
  SteadyClock::time_point disk_full_until_{};   // guarded
  bool accepting_ = true;                       // guarded
  bool writer_stop_ = false;                    // guarded
  bool maintenance_stop_ = false;               // guarded
  bool retention_wanted_ = false;               // guarded
  bool closed_ = false;                         // guarded
  // guarded: retired segments' files kept for the next segments (segment_recycle_max), most
  // recently retired last. Retention adds to it (one pass at a time), rolls take from it.
  std::vector<RecycledFile> recycled_;
  std::mutex retention_mutex_;  // held by a retention pass, before mutex_

  // Writer-owned.
  FileDescriptor active_fd_;
  std::filesystem::path active_path_;
  std::uint64_t active_bytes_ = 0;  // durable bytes of the active segment
  // The active segment's file was a retired segment's: past active_bytes_ it holds that
  // segment's old bytes, which Shutdown cuts away (so that the next Open has nothing to cut).
  bool active_recycled_ = false;
  QueueOffset next_offset_;         // equals durable_next_ between batches
  std::uint64_t last_index_position_ = 0;
  bool needs_repair_ = false;              // a failed batch may have left bytes past active_bytes_
  // A roll failed (Roll): the next segment's file may exist, named for next_offset_, so nothing
  // more may be written to the active segment; the next group rolls first.
  bool roll_pending_ = false;
  std::uint64_t cache_dropped_until_ = 0;  // bytes of the active segment dropped from the cache
  // The last group's size and fsync time: the writer waits briefly for a group to refill (see
  // WriterLoop).
  std::size_t last_group_records_ = 0;
  SteadyClock::duration last_fsync_{};
  LogThrottle failure_log_{kFailureLogInterval};
  LogThrottle slow_fsync_log_{kSlowFsyncLogInterval};

  // Guarded by prefill_mutex_ (never held with mutex_).
  std::mutex prefill_mutex_;
  std::condition_variable prefill_cv_;                // claims, attach/detach, chunks, stop
  std::shared_ptr<FileDescriptor> prefill_file_;      // the active segment, or null: detached
  std::uint64_t prefill_write_end_ = 0;               // what the writer has claimed
  std::uint64_t prefill_last_group_bytes_ = 0;        // the writer's last claim
  std::uint64_t prefill_file_end_ = 0;                // bytes that exist: frames, then zeros
  std::optional<std::uint64_t> prefill_chunk_start_;  // a chunk of zeros is being written there
  SteadyClock::time_point prefill_retry_at_{};        // after a failed chunk
  bool prefill_stop_ = false;
  std::thread prefill_thread_;

  FileDescriptor lock_fd_;
  std::mutex shutdown_mutex_;
  std::thread writer_thread_;
  std::thread maintenance_thread_;

  // Groups made durable (or failed) whose callbacks have not run: the completer thread runs them
  // in order, so that the writer's next group does not wait for thousands of callbacks.
  struct Completion {
    std::vector<PendingAppend> batch;
    QueueOffset first;  // the offset of batch[0] when `status` is ok
    Status status;
  };
  std::mutex completion_mutex_;
  std::condition_variable completion_cv_;  // a completion queued or done, or stop
  std::deque<Completion> completions_;     // guarded by completion_mutex_
  bool completer_busy_ = false;            // running a completion's callbacks; completion_mutex_
  SteadyClock::duration callback_cost_{};  // the last group's, per callback; completion_mutex_
  bool completer_stop_ = false;            // guarded by completion_mutex_
  std::thread completer_thread_;

  std::mutex partner_mutex_;
  std::map<std::string, PartnerCounters, std::less<>>
      partner_counters_;  // guarded by partner_mutex_

  Counter& appends_ = Metrics().CounterFor("firehose_queue_appends_total");
  Counter& fsyncs_ = Metrics().CounterFor("firehose_queue_fsyncs_total");
  Counter& fsync_slow_ = Metrics().CounterFor("firehose_queue_fsync_slow_total");
  Histogram& fsync_seconds_ = Metrics().HistogramFor("firehose_queue_fsync_seconds");
  Counter& written_events_ =
      Metrics().CounterFor("firehose_written_events_total", {{"stage", "queue"}});
  Counter& written_bytes_ =
      Metrics().CounterFor("firehose_written_bytes_total", {{"stage", "queue"}});
  Gauge& bytes_gauge_ = Metrics().GaugeFor("firehose_queue_bytes");
  Gauge& records_gauge_ = Metrics().GaugeFor("firehose_queue_records");
  Gauge& durable_offset_gauge_ = Metrics().GaugeFor("firehose_queue_durable_offset");
  Gauge& segments_gauge_ = Metrics().GaugeFor("firehose_queue_segments");
  Gauge& recycled_gauge_ = Metrics().GaugeFor("firehose_queue_recycled_segments");
  Counter& rolls_new_ =
      Metrics().CounterFor("firehose_queue_segments_created_total", {{"file", "new"}});
  Counter& rolls_recycled_ =
      Metrics().CounterFor("firehose_queue_segments_created_total", {{"file", "recycled"}});
};

// ---------------------------------------------------------------------------------------------
// Recovery

Status EmbeddedLog::Core::Recover() {
  FH_RETURN_IF_ERROR(CheckLimits(limits_));
  FH_RETURN_IF_ERROR(EnsureDirectory(dir_));
  FH_RETURN_IF_ERROR(EnsureDirectory(dir_ / kCursorDirectory));
  FH_RETURN_IF_ERROR(LockDirectory());
  FH_ASSIGN_OR_RETURN(Listing listing, ListSegments());
  std::vector<QueueOffset>& bases = listing.bases;
  FH_RETURN_IF_ERROR(RemoveTrailingLeftovers(&bases));
  if (bases.empty()) {
    FH_ASSIGN_OR_RETURN(Segment first, CreateSegment(QueueOffset(0)));
    segments_.push_back(std::move(first));
  }
  for (std::size_t i = 0; i < bases.size(); ++i) {
    if (i > 0 && bases[i] < next_offset_) {
      // Named for an offset the segment before holds: a leftover if it has no frames (a later
      // roll succeeded), else the log is not contiguous (RecoverSegment says so).
      FH_ASSIGN_OR_RETURN(const bool leftover, HoldsNoFrames(bases[i]));
      if (leftover) {
        FH_RETURN_IF_ERROR(RemoveLeftoverSegment(bases[i], next_offset_));
        continue;
      }
    }
    FH_RETURN_IF_ERROR(RecoverSegment(bases[i], i + 1 == bases.size(), next_offset_, i > 0));
  }
  const Segment& active = segments_.back();
  FH_ASSIGN_OR_RETURN(active_fd_, OpenFile(active.path, O_WRONLY));
  active_path_ = active.path;
  active_bytes_ = active.durable_bytes;
  // Zeros recovery kept after the last frame are already prefilled.
  FH_ASSIGN_OR_RETURN(const struct stat active_info, StatFd(active_fd_.get(), active.path));
  AttachPrefill(active.path, active_bytes_,
                std::max(static_cast<std::uint64_t>(active_info.st_size), active_bytes_));
  last_index_position_ = active.index.empty() ? kSegmentHeaderBytes : active.index.back().position;
  durable_next_ = next_offset_;
  stored_bytes_ = 0;
  for (const Segment& segment : segments_) stored_bytes_ += segment.durable_bytes;
  AdoptRecycledFiles(std::move(listing.recycled));
  FH_RETURN_IF_ERROR(LoadCursors());
  spdlog::info(
      "queue: opened {} with {} segment(s), records [{}, {}), {} bytes, {} recycled file(s)",
      dir_.string(), segments_.size(), segments_.front().base.value(), durable_next_.value(),
      stored_bytes_, recycled_.size());
  UpdateGauges();
  return Status::Ok();
}

Status EmbeddedLog::Core::LockDirectory() {
  FH_ASSIGN_OR_RETURN(lock_fd_, OpenFile(dir_ / kLockFileName, O_RDWR | O_CREAT, 0644));
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return FailedPrecondition("queue directory " + dir_.string() +
                                " is in use by another process");
    }
    return ErrnoStatus("flock " + (dir_ / kLockFileName).string(), errno);
  }
  return Status::Ok();
}

Result<EmbeddedLog::Core::Listing> EmbeddedLog::Core::ListSegments() {
  Listing listing;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    const std::string name = entry.path().filename().string();
    if (EndsWith(name, std::string(log_format::kSegmentSuffix) + std::string(kTempSuffix))) {
      // A roll that crashed before its rename: the segment never existed.
      std::filesystem::remove(entry.path(), error);
      continue;
    }
    if (EndsWith(name, std::string(log_format::kSegmentSuffix) + std::string(kRecycledSuffix))) {
      listing.recycled.push_back(entry.path());
      continue;
    }
    if (const auto base = log_format::ParseSegmentFileName(name)) listing.bases.push_back(*base);
  }
  if (error) return Internal("listing " + dir_.string() + ": " + error.message());
  std::sort(listing.bases.begin(), listing.bases.end());
  return listing;
}

// Before Roll retried a failed roll, the writer went on appending to the old segment after one,
// when the next group fit there; if the new segment's file had been created (the directory
// fsync after its rename failed, or opening it did), it stayed, holding no frames, named for an
// offset that the old segment then went on to hold. Such a file is removed here, before
// recovery, so that the segment before it is recovered as the last one (whose tail may be
// torn); one between segments is removed by Recover. It is provably a leftover, and removing it
// loses nothing: it holds no frame of its own (HoldsNoFrames), and the segment before it holds a
// valid frame of the offset it is named for, which the writer can only have written after the
// file was created (a roll seals the old segment at the new one's base first). A legitimate
// empty last segment (a roll, then a crash or shutdown) starts where the one before it ends, and
// is kept.
Status EmbeddedLog::Core::RemoveTrailingLeftovers(std::vector<QueueOffset>* bases) {
  std::size_t with_frames = bases->size();  // files [with_frames, size) hold no frames
  while (with_frames > 1) {
    FH_ASSIGN_OR_RETURN(const bool frameless, HoldsNoFrames((*bases)[with_frames - 1]));
    if (!frameless) break;
    --with_frames;
  }
  if (with_frames == bases->size()) return Status::Ok();
  FH_ASSIGN_OR_RETURN(const QueueOffset previous_end, ValidFramesEnd((*bases)[with_frames - 1]));
  std::vector<QueueOffset> kept(bases->begin(),
                                bases->begin() + static_cast<std::ptrdiff_t>(with_frames));
  for (std::size_t i = with_frames; i < bases->size(); ++i) {
    if ((*bases)[i] < previous_end) {
      FH_RETURN_IF_ERROR(RemoveLeftoverSegment((*bases)[i], previous_end));
    } else {
      kept.push_back((*bases)[i]);
    }
  }
  *bases = std::move(kept);
  return Status::Ok();
}

// Whether segment `base` holds no frame of its own: a valid header naming `base`, then nothing,
// zeros to the end, or a valid frame of an older offset where its first frame belongs (a
// recycled file's old bytes: the writer's first group never reached the disk, and no later
// group is written before it is durable).
Result<bool> EmbeddedLog::Core::HoldsNoFrames(QueueOffset base) {
  const std::filesystem::path path = dir_ / log_format::SegmentFileName(base);
  FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(path, O_RDONLY));
  FH_ASSIGN_OR_RETURN(const struct stat info, StatFd(fd.get(), path));
  const auto file_bytes = static_cast<std::uint64_t>(info.st_size);
  FH_ASSIGN_OR_RETURN(const Result<log_format::SegmentHeader> header, ReadSegmentHeader(fd.get()));
  if (!header.ok() || header->base_offset != base) return false;
  if (file_bytes == kSegmentHeaderBytes) return true;
  FrameReader reader(fd.get(), kSegmentHeaderBytes, file_bytes);
  Frame frame;
  FH_ASSIGN_OR_RETURN(const FrameCheck check, reader.Peek(&frame));
  if (check == FrameCheck::kOk) return frame.offset < base;
  if (check == FrameCheck::kBadMagic) {
    return IsZeroFilled(fd.get(), kSegmentHeaderBytes, file_bytes);
  }
  return false;
}

// One past the last of segment `base`'s frames that are valid and in sequence from its start;
// reads only.
Result<QueueOffset> EmbeddedLog::Core::ValidFramesEnd(QueueOffset base) {
  const std::filesystem::path path = dir_ / log_format::SegmentFileName(base);
  FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(path, O_RDONLY));
  FH_ASSIGN_OR_RETURN(const struct stat info, StatFd(fd.get(), path));
  FrameReader reader(fd.get(), kSegmentHeaderBytes, static_cast<std::uint64_t>(info.st_size));
  QueueOffset next = base;
  while (!reader.AtEnd()) {
    Frame frame;
    FH_ASSIGN_OR_RETURN(const FrameCheck check, reader.Peek(&frame));
    if (check != FrameCheck::kOk || frame.offset != next) break;
    reader.Consume(frame);
    next = QueueOffset(next.value() + 1);
  }
  return next;
}

Status EmbeddedLog::Core::RemoveLeftoverSegment(QueueOffset base, QueueOffset previous_end) {
  const std::filesystem::path path = dir_ / log_format::SegmentFileName(base);
  spdlog::warn(
      "queue: removing {}: it holds no frames, and the segment before it holds the records "
      "below offset {}: the leftover of a segment roll that failed",
      path.string(), previous_end.value());
  if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink " + path.string(), errno);
  return SyncDirectory(dir_).WithContext("removing " + path.string());
}

// Verifies one segment and appends it to segments_. `expected_base` is where the previous
// segment ended (checked when `check_base`). In the last segment the first bad frame is a torn
// tail and is truncated, unless valid frames of a later group commit follow it.
Status EmbeddedLog::Core::RecoverSegment(QueueOffset base, bool is_last, QueueOffset expected_base,
                                         bool check_base) {
  const std::filesystem::path path = dir_ / log_format::SegmentFileName(base);
  const std::string where = "segment " + path.string();
  if (check_base && base != expected_base) {
    return DataLoss(where + " starts at offset " + std::to_string(base.value()) +
                    " but the previous segment ends at offset " +
                    std::to_string(expected_base.value()) + ": the log is not contiguous");
  }
  FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(path, is_last ? O_RDWR : O_RDONLY));
  FH_ASSIGN_OR_RETURN(const struct stat info, StatFd(fd.get(), path));
  const auto file_bytes = static_cast<std::uint64_t>(info.st_size);
  FH_ASSIGN_OR_RETURN(const Result<log_format::SegmentHeader> header, ReadSegmentHeader(fd.get()));
  if (!header.ok()) return DataLoss(where + ": " + header.status().message() + " at byte 0");
  if (header->base_offset != base) {
    return DataLoss(where + ": header says base offset " +
                    std::to_string(header->base_offset.value()));
  }

  Segment segment{base, path, kSegmentHeaderBytes, ModificationTime(info), {}};
  FrameReader reader(fd.get(), kSegmentHeaderBytes, file_bytes);
  QueueOffset next = base;
  std::uint64_t last_indexed = kSegmentHeaderBytes;
  while (!reader.AtEnd()) {
    Frame frame;
    FH_ASSIGN_OR_RETURN(const FrameCheck check, reader.Peek(&frame));
    const std::uint64_t position = reader.position();
    // A valid frame of an offset older than the segment: the file was a retired segment's
    // (segment_recycle_max) and the writer had not reached these bytes. The segment ends here,
    // and what follows is cut like a torn tail (a torn write may have left frames of its group
    // further on, which must not outlive it).
    const bool older_frame = is_last && check == FrameCheck::kOk && frame.offset < base;
    if (check != FrameCheck::kOk || older_frame) {
      const std::string what = older_frame
                                   ? "a frame of offset " + std::to_string(frame.offset.value()) +
                                         " from a recycled file's older segment"
                                   : std::string(log_format::FrameCheckName(check));
      if (!is_last) {
        return DataLoss(where + " (sealed): " + what + " at byte " + std::to_string(position));
      }
      if (check == FrameCheck::kBadMagic) {
        // Zeros to the end: the prefilled part the writer had not reached. Kept for it.
        FH_ASSIGN_OR_RETURN(const bool zeros, IsZeroFilled(fd.get(), position, file_bytes));
        if (zeros) break;
      }
      FH_RETURN_IF_ERROR(CheckTailIsTorn(fd.get(), path, position, file_bytes, next, what));
      FH_RETURN_IF_ERROR(TruncateDurably(fd.get(), position)
                             .WithContext("truncating the torn tail of " + path.string()));
      if (older_frame) {
        spdlog::info("queue: {}: cut {} bytes of a recycled file's older segment at byte {}",
                     where, file_bytes - position, position);
        break;
      }
      ErrorCounter("torn_tail").Add();
      spdlog::warn(
          "queue: {}: truncated a torn tail of {} bytes at byte {} ({}); records below "
          "offset {} are intact",
          where, file_bytes - position, position, what, next.value());
      break;
    }
    if (frame.offset != next) {
      return DataLoss(where + ": frame at byte " + std::to_string(position) + " has offset " +
                      std::to_string(frame.offset.value()) + ", expected " +
                      std::to_string(next.value()));
    }
    if (position - last_indexed >= kIndexIntervalBytes) {
      segment.index.push_back({next.value(), position});
      last_indexed = position;
    }
    reader.Consume(frame);
    next = QueueOffset(next.value() + 1);
    segment.durable_bytes = reader.position();
  }
  next_offset_ = next;
  segments_.push_back(std::move(segment));
  return Status::Ok();
}

// A bad frame at `bad_position` of the last segment is a torn tail unless a valid frame of a
// later group commit follows it. The writer starts a group only after the previous one is
// durable, so such a frame proves that the bad frame was acknowledged: refusing to open is then
// the only way not to drop acknowledged records. Frames of the bad frame's own group may follow
// it after a power loss (a group's pages can reach the disk out of order), and none of that
// group was acknowledged.
Status EmbeddedLog::Core::CheckTailIsTorn(int fd, const std::filesystem::path& path,
                                          std::uint64_t bad_position, std::uint64_t file_bytes,
                                          QueueOffset expected, std::string_view what) {
  char magic_bytes[kFrameHeaderBytes];
  log_format::EncodeFrameHeader(0, QueueOffset(0), 0, 0, magic_bytes);
  const std::string_view magic(magic_bytes, 4);
  std::string chunk;
  std::string candidate;
  std::uint64_t chunk_start = bad_position + 1;
  while (chunk_start + kFrameHeaderBytes <= file_bytes) {
    chunk.resize(std::min(kReadChunkBytes, file_bytes - chunk_start));
    FH_ASSIGN_OR_RETURN(const std::size_t got,
                        PreadFull(fd, chunk.data(), chunk.size(), chunk_start));
    chunk.resize(got);
    for (std::size_t found = chunk.find(magic); found != std::string::npos;
         found = chunk.find(magic, found + 1)) {
      const std::uint64_t position = chunk_start + found;
      candidate.resize(kFrameHeaderBytes);
      FH_ASSIGN_OR_RETURN(const std::size_t header_got,
                          PreadFull(fd, candidate.data(), kFrameHeaderBytes, position));
      if (header_got < kFrameHeaderBytes) continue;
      Frame frame;
      std::uint64_t frame_bytes = 0;
      // The header's length is within the format's maximum, and the frame within the file.
      if (log_format::ParseFrame(candidate, &frame, &frame_bytes) != FrameCheck::kTruncated ||
          frame_bytes > file_bytes - position) {
        continue;
      }
      candidate.resize(frame_bytes);
      FH_ASSIGN_OR_RETURN(const std::size_t frame_got,
                          PreadFull(fd, candidate.data(), frame_bytes, position));
      if (frame_got < frame_bytes || log_format::ParseFrame(candidate, &frame) != FrameCheck::kOk) {
        continue;
      }
      if (frame.group_first_offset() > expected.value()) {
        return DataLoss(
            "segment " + path.string() + ": " + std::string(what) +
            " at byte " + std::to_string(bad_position) + " (where offset " +
            std::to_string(expected.value()) + " belongs), followed by the valid frame of offset " +
            std::to_string(frame.offset.value()) + " at byte " + std::to_string(position) +
            " from a later group commit: acknowledged records are damaged; refusing to "
            "drop them");
      }
    }
    if (chunk.size() < kFrameHeaderBytes) break;
    chunk_start += chunk.size() - (magic.size() - 1);
  }
  return Status::Ok();
}

Status EmbeddedLog::Core::LoadCursors() {
  const std::filesystem::path directory = dir_ / kCursorDirectory;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    if (EndsWith(name, kTempSuffix)) {
      std::filesystem::remove(entry.path(), error);  // a cursor creation that never completed
      continue;
    }
    if (!IsValidConsumerName(name)) {
      spdlog::warn("queue: ignoring {}: not a consumer name", entry.path().string());
      continue;
    }
    CursorState state;
    auto bytes = ReadFile(entry.path(), kCursorFileBytesMax);
    auto slot = bytes.ok() ? log_format::DecodeCursorFile(*bytes)
                           : Result<log_format::CursorSlot>(bytes.status());
    if (!slot.ok()) {
      // Not fatal for the log: the edge keeps ingesting, retention keeps everything for this
      // consumer, and OpenConsumer reports the problem.
      state.broken = DataLoss("cursor " + entry.path().string() + ": " + slot.status().message());
      spdlog::error("queue: {}", state.broken->message());
    } else {
      state.committed_next = slot->committed_next;
      state.retention_floor = slot->committed_next;
    }
    cursors_.emplace(name, std::move(state));
  }
  if (error) return Internal("listing " + directory.string() + ": " + error.message());
  return Status::Ok();
}

// Creates a segment file whole: header into a temporary file, fdatasync, rename, directory
// fsync. A crash leaves either no segment or a complete header.
Result<Segment> EmbeddedLog::Core::CreateSegment(QueueOffset base, bool* recycled) {
  if (recycled != nullptr) *recycled = false;
  std::optional<RecycledFile> kept;
  {
    std::lock_guard lock(mutex_);
    if (!recycled_.empty()) {
      kept = std::move(recycled_.back());
      recycled_.pop_back();
      recycled_gauge_.Set(static_cast<double>(recycled_.size()));
    }
  }
  if (kept) {
    auto reused = ReuseRecycledFile(*kept, base);
    if (reused.ok()) {
      rolls_recycled_.Add();
      if (recycled != nullptr) *recycled = true;
      return reused;
    }
    ErrorCounter("recycle").Add();
    spdlog::warn("queue: not reusing {} (deleting it): {}", kept->path.string(),
                 reused.status().ToString());
    ::unlink(kept->path.c_str());
  }
  rolls_new_.Add();
  const std::filesystem::path path = dir_ / log_format::SegmentFileName(base);
  const std::filesystem::path temp = path.string() + std::string(kTempSuffix);
  const TimestampUs now = clock_();
  const std::string header = log_format::EncodeSegmentHeader({base, now});
  Status status = [&]() -> Status {
    FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    FH_RETURN_IF_ERROR(WriteAll(fd.get(), header));
    FH_RETURN_IF_ERROR(SyncData(fd.get()));
    FH_RETURN_IF_ERROR(fd.Close());
    return RenameDurably(temp, path);
  }();
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status.WithContext("creating " + path.string());
  }
  return Segment{base, path, kSegmentHeaderBytes, now, {}};
}

// The header is written over the old one in place and fdatasync'd before the rename: a crash
// leaves the file recycled (its name unchanged) or the segment with a complete header, followed
// by the old segment's frames, whose lower offsets recovery reads as the segment's end.
Result<Segment> EmbeddedLog::Core::ReuseRecycledFile(const RecycledFile& file, QueueOffset base) {
  const std::filesystem::path path = dir_ / log_format::SegmentFileName(base);
  const TimestampUs now = clock_();
  const std::string header = log_format::EncodeSegmentHeader({base, now});
  FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(file.path, O_WRONLY));
  FH_RETURN_IF_ERROR(PwriteAll(fd.get(), header, 0));
  FH_RETURN_IF_ERROR(SyncData(fd.get()));
  FH_RETURN_IF_ERROR(fd.Close());
  if (const int injected = fault::Check("log.reuse")) {
    return ErrnoStatus("renaming " + file.path.string() + " (injected)", injected);
  }
  FH_RETURN_IF_ERROR(RenameDurably(file.path, path));
  spdlog::debug("queue: segment {} reuses {} ({} bytes)", path.string(), file.path.string(),
                file.bytes);
  return Segment{base, path, kSegmentHeaderBytes, now, {}};
}

bool EmbeddedLog::Core::RecycledFitLocked(std::size_t files, std::uint64_t bytes) const {
  const auto queue_max = static_cast<std::uint64_t>(limits_.queue_bytes_max);
  return files <= static_cast<std::size_t>(limits_.segment_recycle_max) &&
         stored_bytes_ + bytes <= queue_max - queue_max / kPressureFreeDivisor;
}

std::uint64_t EmbeddedLog::Core::RecycledBytesLocked() const {
  std::uint64_t bytes = 0;
  for (const RecycledFile& file : recycled_) bytes += file.bytes;
  return bytes;
}

// Recovery: keeps the *.log.free files found, as retention would have (most recent names
// last); deletes what it would not have kept.
void EmbeddedLog::Core::AdoptRecycledFiles(std::vector<std::filesystem::path> paths) {
  std::sort(paths.begin(), paths.end());
  bool deleted = false;
  std::lock_guard lock(mutex_);
  for (const std::filesystem::path& path : paths) {
    std::error_code error;
    const std::uint64_t bytes = std::filesystem::file_size(path, error);
    if (!error && RecycledFitLocked(recycled_.size() + 1, RecycledBytesLocked() + bytes)) {
      recycled_.push_back({path, bytes});
      continue;
    }
    std::filesystem::remove(path, error);
    deleted = true;
  }
  recycled_gauge_.Set(static_cast<double>(recycled_.size()));
  if (deleted) {
    if (const Status synced = SyncDirectory(dir_); !synced.ok()) {
      spdlog::error("queue: syncing {}: {}", dir_.string(), synced.ToString());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

void EmbeddedLog::Core::Start() {
  // Named for top -H, perf and gdb (at most 15 characters), before Open returns.
  writer_thread_ = std::thread([this] { WriterLoop(); });
  pthread_setname_np(writer_thread_.native_handle(), "log-writer");
  completer_thread_ = std::thread([this] { CompleterLoop(); });
  pthread_setname_np(completer_thread_.native_handle(), "log-completer");
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
  pthread_setname_np(maintenance_thread_.native_handle(), "log-maintain");
  if (limits_.segment_prefill_bytes > 0) {
    prefill_thread_ = std::thread([this] { PrefillLoop(); });
    pthread_setname_np(prefill_thread_.native_handle(), "log-prefill");
  }
}

void EmbeddedLog::Core::Shutdown() {
  std::lock_guard shutdown_lock(shutdown_mutex_);
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    writer_stop_ = true;
    maintenance_stop_ = true;
  }
  writer_cv_.notify_all();
  maintenance_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard lock(completion_mutex_);
    completer_stop_ = true;  // after the writer: its last groups are queued by now
  }
  completion_cv_.notify_all();
  if (completer_thread_.joinable()) completer_thread_.join();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  {
    std::lock_guard lock(prefill_mutex_);
    prefill_stop_ = true;
  }
  prefill_cv_.notify_all();
  if (prefill_thread_.joinable()) prefill_thread_.join();
  if (active_recycled_ && active_fd_.get() >= 0) {
    // Else the next Open would cut the old bytes after the last frame (and count a torn tail
    // if they are not a whole frame).
    if (Status sealed = SealActiveSegment(); !sealed.ok()) {
      spdlog::warn("queue: at shutdown: {}", sealed.ToString());
    }
  }
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  durable_cv_.notify_all();
}

void EmbeddedLog::Core::ReleaseDirectory() {
  std::lock_guard shutdown_lock(shutdown_mutex_);
  FH_CHECK(!writer_thread_.joinable(), "releasing the queue directory while the writer runs");
  active_fd_ = FileDescriptor();
  DetachPrefill();
  lock_fd_ = FileDescriptor();
}

// ---------------------------------------------------------------------------------------------
// Appending

PartnerCounters& EmbeddedLog::Core::CountersFor(const PartnerId& partner) {
  std::lock_guard lock(partner_mutex_);
  auto found = partner_counters_.find(partner.view());
  if (found != partner_counters_.end()) return found->second;
  const Labels labels = {{"stage", "queue"}, {"partner", PartnerLabel(partner)}};
  PartnerCounters counters{partner, &Metrics().CounterFor("firehose_received_total", labels),
                           &Metrics().CounterFor("firehose_accepted_total", labels)};
  return partner_counters_.emplace(partner.str(), counters).first->second;
}

bool EmbeddedLog::Core::SpaceFullLocked() const {
  const auto largest_frame =
      log_format::FrameBytes(static_cast<std::uint64_t>(limits_.record_bytes_max));
  return UsedBytesLocked() + largest_frame > static_cast<std::uint64_t>(limits_.queue_bytes_max);
}

// Whether an append of `frame_bytes` may be queued now; if not, a refusal and its reason code.
Status EmbeddedLog::Core::AdmitLocked(std::uint64_t frame_bytes, std::string_view* reason) {
  if (!accepting_) {
    *reason = "shutting_down";
    return Unavailable("queue is shutting down");
  }
  if (in_flight_records_ >= static_cast<std::uint64_t>(limits_.in_flight_appends_max)) {
    *reason = "in_flight_full";
    return ResourceExhausted("too many appends in flight (in_flight_appends_max = " +
                             std::to_string(limits_.in_flight_appends_max) + ")");
  }
  const auto pending_max = static_cast<std::uint64_t>(limits_.queue_pending_bytes_max);
  if (in_flight_bytes_ > 0 && in_flight_bytes_ + frame_bytes > pending_max) {
    *reason = "pending_bytes_full";
    return ResourceExhausted(
        "appends waiting for the disk hold " + std::to_string(in_flight_bytes_) +
        " bytes (queue_pending_bytes_max = " + std::to_string(pending_max) + ")");
  }
  const auto queue_max = static_cast<std::uint64_t>(limits_.queue_bytes_max);
  if (UsedBytesLocked() + frame_bytes > queue_max) {
    *reason = "queue_full";
    // Consumed segments may be deletable before their age: let the maintenance thread look.
    retention_wanted_ = true;
    maintenance_cv_.notify_one();
    return ResourceExhausted("queue full: " + std::to_string(UsedBytesLocked()) + " of " +
                             std::to_string(queue_max) + " bytes used (queue_bytes_max)");
  }
  return Status::Ok();
}

void EmbeddedLog::Core::Append(QueueRecord record, AppendCallback done) {
  const PartnerCounters& partner = CountersFor(record.partner_id);
  partner.received->Add();
  auto refuse = [&](std::string_view reason, const Status& status) {
    RejectedCounter(record.partner_id, reason).Add();
    done(status);
  };
  if (record.arrival_id.str().size() != ArrivalId::kChars || record.partner_id.empty()) {
    return refuse("invalid_record",
                  InvalidArgument("queue record without an arrival id or partner id"));
  }
  const std::size_t payload_bytes = EncodedRecordSize(record);
  if (payload_bytes > static_cast<std::uint64_t>(limits_.record_bytes_max)) {
    return refuse("record_too_large",
                  InvalidArgument("queue record of " + std::to_string(payload_bytes) +
                                  " bytes is over record_bytes_max (" +
                                  std::to_string(limits_.record_bytes_max) + ")"));
  }
  // Encoding and checksumming happen here, on the producer's thread and outside the lock, so
  // that the writer thread only fills in headers and does I/O. A large frame is encoded into its
  // own chunk, which the lock only queues; a small one into this thread's buffer, which the lock
  // copies into the shared back chunk.
  PendingAppend item;
  item.bytes = log_format::FrameBytes(payload_bytes);
  item.partner = &partner;
  const std::uint64_t frame_bytes = item.bytes;
  thread_local std::string small_frame;
  std::unique_ptr<FrameChunk> own;
  char* frame = nullptr;
  if (item.bytes > kSharedChunkFrameBytesMax) {
    own = std::make_unique<FrameChunk>(item.bytes, /*shared=*/false);
    own->used = item.bytes;
    frame = own->bytes.get();
  } else {
    small_frame.resize(item.bytes);
    frame = small_frame.data();
  }
  EncodeRecordInto(record, frame + kFrameHeaderBytes);
  item.payload_crc = crc32c::Value(frame + kFrameHeaderBytes, payload_bytes);

  std::string_view reason;
  Status refusal;
  bool wake_writer = false;
  {
    std::lock_guard lock(mutex_);
    refusal = AdmitLocked(frame_bytes, &reason);
    if (refusal.ok()) {
      if (own != nullptr) {
        item.chunk = own.get();
        chunks_.push_back(std::move(own));
      } else {
        FrameChunk& chunk = SharedChunkWithRoomLocked(item.bytes);
        item.chunk = &chunk;
        item.position = chunk.used;
        std::memcpy(chunk.bytes.get() + chunk.used, frame, item.bytes);
        chunk.used += item.bytes;
      }
      item.done = std::move(done);
      pending_.push_back(std::move(item));
      pending_bytes_ += frame_bytes;
      ++in_flight_records_;
      in_flight_bytes_ += frame_bytes;
      wake_writer = PendingCountLocked() >= writer_wakes_at_;
    }
  }
  if (!refusal.ok()) return refuse(reason, refusal);
  if (wake_writer) writer_cv_.notify_one();
}

// The back chunk when it is shared and the frame fits in what is left of it, otherwise a spare
// or new shared chunk, now the back one.
FrameChunk& EmbeddedLog::Core::SharedChunkWithRoomLocked(std::size_t frame_bytes) {
  FrameChunk* back = chunks_.empty() ? nullptr : chunks_.back().get();
  if (back != nullptr && back->shared && back->capacity - back->used >= frame_bytes) {
    return *back;
  }
  if (!spare_chunks_.empty()) {
    chunks_.push_back(std::move(spare_chunks_.back()));
    spare_chunks_.pop_back();
  } else {
    chunks_.push_back(std::make_unique<FrameChunk>(kFrameChunkBytes, /*shared=*/true));
  }
  return *chunks_.back();
}

void EmbeddedLog::Core::RecycleFrontChunkLocked() {
  std::unique_ptr<FrameChunk> chunk = std::move(chunks_.front());
  chunks_.pop_front();
  if (chunk->shared && spare_chunks_.size() < spare_chunks_max_) {
    chunk->used = 0;
    spare_chunks_.push_back(std::move(chunk));
  }
}

// The writer is done with the batch's frames (written, or failed): the chunks it is past go back
// to the spares. Batches are taken in append order, so every chunk before the last frame's is
// done with; the last frame's chunk is when no frame was appended to it since the batch was
// taken (the back chunk then starts again from its beginning).
void EmbeddedLog::Core::ReleaseFrames(const std::vector<PendingAppend>& batch) {
  if (batch.empty()) return;
  const PendingAppend& last = batch.back();
  std::lock_guard lock(mutex_);
  while (chunks_.front().get() != last.chunk) {
    RecycleFrontChunkLocked();
    FH_CHECK(!chunks_.empty(), "a written frame's chunk is not among the log's chunks");
  }
  FrameChunk& chunk = *last.chunk;
  if (last.position + last.bytes != chunk.used) return;  // frames appended since: not yet
  if (chunks_.size() == 1 && chunk.shared) {
    chunk.used = 0;  // the shared back chunk: appends start again at its beginning
  } else {
    RecycleFrontChunkLocked();
  }
}

// ---------------------------------------------------------------------------------------------
// The writer thread

void EmbeddedLog::Core::WriterLoop() {
  std::vector<PendingAppend> batch;
  while (true) {
    // Room for a group like the last, allocated here rather than by an appender under the lock:
    // the batch's vector becomes pending_ when the writer takes the next group.
    const std::size_t expected = last_group_records_ + last_group_records_ / 2;
    if (batch.capacity() < expected) batch.reserve(expected);
    std::uint64_t first_frame_bytes = 0;
    {
      std::unique_lock lock(mutex_);
      writer_wakes_at_ = 1;
      writer_cv_.wait(lock, [this] { return PendingCountLocked() > 0 || writer_stop_; });
      writer_wakes_at_ = std::numeric_limits<std::size_t>::max();
      if (PendingCountLocked() == 0) return;  // stopping, and everything accepted is done
      WaitForGroupLocked(lock);
      first_frame_bytes = pending_[pending_taken_].bytes;
    }
    Status status = PrepareActiveSegment(first_frame_bytes);
    {
      std::lock_guard lock(mutex_);
      TakeBatchLocked(status.ok(), &batch);
    }
    if (status.ok()) {
      status = WriteBatch(batch);  // releases the frames once written
    } else {
      ReleaseFrames(batch);
    }
    if (!status.ok()) FailBatch(batch, status);
    batch.clear();
  }
}

// Clients that wait for their answer before sending again come back in a wave right after a
// group is acknowledged; taking the first few arrivals of that wave alone would split the
// clients into two groups that alternate, each paying a whole fsync. So when fewer appends are
// pending than the last group held, wait briefly for the rest — at most group_commit_wait_us
// and at most half the last fsync, so the wait never costs more than the fsync it saves.
// Off by default since the prefill brought fdatasync down to ~0.4 ms here: two groups in turn
// then keep the edge busy during each other's fsync, and not waiting measured faster (ingest at
// 64 connections 33.9-39.7 k req/s against 28.8-34.7 k; log bench 64 x 1 +11%, 64 x 64 +10-20%;
// bench/RESULTS.md, "Embedded log", stop 15). It pays where fsync is slow.
void EmbeddedLog::Core::WaitForGroupLocked(std::unique_lock<std::mutex>& lock) {
  const std::size_t target = last_group_records_;
  if (PendingCountLocked() >= target || writer_stop_) return;
  const auto wait = std::min<SteadyClock::duration>(
      std::chrono::microseconds(limits_.group_commit_wait_us), last_fsync_ / 2);
  if (wait <= SteadyClock::duration::zero()) return;
  writer_wakes_at_ = target;
  writer_cv_.wait_for(lock, wait,
                      [&] { return PendingCountLocked() >= target || writer_stop_; });
  writer_wakes_at_ = std::numeric_limits<std::size_t>::max();
}

Status EmbeddedLog::Core::PrepareActiveSegment(std::uint64_t first_frame_bytes) {
  if (needs_repair_) FH_RETURN_IF_ERROR(RepairActiveSegment());
  if (roll_pending_) return Roll();  // even for a group that would fit: see Roll
  const bool has_frames = active_bytes_ > kSegmentHeaderBytes;
  if (has_frames &&
      active_bytes_ + first_frame_bytes > static_cast<std::uint64_t>(limits_.segment_bytes_max)) {
    return Roll();
  }
  return Status::Ok();
}

// Takes the oldest pending appends into the empty `batch`: at least one, then as many as fit in
// group_commit_bytes_max and in what is left of the active segment. When they all fit, the two
// vectors are swapped.
void EmbeddedLog::Core::TakeBatchLocked(bool segment_ready, std::vector<PendingAppend>* batch) {
  std::uint64_t budget = static_cast<std::uint64_t>(limits_.group_commit_bytes_max);
  const auto segment_max = static_cast<std::uint64_t>(limits_.segment_bytes_max);
  if (segment_ready) {
    budget = std::min(budget, segment_max > active_bytes_ ? segment_max - active_bytes_ : 0);
  }
  FH_CHECK(batch->empty(), "the writer's batch is taken into an empty vector");
  if (pending_taken_ == 0 && (pending_bytes_ <= budget || pending_.size() == 1)) {
    std::swap(pending_, *batch);
    pending_bytes_ = 0;
    return;
  }
  std::uint64_t taken = 0;
  std::size_t end = pending_taken_;
  for (; end < pending_.size(); ++end) {
    const std::uint64_t size = pending_[end].bytes;
    if (end > pending_taken_ && taken + size > budget) break;
    taken += size;
  }
  const auto first = pending_.begin() + static_cast<std::ptrdiff_t>(pending_taken_);
  const auto last = pending_.begin() + static_cast<std::ptrdiff_t>(end);
  batch->insert(batch->end(), std::make_move_iterator(first), std::make_move_iterator(last));
  pending_taken_ = end;
  pending_bytes_ -= taken;
  if (PendingCountLocked() == 0) {
    pending_.clear();
    pending_taken_ = 0;
  } else if (PendingCountLocked() <= pending_taken_) {
    pending_.erase(pending_.begin(), last);  // moves no more than was just taken
    pending_taken_ = 0;
  }
}

Status EmbeddedLog::Core::WriteBatch(std::vector<PendingAppend>& batch) {
  const QueueOffset first = next_offset_;
  std::uint64_t position = active_bytes_;
  std::uint64_t last_indexed = last_index_position_;
  std::vector<IndexEntry> new_index;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    // The appenders wrote each frame from another core: the header's cache line is fetched some
    // frames ahead, not waited for one at a time (stop 22).
    if (i + kHeaderPrefetchDistance < batch.size()) {
      __builtin_prefetch(batch[i + kHeaderPrefetchDistance].frame(), /*rw=*/1);
    }
    const PendingAppend& item = batch[i];
    log_format::EncodeFrameHeader(static_cast<std::uint32_t>(item.bytes - kFrameHeaderBytes),
                                  QueueOffset(first.value() + i), static_cast<std::uint32_t>(i),
                                  item.payload_crc, item.frame());
    if (position - last_indexed >= kIndexIntervalBytes) {
      new_index.push_back({first.value() + i, position});
      last_indexed = position;
    }
    position += item.bytes;
  }
  const std::uint64_t bytes = position - active_bytes_;
  const std::string segment_name = active_path_.filename().string();

  ClaimForWrite(position);
  Status status = WriteFrames(active_fd_.get(), active_bytes_, FrameRuns(batch),
                              static_cast<std::uint64_t>(limits_.log_writeback_bytes));
  ReleaseFrames(batch);  // in the page cache now (or failed): the chunks can take new frames
  if (!status.ok()) {
    ErrorCounter(status.code() == StatusCode::kResourceExhausted ? "disk_full" : "write").Add();
    return CutBackFailedBatch(
        status.WithContext("writing " + std::to_string(bytes) + " bytes to " + segment_name));
  }
  const auto sync_start = SteadyClock::now();
  status = SyncData(active_fd_.get(), "log.fsync");
  last_fsync_ = SteadyClock::now() - sync_start;
  last_group_records_ = batch.size();
  fsync_seconds_.Observe(std::chrono::duration<double>(last_fsync_).count());
  fsyncs_.Add();
  if (last_fsync_ >= kSlowFsync) CountSlowFsync(last_fsync_, segment_name, batch.size());
  if (!status.ok()) {
    ErrorCounter("fsync").Add();
    return CutBackFailedBatch(status.WithContext("fdatasync of " + segment_name));
  }

  // Durable: publish, then acknowledge.
  active_bytes_ = position;
  last_index_position_ = last_indexed;
  next_offset_ = QueueOffset(first.value() + batch.size());
  const TimestampUs now = clock_();
  {
    std::lock_guard lock(mutex_);
    Segment& active = segments_.back();
    active.durable_bytes = position;
    active.last_write = now;
    active.index.insert(active.index.end(), new_index.begin(), new_index.end());
    stored_bytes_ += bytes;
    durable_next_ = next_offset_;
    in_flight_records_ -= batch.size();
    in_flight_bytes_ -= bytes;
    disk_full_until_ = {};
    bytes_gauge_.Set(static_cast<double>(stored_bytes_));
    records_gauge_.Set(static_cast<double>(durable_next_.value() - segments_.front().base.value()));
  }
  durable_cv_.notify_all();
  appends_.Add(batch.size());
  written_events_.Add(batch.size());
  written_bytes_.Add(bytes);
  durable_offset_gauge_.Set(static_cast<double>(next_offset_.value()));
  Complete(batch, first, Status::Ok());
  DropFromPageCache();
  return Status::Ok();
}

// A log's bytes are read once, by consumers close behind the writer, yet the kernel keeps every
// page it wrote while memory is free. Dropping the durable bytes older than log_page_cache_bytes
// bounds that, and the pages freed are the ones the next groups are written into: on this
// virtual machine a page not touched for a few seconds costs ~9 ms per 4 MiB to fill again
// against ~0.7 ms for one just freed (bench/RESULTS.md, "Embedded log", stop 14).
void EmbeddedLog::Core::DropFromPageCache() {
  const auto keep = static_cast<std::uint64_t>(limits_.log_page_cache_bytes);
  if (keep == 0 || active_bytes_ < keep) return;
  const std::uint64_t drop_until = (active_bytes_ - keep) & ~(kPageCacheDropAlignBytes - 1);
  if (drop_until < cache_dropped_until_ + kPageCacheDropStepBytes) return;
  // Advisory: a failure leaves the pages to the kernel, as with log_page_cache_bytes = 0.
  (void)::posix_fadvise(active_fd_.get(), static_cast<off_t>(cache_dropped_until_),
                        static_cast<off_t>(drop_until - cache_dropped_until_), POSIX_FADV_DONTNEED);
  cache_dropped_until_ = drop_until;
}

// A group whose callbacks are expected to be quick (group_commit_inline_us) is acknowledged
// right here when the completer has nothing queued or running: only this thread queues
// completions, so the order holds. Handing it over cost the completer's wake-up, which under
// webhook load took ~80 µs at the median and over 0.5 ms one time in twenty (bench/RESULTS.md,
// "Embedded log", stop 17), on the path every acknowledgement waits on. Callbacks that wake a
// thread each (~10 µs here) stay on the completer, where they do not delay the next group.
void EmbeddedLog::Core::Complete(std::vector<PendingAppend>& batch, QueueOffset first,
                                 Status status) {
  {
    std::unique_lock lock(completion_mutex_);
    const auto inline_budget = std::chrono::microseconds(limits_.group_commit_inline_us);
    const bool completer_idle = completions_.empty() && !completer_busy_;
    if (inline_budget.count() > 0 && completer_idle &&
        callback_cost_ * batch.size() <= inline_budget) {
      lock.unlock();
      RunCallbacks(batch, first, status);
      batch.clear();
      return;
    }
    // The writer starts the next group's write and fsync while the completer acknowledges this
    // one; beyond group_commit_completions_max groups waiting for their callbacks it waits, so
    // the memory held by acknowledged frames stays bounded.
    const auto groups_max = static_cast<std::size_t>(limits_.group_commit_completions_max);
    completion_cv_.wait(lock, [&] { return completions_.size() < groups_max; });
    completions_.push_back({std::move(batch), first, std::move(status)});
  }
  completion_cv_.notify_all();
  batch.clear();  // moved from: make it a valid empty vector for the writer's next group
}

// Runs each group's callbacks in the order the groups were written, so that an appender sees
// its acknowledgements in offset order.
void EmbeddedLog::Core::CompleterLoop() {
  while (true) {
    Completion completion;
    {
      std::unique_lock lock(completion_mutex_);
      completer_busy_ = false;
      completion_cv_.wait(lock, [this] { return !completions_.empty() || completer_stop_; });
      if (completions_.empty()) return;  // stopping, and every group is acknowledged
      completion = std::move(completions_.front());
      completions_.pop_front();
      completer_busy_ = true;
    }
    completion_cv_.notify_all();  // the writer may be waiting for room
    RunCallbacks(completion.batch, completion.first, completion.status);
  }
}

void EmbeddedLog::Core::RunCallbacks(std::vector<PendingAppend>& batch, QueueOffset first,
                                     const Status& status) {
  if (batch.empty()) return;
  const auto start = SteadyClock::now();
  if (status.ok()) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].partner->accepted->Add();
      batch[i].done(QueueOffset(first.value() + i));
    }
  } else {
    const std::string_view reason =
        status.code() == StatusCode::kResourceExhausted ? "disk_full" : "io_error";
    for (PendingAppend& item : batch) {
      RejectedCounter(item.partner->partner, reason).Add();
      item.done(status);
    }
  }
  const auto cost = (SteadyClock::now() - start) / batch.size();
  std::lock_guard lock(completion_mutex_);
  callback_cost_ = cost;
}

// Completes a batch that is not durable. WriteBatch has already cut the segment back to its
// durable size (made durable too) where it could.
void EmbeddedLog::Core::FailBatch(std::vector<PendingAppend>& batch, const Status& status) {
  const bool disk_full = status.code() == StatusCode::kResourceExhausted;
  std::uint64_t bytes = 0;
  for (const PendingAppend& item : batch) bytes += item.bytes;
  {
    std::lock_guard lock(mutex_);
    in_flight_records_ -= batch.size();
    in_flight_bytes_ -= bytes;
    if (disk_full) disk_full_until_ = SteadyClock::now() + kDiskFullBackoff;
  }
  LogWriterFailure(status, batch.size());
  Complete(batch, QueueOffset(), status);
}

void EmbeddedLog::Core::LogWriterFailure(const Status& status, std::size_t records) {
  std::size_t held_back = 0;
  if (!failure_log_.Admit(&held_back)) return;
  spdlog::error("queue: group commit of {} record(s) failed, not acknowledged: {}{}", records,
                status.ToString(),
                held_back == 0
                    ? std::string()
                    : " (" + std::to_string(held_back) + " similar failures not logged)");
}

void EmbeddedLog::Core::CountSlowFsync(SteadyClock::duration took, std::string_view segment_name,
                                       std::size_t records) {
  fsync_slow_.Add();
  std::size_t held_back = 0;
  if (!slow_fsync_log_.Admit(&held_back)) return;
  spdlog::warn(
      "queue: fdatasync of {} took {} ms; {} append(s) waited for it{}: the disk is slow",
      segment_name, std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), records,
      held_back == 0 ? std::string()
                     : " (" + std::to_string(held_back) + " more over " +
                           std::to_string(kSlowFsync.count()) + " ms since the last warning)");
}

// Returns `failure`, after cutting off what the failed batch may have left in the segment. When
// that cut fails too, the message says so (the next batch retries the cut before it writes).
Status EmbeddedLog::Core::CutBackFailedBatch(const Status& failure) {
  needs_repair_ = true;
  const Status repaired = RepairActiveSegment();
  if (repaired.ok()) return failure;
  return Status(failure.code(), failure.message() + "; then " + repaired.message());
}

// Cuts the active segment back to its durable size and makes the cut durable, so that nothing
// of a failed batch can be delivered, now or after a crash. The descriptor is reopened: after a
// failed fsync the kernel may have dropped the dirty pages and reported the error once, so the
// old descriptor's next fsync could succeed without the data.
Status EmbeddedLog::Core::RepairActiveSegment() {
  const std::filesystem::path& path = active_path_;
  DetachPrefill();
  Status status = [&]() -> Status {
    FH_RETURN_IF_ERROR(TruncateDurably(active_fd_.get(), active_bytes_));
    active_recycled_ = false;
    FH_ASSIGN_OR_RETURN(FileDescriptor reopened, OpenFile(path, O_WRONLY));
    active_fd_ = std::move(reopened);
    return Status::Ok();
  }();
  if (!status.ok()) {
    ErrorCounter("repair").Add();
    return Internal("cutting " + path.string() + " back to its durable size " +
                    std::to_string(active_bytes_) +
                    " failed, appends wait for it: " + status.ToString());
  }
  needs_repair_ = false;
  AttachPrefill(path, active_bytes_, active_bytes_);
  return Status::Ok();
}

// A roll that fails may leave the new segment's file behind, named for next_offset_ (the
// directory fsync after its rename failed, or opening it did). Writing on into the active
// segment would then take the offsets past that file's base, and the next open would find the
// log not contiguous. So until a roll succeeds every group rolls first (roll_pending_), and
// fails while it cannot: the retry, at the same base, replaces the file. A file left by a crash
// before the retry is the log's last segment, empty, starting where the one before it ends.
Status EmbeddedLog::Core::Roll() {
  roll_pending_ = true;
  if (const int injected = fault::Check("log.roll")) {
    ErrorCounter("roll").Add();
    return ErrnoStatus("creating a segment (injected)", injected);
  }
  if (Status sealed = SealActiveSegment(); !sealed.ok()) {
    ErrorCounter("roll").Add();
    return sealed;
  }
  bool recycled = false;
  auto created = CreateSegment(next_offset_, &recycled);
  if (!created.ok()) {
    ErrorCounter("roll").Add();
    return created.status();
  }
  auto opened = OpenFile(created->path, O_WRONLY);
  if (!opened.ok()) {
    ErrorCounter("roll").Add();
    // The new file stays: it is empty, and the retry (same base) replaces it.
    return opened.status();
  }
  active_fd_ = std::move(opened).value();
  active_path_ = created->path;
  active_bytes_ = kSegmentHeaderBytes;
  active_recycled_ = recycled;
  roll_pending_ = false;
  cache_dropped_until_ = 0;
  AttachPrefill(active_path_, active_bytes_, active_bytes_);
  last_index_position_ = kSegmentHeaderBytes;
  spdlog::info("queue: rolled to segment {}{}", created->path.string(),
               recycled ? " (a recycled file)" : "");
  std::lock_guard lock(mutex_);
  stored_bytes_ += kSegmentHeaderBytes;
  segments_.push_back(std::move(created).value());
  segments_gauge_.Set(static_cast<double>(segments_.size()));
  return Status::Ok();
}

// Cuts the zeros the prefill thread wrote after the active segment's last frame (or a recycled
// file's old bytes), durably, before the next segment exists: recovery reads zeros and older
// frames as the end of the last segment only.
Status EmbeddedLog::Core::SealActiveSegment() {
  DetachPrefill();
  FH_ASSIGN_OR_RETURN(const struct stat info, StatFd(active_fd_.get(), active_path_));
  if (static_cast<std::uint64_t>(info.st_size) == active_bytes_) return Status::Ok();
  FH_RETURN_IF_ERROR(TruncateDurably(active_fd_.get(), active_bytes_)
                         .WithContext("sealing " + active_path_.string() + " at " +
                                      std::to_string(active_bytes_) + " bytes"));
  active_recycled_ = false;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Prefill

void EmbeddedLog::Core::PrefillLoop() {
  const auto runway = static_cast<std::uint64_t>(limits_.segment_prefill_bytes);
  const auto segment_max = static_cast<std::uint64_t>(limits_.segment_bytes_max);
  std::unique_lock lock(prefill_mutex_);
  while (true) {
    const auto target = [&] { return std::min(prefill_write_end_ + runway, segment_max); };
    const auto wanted = [&] {
      return prefill_file_ != nullptr && prefill_file_end_ < target() && PrefillDueLocked();
    };
    if (prefill_retry_at_ != SteadyClock::time_point{}) {
      prefill_cv_.wait_until(lock, prefill_retry_at_, [&] { return prefill_stop_; });
      prefill_retry_at_ = {};
    }
    prefill_cv_.wait(lock, [&] { return prefill_stop_ || wanted(); });
    if (prefill_stop_) return;
    const std::uint64_t start = prefill_file_end_;
    const std::uint64_t end = std::min(target(), start + kPrefillChunkBytes);
    const std::shared_ptr<FileDescriptor> file = prefill_file_;
    prefill_chunk_start_ = start;
    lock.unlock();
    Status status = WriteZeros(file->get(), start, end);
    lock.lock();
    prefill_chunk_start_.reset();
    if (status.ok()) prefill_file_end_ = std::max(prefill_file_end_, end);
    prefill_cv_.notify_all();  // the writer may wait for this chunk
    if (status.ok()) {
      lock.unlock();
      status = SyncData(file->get(), "log.prefill_fsync");
      lock.lock();
    }
    if (!status.ok()) {
      // Not an append failure: the writer grows the file itself meanwhile. A full disk is the
      // usual cause; the zeros written stay (the writer cuts them when it seals the segment).
      ErrorCounter("prefill").Add();
      spdlog::warn("queue: prefilling {} failed, retrying in {} s: {}", dir_.string(),
                   std::chrono::duration_cast<std::chrono::seconds>(kDiskFullBackoff).count(),
                   status.ToString());
      prefill_retry_at_ = SteadyClock::now() + kDiskFullBackoff;
    }
  }
}

void EmbeddedLog::Core::ClaimForWrite(std::uint64_t end) {
  if (limits_.segment_prefill_bytes == 0) return;
  std::unique_lock lock(prefill_mutex_);
  prefill_cv_.wait(lock, [&] { return !prefill_chunk_start_ || *prefill_chunk_start_ >= end; });
  prefill_last_group_bytes_ = end > prefill_write_end_ ? end - prefill_write_end_ : 0;
  prefill_write_end_ = std::max(prefill_write_end_, end);
  prefill_file_end_ = std::max(prefill_file_end_, end);
  const bool refill = PrefillDueLocked();
  lock.unlock();
  if (refill) prefill_cv_.notify_all();
}

// Refill once half the runway is used, in chunks, so that the writer's fdatasync rarely meets a
// chunk not yet synced; and only while groups are small (kPrefillGroupBytesMax).
bool EmbeddedLog::Core::PrefillDueLocked() const {
  return prefill_last_group_bytes_ < kPrefillGroupBytesMax &&
         prefill_file_end_ - prefill_write_end_ <=
             static_cast<std::uint64_t>(limits_.segment_prefill_bytes) / 2;
}

void EmbeddedLog::Core::DetachPrefill() {
  std::unique_lock lock(prefill_mutex_);
  prefill_cv_.wait(lock, [&] { return !prefill_chunk_start_; });
  prefill_file_.reset();
}

void EmbeddedLog::Core::AttachPrefill(const std::filesystem::path& path, std::uint64_t write_end,
                                      std::uint64_t file_end) {
  if (limits_.segment_prefill_bytes == 0) return;
  auto opened = OpenFile(path, O_WRONLY);
  std::lock_guard lock(prefill_mutex_);
  if (!opened.ok()) {
    // Appends go on without zeros ahead; the next roll or repair tries again.
    ErrorCounter("prefill").Add();
    spdlog::warn("queue: not prefilling {}: {}", path.string(), opened.status().ToString());
    return;
  }
  prefill_file_ = std::make_shared<FileDescriptor>(std::move(opened).value());
  prefill_write_end_ = write_end;
  prefill_last_group_bytes_ = 0;
  prefill_file_end_ = file_end;
  prefill_cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Retention and gauges

void EmbeddedLog::Core::MaintenanceLoop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      maintenance_cv_.wait_for(lock, kMaintenanceInterval,
                               [this] { return maintenance_stop_ || retention_wanted_; });
      if (maintenance_stop_) return;
      retention_wanted_ = false;
    }
    EnforceRetention();
    UpdateGauges();
  }
}

std::size_t EmbeddedLog::Core::EnforceRetention() {
  // One pass at a time (the maintenance thread, and callers of EnforceRetention): a pass decides
  // under mutex_ which segments to keep for reuse and renames them after it, so a second pass
  // must not decide meanwhile from a recycled_ that lacks them.
  std::lock_guard retention_lock(retention_mutex_);
  std::vector<Segment> victims;
  std::vector<bool> recycle;  // per victim: kept for reuse rather than deleted
  bool pressure = false;
  {
    std::lock_guard lock(mutex_);
    if (cursors_.empty()) return 0;  // nobody has read anything: keep it all
    QueueOffset floor = durable_next_;
    for (const auto& [name, cursor] : cursors_) floor = std::min(floor, cursor.retention_floor);
    pressure = SpaceFullLocked();
    const auto queue_max = static_cast<std::uint64_t>(limits_.queue_bytes_max);
    const std::uint64_t pressure_target = queue_max - queue_max / kPressureFreeDivisor;
    const std::int64_t retention_us = limits_.retention_s * 1'000'000;
    const TimestampUs now = clock_();
    std::size_t kept_files = recycled_.size();
    std::uint64_t kept_bytes = RecycledBytesLocked();
    // Never the active segment (the last); oldest first, so the first one kept ends the pass.
    while (segments_.size() > 1) {
      const Segment& oldest = segments_.front();
      const QueueOffset end = segments_[1].base;  // one past its last record
      if (end > floor) break;
      const bool expired = now.value() - oldest.last_write.value() >= retention_us;
      const bool needed = pressure && UsedBytesLocked() > pressure_target;
      if (!expired && !needed) break;
      stored_bytes_ -= oldest.durable_bytes;
      recycle.push_back(!pressure &&
                        RecycledFitLocked(kept_files + 1, kept_bytes + oldest.durable_bytes));
      if (recycle.back()) {
        ++kept_files;
        kept_bytes += oldest.durable_bytes;
      }
      victims.push_back(oldest);
      segments_.pop_front();
    }
    if (!victims.empty()) segments_gauge_.Set(static_cast<double>(segments_.size()));
  }
  if (victims.empty()) return 0;
  std::size_t recycled_count = 0;
  for (std::size_t i = 0; i < victims.size(); ++i) {
    const Segment& victim = victims[i];
    if (recycle[i]) {
      const std::filesystem::path kept = victim.path.string() + std::string(kRecycledSuffix);
      if (::rename(victim.path.c_str(), kept.c_str()) == 0) {
        std::lock_guard lock(mutex_);
        recycled_.push_back({kept, victim.durable_bytes});
        recycled_gauge_.Set(static_cast<double>(recycled_.size()));
        ++recycled_count;
        continue;
      }
      spdlog::warn("queue: retention: keeping {} for reuse: {} (deleting it)",
                   victim.path.string(), ErrnoStatus("rename", errno).ToString());
    }
    if (::unlink(victim.path.c_str()) != 0) {
      ErrorCounter("retention").Add();
      spdlog::error("queue: retention: {}",
                    ErrnoStatus("unlink " + victim.path.string(), errno).ToString());
      continue;
    }
    Metrics()
        .CounterFor("firehose_queue_segments_deleted_total",
                    {{"reason", pressure ? "size_limit" : "retention"}})
        .Add();
  }
  if (const Status synced = SyncDirectory(dir_); !synced.ok()) {
    spdlog::error("queue: syncing {} after retention: {}", dir_.string(), synced.ToString());
  }
  if (pressure) {
    spdlog::warn(
        "queue: at queue_bytes_max: deleted {} consumed segment(s) [{} .. {}] before their "
        "retention time to keep accepting appends",
        victims.size(), victims.front().path.filename().string(),
        victims.back().path.filename().string());
  } else {
    spdlog::info("queue: retention retired {} consumed segment(s) [{} .. {}], {} kept for reuse",
                 victims.size(), victims.front().path.filename().string(),
                 victims.back().path.filename().string(), recycled_count);
  }
  return victims.size();
}

void EmbeddedLog::Core::UpdateGauges() {
  std::lock_guard lock(mutex_);
  bytes_gauge_.Set(static_cast<double>(stored_bytes_));
  records_gauge_.Set(static_cast<double>(durable_next_.value() - segments_.front().base.value()));
  durable_offset_gauge_.Set(static_cast<double>(durable_next_.value()));
  segments_gauge_.Set(static_cast<double>(segments_.size()));
  for (const auto& [name, cursor] : cursors_) {
    const std::uint64_t lag =
        durable_next_.value() - std::min(durable_next_, cursor.committed_next).value();
    LagGauge(name).Set(static_cast<double>(lag));
  }
}

// ---------------------------------------------------------------------------------------------
// Inspection

QueueStats EmbeddedLog::Core::Stats() const {
  std::lock_guard lock(mutex_);
  QueueStats stats;
  stats.first_offset = segments_.front().base;
  stats.next_offset = durable_next_;
  stats.bytes = stored_bytes_;
  stats.bytes_max = static_cast<std::uint64_t>(limits_.queue_bytes_max);
  for (const auto& [name, cursor] : cursors_) {
    const std::uint64_t lag =
        durable_next_.value() - std::min(durable_next_, cursor.committed_next).value();
    stats.consumers.push_back({name, cursor.committed_next, lag});
  }
  return stats;
}

bool EmbeddedLog::Core::Full() const {
  std::lock_guard lock(mutex_);
  return SpaceFullLocked() || SteadyClock::now() < disk_full_until_;
}

std::vector<QueueOffset> EmbeddedLog::Core::SegmentBaseOffsets() const {
  std::lock_guard lock(mutex_);
  std::vector<QueueOffset> bases;
  for (const Segment& segment : segments_) bases.push_back(segment.base);
  return bases;
}

// ---------------------------------------------------------------------------------------------
// Consumer support

QueueOffset EmbeddedLog::Core::WaitForDurable(QueueOffset next, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  durable_cv_.wait_for(lock, wait, [&] { return durable_next_ > next || closed_; });
  return durable_next_;
}

Result<EmbeddedLog::Core::SegmentLocation> EmbeddedLog::Core::Locate(QueueOffset offset) const {
  std::lock_guard lock(mutex_);
  if (offset < segments_.front().base) {
    return OutOfRange("offset " + std::to_string(offset.value()) +
                      " is before the oldest stored record " +
                      std::to_string(segments_.front().base.value()) + " (deleted by retention)");
  }
  auto after =
      std::upper_bound(segments_.begin(), segments_.end(), offset,
                       [](QueueOffset wanted, const Segment& s) { return wanted < s.base; });
  const Segment& segment = *std::prev(after);
  SegmentLocation location{segment.base, segment.path, segment.durable_bytes, segment.base,
                           kSegmentHeaderBytes};
  auto entry =
      std::upper_bound(segment.index.begin(), segment.index.end(), offset.value(),
                       [](std::uint64_t wanted, const IndexEntry& e) { return wanted < e.offset; });
  if (entry != segment.index.begin()) {
    --entry;
    location.hint_offset = QueueOffset(entry->offset);
    location.hint_position = entry->position;
  }
  return location;
}

Result<std::optional<QueueOffset>> EmbeddedLog::Core::AcquireConsumer(const std::string& name,
                                                                      QueueOffset* start) {
  std::lock_guard lock(mutex_);
  auto found = cursors_.find(name);
  if (found == cursors_.end()) {
    *start = segments_.front().base;
    CursorState state;
    state.committed_next = *start;
    state.retention_floor = *start;
    state.open = true;
    cursors_.emplace(name, std::move(state));
    return std::optional<QueueOffset>();
  }
  CursorState& cursor = found->second;
  if (cursor.open) return FailedPrecondition("consumer " + name + " is already open");
  if (cursor.broken) return *cursor.broken;
  const QueueOffset first = segments_.front().base;
  if (cursor.committed_next < first || cursor.committed_next > durable_next_) {
    return DataLoss("consumer " + name + " resumes at offset " +
                    std::to_string(cursor.committed_next.value()) + " but the log holds [" +
                    std::to_string(first.value()) + ", " + std::to_string(durable_next_.value()) +
                    ")");
  }
  cursor.open = true;
  *start = cursor.committed_next;
  return std::optional<QueueOffset>(cursor.committed_next);
}

void EmbeddedLog::Core::ForgetConsumer(const std::string& name) {
  std::lock_guard lock(mutex_);
  cursors_.erase(name);
}

void EmbeddedLog::Core::ReleaseConsumer(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto found = cursors_.find(name); found != cursors_.end()) found->second.open = false;
}

Result<bool> EmbeddedLog::Core::ReserveForDrop(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto found = cursors_.find(name);
  if (found == cursors_.end()) return false;
  if (found->second.open) return FailedPrecondition("consumer " + name + " is open");
  found->second.open = true;
  return true;
}

void EmbeddedLog::Core::EraseConsumer(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    cursors_.erase(name);
  }
  LagGauge(name).Set(0);
}

Status EmbeddedLog::Core::PrepareSeek(const std::string& name, QueueOffset next) {
  std::lock_guard lock(mutex_);
  const QueueOffset first = segments_.front().base;
  if (next < first || next > durable_next_) {
    return OutOfRange("seek to offset " + std::to_string(next.value()) +
                      " outside the stored records [" + std::to_string(first.value()) + ", " +
                      std::to_string(durable_next_.value()) + "]");
  }
  CursorState& cursor = cursors_.at(name);
  cursor.retention_floor = std::min(cursor.retention_floor, next);
  return Status::Ok();
}

void EmbeddedLog::Core::CursorWritten(const std::string& name, QueueOffset committed_next) {
  std::uint64_t lag = 0;
  bool pressure = false;
  {
    std::lock_guard lock(mutex_);
    CursorState& cursor = cursors_.at(name);
    cursor.committed_next = committed_next;
    cursor.retention_floor = committed_next;
    lag = durable_next_.value() - std::min(durable_next_, committed_next).value();
    pressure = SpaceFullLocked();
    if (pressure) retention_wanted_ = true;
  }
  if (pressure) maintenance_cv_.notify_one();
  LagGauge(name).Set(static_cast<double>(lag));
}

// ---------------------------------------------------------------------------------------------
// The consumer

namespace {

class EmbeddedConsumer final : public QueueConsumer {
 public:
  EmbeddedConsumer(std::shared_ptr<EmbeddedLog::Core> core, std::string name,
                   FileDescriptor cursor_fd, std::uint64_t cursor_sequence,
                   QueueOffset committed_next)
      : core_(std::move(core)),
        name_(std::move(name)),
        cursor_fd_(std::move(cursor_fd)),
        cursor_sequence_(cursor_sequence),
        committed_next_(committed_next),
        next_(committed_next) {}

  ~EmbeddedConsumer() override { core_->ReleaseConsumer(name_); }

  Result<std::vector<Delivery>> Fetch(std::size_t records_max, std::size_t bytes_max,
                                      std::chrono::milliseconds wait) override {
    std::vector<Delivery> deliveries;
    if (records_max == 0) return deliveries;
    bytes_max = std::min<std::size_t>(
        bytes_max, static_cast<std::size_t>(core_->limits().consumer_fetch_bytes_max));
    const QueueOffset durable = core_->WaitForDurable(next_, wait);
    std::size_t bytes = 0;
    while (deliveries.size() < records_max && next_ < durable) {
      // An error after some records were delivered returns those; the next Fetch meets it again.
      Status status = PositionReader();
      Frame frame;
      if (status.ok()) status = ReadFrame(&frame);
      if (!status.ok()) {
        if (deliveries.empty()) return status;
        break;
      }
      if (!deliveries.empty() && bytes + frame.payload.size() > bytes_max) break;
      auto record = DecodeRecord(frame.payload);
      if (!record.ok()) {
        if (deliveries.empty()) return record.status().WithContext(Where());
        break;
      }
      bytes += frame.payload.size();
      deliveries.push_back({next_, std::move(record).value()});
      segment_->reader.Consume(frame);
      next_ = QueueOffset(next_.value() + 1);
    }
    return deliveries;
  }

  Status Commit(QueueOffset offset) override {
    if (offset >= next_) {
      return InvalidArgument("consumer " + name_ + ": commit of offset " +
                             std::to_string(offset.value()) + ", but only offsets below " +
                             std::to_string(next_.value()) + " were delivered");
    }
    const QueueOffset committed_next(offset.value() + 1);
    if (committed_next < committed_next_) {
      return InvalidArgument(
          "consumer " + name_ + ": commit of offset " + std::to_string(offset.value()) +
          " goes back before its committed position " + std::to_string(committed_next_.value()));
    }
    if (committed_next == committed_next_) return Status::Ok();
    FH_RETURN_IF_ERROR(WriteCursor(committed_next));
    committed_next_ = committed_next;
    core_->CursorWritten(name_, committed_next_);
    return Status::Ok();
  }

  QueueOffset committed_next() const override { return committed_next_; }

  // Every offset below the durable end holds a record, and Fetch returns them in order from
  // next_ (a frame that does not decode is an error, never skipped).
  bool contiguous_offsets() const override { return true; }

  Status Seek(QueueOffset next) override {
    FH_RETURN_IF_ERROR(core_->PrepareSeek(name_, next));
    FH_RETURN_IF_ERROR(WriteCursor(next));
    committed_next_ = next;
    next_ = next;
    segment_.reset();
    core_->CursorWritten(name_, committed_next_);
    return Status::Ok();
  }

 private:
  struct OpenSegment {
    QueueOffset base;
    std::filesystem::path path;
    FileDescriptor fd;
    FrameReader reader;
  };

  std::string Where() const {
    return "consumer " + name_ + ", " +
           (segment_ ? segment_->path.string() : std::string("no segment")) + " byte " +
           std::to_string(segment_ ? segment_->reader.position() : 0);
  }

  // Makes segment_ hold the record next_ (which is durable): keeps the open segment when next_
  // is still in it (its durable end may have grown), else opens the segment holding it and
  // walks from the nearest index entry.
  Status PositionReader() {
    if (segment_ && !segment_->reader.AtEnd()) return Status::Ok();
    FH_ASSIGN_OR_RETURN(const EmbeddedLog::Core::SegmentLocation location, core_->Locate(next_));
    if (segment_ && segment_->base == location.base) {
      segment_->reader.ExtendEnd(location.durable_bytes);
      if (!segment_->reader.AtEnd()) return Status::Ok();
      return DataLoss(Where() + ": offset " + std::to_string(next_.value()) +
                      " is durable but beyond the segment's durable bytes");
    }
    segment_.reset();
    FH_ASSIGN_OR_RETURN(FileDescriptor fd, OpenFile(location.path, O_RDONLY));
    const int raw_fd = fd.get();
    segment_ = std::make_unique<OpenSegment>(
        OpenSegment{location.base, location.path, std::move(fd),
                    FrameReader(raw_fd, location.hint_position, location.durable_bytes)});
    while (true) {
      Frame frame;
      FH_RETURN_IF_ERROR(ReadFrame(&frame, /*any_offset=*/true));
      if (frame.offset == next_) return Status::Ok();
      if (frame.offset > next_) {
        return DataLoss(Where() + ": frame of offset " + std::to_string(frame.offset.value()) +
                        " where " + std::to_string(next_.value()) + " was expected");
      }
      segment_->reader.Consume(frame);
    }
  }

  // Parses the durable frame at the reader's position; anything but a valid frame (of offset
  // next_, unless `any_offset`) is DataLoss: these bytes were fsync'd and verified before.
  Status ReadFrame(Frame* frame, bool any_offset = false) {
    FH_ASSIGN_OR_RETURN(const FrameCheck check, segment_->reader.Peek(frame));
    if (check != FrameCheck::kOk) {
      ErrorCounter("corruption").Add();
      return DataLoss(Where() + ": " + std::string(log_format::FrameCheckName(check)) +
                      " in durable data");
    }
    if (!any_offset && frame->offset != next_) {
      ErrorCounter("corruption").Add();
      return DataLoss(Where() + ": frame of offset " + std::to_string(frame->offset.value()) +
                      " where " + std::to_string(next_.value()) + " was expected");
    }
    return Status::Ok();
  }

  // One pwrite of a 32-byte slot and one fdatasync; the other slot keeps the previous value
  // should this write be torn.
  Status WriteCursor(QueueOffset committed_next) {
    const std::uint64_t sequence = cursor_sequence_ + 1;
    const std::string slot = log_format::EncodeCursorSlot({sequence, committed_next});
    Status status = [&]() -> Status {
      if (const int injected = fault::Check("log.cursor"))
        return ErrnoStatus("cursor write (injected)", injected);
      FH_RETURN_IF_ERROR(
          PwriteAll(cursor_fd_.get(), slot,
                    log_format::CursorSlotIndex(sequence) * log_format::kCursorSlotBytes));
      return SyncData(cursor_fd_.get());
    }();
    if (!status.ok()) {
      ErrorCounter("cursor").Add();
      return status.WithContext("writing the cursor of consumer " + name_);
    }
    cursor_sequence_ = sequence;
    return Status::Ok();
  }

  std::shared_ptr<EmbeddedLog::Core> core_;
  const std::string name_;
  FileDescriptor cursor_fd_;
  std::uint64_t cursor_sequence_;
  QueueOffset committed_next_;
  QueueOffset next_;  // the next offset to deliver
  std::unique_ptr<OpenSegment> segment_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// EmbeddedLog

EmbeddedLog::EmbeddedLog(std::shared_ptr<Core> core) : core_(std::move(core)) {}

Result<std::unique_ptr<EmbeddedLog>> EmbeddedLog::Open(const std::filesystem::path& dir,
                                                       const Limits& limits, Clock clock) {
  auto core = std::make_shared<Core>(dir, limits, std::move(clock));
  if (Status recovered = core->Recover(); !recovered.ok()) {
    if (recovered.code() == StatusCode::kDataLoss) ErrorCounter("corruption").Add();
    spdlog::error("queue: cannot open {}: {}", dir.string(), recovered.ToString());
    return recovered;
  }
  core->Start();
  return std::unique_ptr<EmbeddedLog>(new EmbeddedLog(std::move(core)));
}

EmbeddedLog::~EmbeddedLog() {
  core_->Shutdown();
  core_->ReleaseDirectory();
}

void EmbeddedLog::Append(QueueRecord record, AppendCallback done) {
  core_->Append(std::move(record), std::move(done));
}

Result<std::unique_ptr<QueueConsumer>> EmbeddedLog::OpenConsumer(std::string_view name) {
  if (!IsValidConsumerName(name)) {
    return InvalidArgument("consumer name \"" + std::string(name) + "\" is not [a-z0-9_-]{1,64}");
  }
  const std::string consumer(name);
  const std::filesystem::path path = core_->dir() / kCursorDirectory / consumer;
  QueueOffset start;
  FH_ASSIGN_OR_RETURN(const std::optional<QueueOffset> existing,
                      core_->AcquireConsumer(consumer, &start));
  std::uint64_t sequence = 1;
  if (!existing) {
    // Both slots hold the start, so either can be overwritten first.
    const std::string bytes =
        log_format::EncodeCursorSlot({0, start}) + log_format::EncodeCursorSlot({1, start});
    if (Status created = WriteFileAtomically(path, bytes); !created.ok()) {
      core_->ForgetConsumer(consumer);
      return created.WithContext("creating consumer " + consumer);
    }
  } else {
    auto cursor = [&]() -> Result<log_format::CursorSlot> {
      FH_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path, kCursorFileBytesMax));
      return log_format::DecodeCursorFile(bytes);
    }();
    if (!cursor.ok()) {
      core_->ReleaseConsumer(consumer);
      return cursor.status().WithContext("reading the cursor of consumer " + consumer);
    }
    sequence = cursor->sequence;
  }
  auto fd = OpenFile(path, O_RDWR);
  if (!fd.ok()) {
    core_->ReleaseConsumer(consumer);
    return fd.status();
  }
  return std::unique_ptr<QueueConsumer>(
      new EmbeddedConsumer(core_, consumer, std::move(fd).value(), sequence, start));
}

Status EmbeddedLog::DropConsumer(std::string_view name) {
  if (!IsValidConsumerName(name)) {
    return InvalidArgument("consumer name \"" + std::string(name) + "\" is not [a-z0-9_-]{1,64}");
  }
  const std::string consumer(name);
  FH_ASSIGN_OR_RETURN(const bool exists, core_->ReserveForDrop(consumer));
  if (!exists) return Status::Ok();
  // The file goes first, durably: until it is gone the cursor keeps holding retention, so a
  // crash in between leaves either the old cursor (valid) or none.
  const std::filesystem::path directory = core_->dir() / kCursorDirectory;
  std::error_code error;
  std::filesystem::remove(directory / consumer, error);
  const Status status =
      error ? Internal("removing the cursor of consumer " + consumer + ": " + error.message())
            : SyncDirectory(directory);
  if (!status.ok()) {
    core_->ReleaseConsumer(consumer);
    return status;
  }
  core_->EraseConsumer(consumer);
  spdlog::info("queue: dropped consumer {}", consumer);
  return Status::Ok();
}

QueueStats EmbeddedLog::Stats() const { return core_->Stats(); }

bool EmbeddedLog::Full() const { return core_->Full(); }

void EmbeddedLog::Shutdown() { core_->Shutdown(); }

std::size_t EmbeddedLog::EnforceRetention() { return core_->EnforceRetention(); }

std::vector<QueueOffset> EmbeddedLog::SegmentBaseOffsets() const {
  return core_->SegmentBaseOffsets();
}

}  // namespace firehose
