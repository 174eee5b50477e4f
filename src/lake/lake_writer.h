// The lake writer: lands queue records as canonical-event lines (raw zone) and unmappable
// parts (quarantine zone), and publishes them exactly once per queue offset range.
//
// Design constraints (docs/formats/lake.md, "Publication"):
//  - The writer takes records in offset order and collects a range [first, last] of them in one
//    temp file per partition touched (_tmp/<writer>/), zstd-compressed as it goes: memory is
//    bounded by lake_open_files_max x (one compression context + ~256 KiB of buffers).
//  - It rolls (publishes the range) when the range's uncompressed bytes pass
//    lake_file_bytes_max, when the range has been open longer than lake_roll_age_ms, or before a
//    record that would need more than lake_open_files_max files.
//  - Publishing = finish + fsync every temp file and the temp directory; write the range's
//    manifest atomically (the commit point); rename every temp file to its final name; fsync
//    the partition directories. A crash at any instant leaves a state Recover() turns into
//    "published" (manifest present: roll forward) or "never happened" (no manifest: the temp
//    files are deleted and the queue delivers the records again).
//  - A range is never published twice: the writer refuses a record at or below an offset it has
//    already taken (FH_CHECK), and after a restart it starts after its last manifest.
//
// Not thread-safe: one thread drives one writer. Two processes must never share a writer id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/config.h"
#include "core/mapping.h"
#include "core/metrics.h"
#include "core/status.h"
#include "core/time.h"
#include "lake/lake_format.h"
#include "lake/lake_manifest.h"
#include "queue/queue.h"

namespace firehose::lake {

struct LakeWriterOptions {
  std::filesystem::path lake_root;
  std::string writer_id = "w0";
  std::int64_t file_bytes_max = Limits{}.lake_file_bytes_max;
  std::int64_t roll_age_ms = Limits{}.lake_roll_age_ms;
  std::int64_t open_files_max = Limits{}.lake_open_files_max;
  int zstd_level = static_cast<int>(Limits{}.lake_zstd_level);
  // A monotonic clock in milliseconds, for the age of a range (tests move it by hand).
  std::function<std::int64_t()> monotonic_ms;
  // Called just before each manifest write (the commit point); a non-OK status aborts that
  // publication as any error does. Scale-out lake writers pass their lease check here, so that
  // a writer that lost its lease never publishes (queue/jetstream_lease.h).
  std::function<Status()> fence;
  // The queue delivers every offset, in order, from where it was positioned (the embedded log;
  // not JetStream, whose sequence skips messages that are not records). The writer then refuses
  // (FailedPrecondition, counted as errors{kind="offset_gap"}) a record that is not exactly at
  // next_offset(): a gap means the queue is read from the wrong place, and landing the record
  // would open a range past records that no range holds, for good.
  bool contiguous_offsets = false;

  // <data_dir>/lake, lake.writer_id and the lake_* limits.
  static LakeWriterOptions FromConfig(const Config& config);
};

enum class RollCause : std::uint8_t { kSize, kAge, kOpenFiles, kFlush };
std::string_view RollCauseName(RollCause cause);  // "size" | "age" | "open_files" | "flush"

class LakeWriter {
 public:
  // Recovers this writer's part of the lake (see Recover) and returns a writer that takes
  // records from next_offset() on. `config` (partners, mappings, calendar, limits) must outlive
  // the writer.
  static Result<std::unique_ptr<LakeWriter>> Open(const Config& config, LakeWriterOptions options);
  ~LakeWriter();
  LakeWriter(const LakeWriter&) = delete;
  LakeWriter& operator=(const LakeWriter&) = delete;

  // The first offset this writer may take: after Open or Recover, the queue must deliver from
  // here (the consumer Seeks to it when its cursor is behind, then calls ResumeAt).
  QueueOffset next_offset() const { return next_offset_; }
  // The queue was positioned at `next` (>= next_offset(), with no range open: after Open or
  // Recover): the records below it are not this writer's to land (its cursor is past them), and
  // with contiguous_offsets the next record must be exactly `next`.
  void ResumeAt(QueueOffset next);
  // The last offset of the last range published (durably, by its manifest); nullopt before the
  // first. The consumer may Commit it.
  std::optional<QueueOffset> published_through() const { return published_through_; }

  // Takes records in increasing offset order (gaps allowed unless contiguous_offsets: a shared
  // JetStream consumer delivers a subset), publishing ranges as the roll rules say. On an error
  // the records not yet published are lost from memory: call Recover() and redeliver from
  // next_offset().
  Status Write(std::span<const Delivery> deliveries);
  // Publishes the open range if it has been open for roll_age_ms.
  Status RollIfDue();
  // Publishes the open range now (shutdown, tests).
  Status Flush();
  // Drops the unpublished range, then brings the disk to a clean state: leftover manifest
  // temps are deleted, temp files listed by a manifest are renamed into place (roll forward),
  // other temp files are deleted; next_offset() becomes one past the last manifest's range.
  // Until a Recover succeeds, Write, RollIfDue and Flush refuse (FailedPrecondition).
  Status Recover();

  bool has_open_range() const { return range_.open; }
  std::size_t open_files() const { return files_.size(); }
  // Milliseconds until the open range is due to roll by age (0 when due); nullopt when no range
  // is open. The consumer loop waits at most this long for records.
  std::optional<std::int64_t> ms_until_roll() const;

 private:
  class PartitionFile;
  class ContextPool;
  struct FileKey {
    Zone zone;
    BusinessDate date;
    auto operator<=>(const FileKey&) const = default;
  };
  struct PartnerTally {
    std::uint64_t records = 0;
    std::map<std::string, std::uint64_t, std::less<>> quarantined;  // by reason
  };
  struct Range {
    bool open = false;
    QueueOffset first;
    QueueOffset last;
    std::int64_t opened_ms = 0;
    std::uint64_t records = 0;
    std::uint64_t events = 0;
    std::uint64_t quarantined = 0;
    std::uint64_t uncompressed_bytes = 0;
    std::map<std::string, PartnerTally, std::less<>> tallies;
  };
  // Business date of an instant, remembering the last day's bounds (cctz is not free).
  class DateCache {
   public:
    explicit DateCache(const BusinessCalendar& calendar) : calendar_(calendar) {}
    BusinessDate DateOf(TimestampUs time);

   private:
    const BusinessCalendar& calendar_;
    BusinessDate date_;
    std::int64_t start_us_ = 1;  // empty range: the first lookup computes
    std::int64_t end_us_ = 0;
  };

  LakeWriter(const Config& config, LakeWriterOptions options);
  Status CheckContiguous(const Delivery& delivery) const;
  Status WriteRecord(const Delivery& delivery);
  Status Publish(RollCause cause);
  Status PublishFiles(std::vector<ManifestFile>* files);
  Result<PartitionFile*> FileFor(FileKey key);
  std::int64_t NowMs() const;
  void CountPublished(RollCause cause, const std::vector<ManifestFile>& files, double seconds);
  Counter& ReceivedCounter(std::string_view partner);

  const Config& config_;
  const LakeWriterOptions options_;
  const std::filesystem::path temp_dir_;
  const std::filesystem::path manifest_dir_;
  Mapper mapper_;
  DateCache event_dates_;
  DateCache arrival_dates_;
  std::unique_ptr<ContextPool> contexts_;
  std::map<FileKey, std::unique_ptr<PartitionFile>> files_;
  Range range_;
  QueueOffset next_offset_;
  std::optional<QueueOffset> published_through_;
  bool broken_ = false;  // an error left the range unusable: Recover() first
  std::string line_;     // scratch for quarantine lines
  std::unordered_map<std::string, Counter*> received_counters_;
};

}  // namespace firehose::lake
