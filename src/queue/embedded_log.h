// The embedded durable queue (DESIGN §4): a segmented, append-only log in one directory.
//
// Design constraints:
//   - An append is acknowledged only after its frame is written and fdatasync'd. One writer
//     thread group-commits: it takes every pending append (up to group_commit_bytes_max), writes
//     them with pwritev, issues one fdatasync, and then runs their callbacks in offset order.
//   - Consumers see only durable records (offsets below the durable high-watermark, which moves
//     after the fsync), so no crash can take back a record a consumer has seen.
//   - Every frame carries its offset and a CRC32C. Recovery truncates a torn tail of the last
//     segment and refuses (DataLoss) any other damage rather than dropping valid data.
//   - Every buffer is bounded by a limit of core/limits.h: queue_bytes_max (stored + pending),
//     queue_pending_bytes_max and in_flight_appends_max (memory waiting for the writer),
//     segment_bytes_max, group_commit_bytes_max, record_bytes_max, consumer_fetch_bytes_max.
//   - A failed write or fsync fails only its own group; the segment is cut back to its durable
//     size before the callbacks run, and the log keeps accepting (ENOSPC clears by itself once
//     space returns).
//
// On-disk format: queue/log_format.h and docs/formats/queue.md. One process owns a directory at
// a time (an flock on <dir>/LOCK).
//
// Metrics (docs/instrumentation.md), stage="queue": received / accepted / rejected{reason:
// shutting_down, in_flight_full, pending_bytes_full, queue_full, record_too_large,
// invalid_record, disk_full, io_error} per partner; written_events / written_bytes;
// errors{kind: write, disk_full, fsync, repair, roll, cursor, retention, torn_tail, corruption,
// prefill, recycle};
// firehose_consumer_lag_records{consumer}; and firehose_queue_appends_total,
// firehose_queue_fsyncs_total, firehose_queue_fsync_seconds, firehose_queue_fsync_slow_total
// (fdatasyncs over 100 ms, also logged at most every 10 s), firehose_queue_bytes,
// firehose_queue_records, firehose_queue_durable_offset, firehose_queue_segments,
// firehose_queue_segments_deleted_total{reason: retention, size_limit},
// firehose_queue_recycled_segments, firehose_queue_segments_created_total{file: new, recycled}.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "core/limits.h"
#include "core/status.h"
#include "core/time.h"
#include "core/types.h"
#include "queue/queue.h"

namespace firehose {

class EmbeddedLog final : public Queue {
 public:
  // The wall clock used for segment ages (retention); tests pass their own. Called from the
  // log's threads and from EnforceRetention's caller: it must be thread-safe.
  using Clock = std::function<TimestampUs()>;

  // Opens (creating if needed) the log in `dir` and recovers it: every segment is verified, a
  // torn tail of the last one is truncated (and logged), and any other damage is DataLoss naming
  // the segment and byte position; the log is then not opened. FailedPrecondition if another
  // process holds the directory. Starts the writer and the maintenance (retention) thread.
  static Result<std::unique_ptr<EmbeddedLog>> Open(const std::filesystem::path& dir,
                                                   const Limits& limits, Clock clock = NowUs);

  // Shutdown(), then releases the directory. Consumers opened from this log stay usable for
  // the records that were durable (they share the log's state, not its threads).
  ~EmbeddedLog() override;

  EmbeddedLog(const EmbeddedLog&) = delete;
  EmbeddedLog& operator=(const EmbeddedLog&) = delete;

  // Thread-safe; never blocks on I/O. Besides the outcomes listed in queue.h, `done` gets
  // InvalidArgument for a record the log can never store (over record_bytes_max, or without an
  // arrival id or partner id). A failed append (Internal, ResourceExhausted after a write) is cut
  // from the segment, and that cut made durable, before `done` runs; only if that repair itself
  // fails and the machine then crashes can the failed record reappear after recovery (a
  // duplicate of what the producer will resend, never a loss).
  void Append(QueueRecord record, AppendCallback done) override;

  // Thread-safe. A new consumer starts at the oldest stored record; its cursor file is created
  // durably before this returns. FailedPrecondition if a consumer object of that name is already
  // open in this process; DataLoss if its cursor file is unreadable or points at records that
  // are no longer stored.
  Result<std::unique_ptr<QueueConsumer>> OpenConsumer(std::string_view name) override;

  // Thread-safe. Removes the cursor file durably (then the consumer stops holding retention).
  // FailedPrecondition if a consumer object of that name is open.
  Status DropConsumer(std::string_view name) override;

  // Thread-safe. Lists every durable consumer (every cursor file), open or not.
  QueueStats Stats() const override;

  // Thread-safe. True when an append of the largest allowed record would be refused for space,
  // and for one second after a write failed for lack of disk space (then the next append probes).
  bool Full() const override;

  // Thread-safe and idempotent: refuses new appends with Unavailable, writes everything already
  // accepted (durable or failed), and joins the threads.
  void Shutdown() override;

  // Runs one retention pass now (the maintenance thread runs one every second, and at once when
  // an append is refused for space). A sealed segment is deleted when every durable consumer has
  // committed past its last record and it is older than retention_s; when the log is at
  // queue_bytes_max, consumed segments are deleted before their age. With no consumer at all,
  // nothing is ever deleted. Returns how many segments were deleted. Thread-safe.
  std::size_t EnforceRetention();

  // The base offsets of the segment files, oldest first (the last one is being written).
  std::vector<QueueOffset> SegmentBaseOffsets() const;

  class Core;  // shared with consumers; defined in embedded_log.cc

 private:
  explicit EmbeddedLog(std::shared_ptr<Core> core);

  std::shared_ptr<Core> core_;
};

}  // namespace firehose
