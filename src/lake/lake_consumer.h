// The `lake` queue consumer: feeds the lake writer from the durable queue and commits the
// consumer cursor after each published range.
//
// Exactly-once comes from the writer's manifests, not from the cursor: at start (and after any
// error) the writer recovers and the consumer is moved to max(cursor, one past the last
// manifest). The cursor only saves re-reading; a crash between a manifest and its Commit costs
// nothing but that Seek.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>

#include "core/config.h"
#include "core/status.h"
#include "queue/queue.h"

namespace firehose::lake {

struct LakeConsumerOptions {
  std::size_t fetch_records_max = 4096;
  std::size_t fetch_bytes_max = 0;  // 0: limits.consumer_fetch_bytes_max
  // Longest wait for records while no range is open (an open range waits at most until its
  // age roll).
  std::chrono::milliseconds idle_wait{200};
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{10000};
  // LakeWriterOptions::fence for the writer (empty: none).
  std::function<Status()> fence;
  // On stop, how long the consumer keeps landing what the queue already holds.
  std::chrono::milliseconds stop_drain_max{10000};
};

// Lands records until `stop` becomes true, then lands what the queue still holds (at most
// stop_drain_max; the caller stops the producers first), publishes the open range, commits and
// returns OK. Operating errors (a full disk, an I/O error, a queue hiccup) are logged, counted and
// retried with capped exponential backoff: the writer recovers and the queue redelivers from
// the writer's next offset, so nothing is lost or landed twice. Nothing is written after an
// error until both the recovery and that Seek have succeeded (each failure is counted as
// firehose_errors_total{stage="lake",kind="recover"|"seek"} and retried); a stop that comes
// first returns OK without draining. Returns an error only if the lake cannot be opened at all
// (or the queue not positioned at start), or the final publication fails.
Status RunLakeConsumer(const Config& config, QueueConsumer& consumer, const std::atomic<bool>& stop,
                       LakeConsumerOptions options = {});

}  // namespace firehose::lake
