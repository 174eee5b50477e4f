// The NATS JetStream queue backend (DESIGN §4, scale-out): the same Queue / QueueConsumer
// contract as the embedded log, on a replicated JetStream stream shared by every process.
//
// Mapping onto JetStream (docs/scale-out.md has the prose):
//   - One file-storage stream ([queue] stream, replicas), subjects firehose.raw.<partner_id>,
//     limits retention with discard-new at queue_bytes_max (a full stream refuses appends: the
//     edge answers 503), largest message record_bytes_max, duplicate window for Nats-Msg-Id.
//   - Append publishes asynchronously with Nats-Msg-Id = arrival id and completes `done` only on
//     the PubAck (the stream leader and a quorum stored it) or on a failure: many appends are in
//     flight at once (at most jetstream_in_flight_max), each waits at most
//     jetstream_ack_timeout_ms for its PubAck.
//   - The offset of a record is its stream sequence. A consumer is a durable pull consumer with
//     AckAll: Commit(offset) is a synchronous ack of the delivered message at that sequence,
//     which acknowledges everything before it.
//   - Deletion mirrors the embedded log: a record is purged only when every consumer named in
//     [queue] consumers has committed past it, and only retention_s after that was observed.
//
// Ordering: JetStream redelivers a delivered-but-unacked message after the consumer's ack wait,
// out of order. A consumer here never lets that reach its caller: on open it restarts the
// durable consumer at its ack floor (so a new process first gets what a dead one had been
// given), redeliveries of what it already handed out are dropped, and a hole in the sequence
// (a delivery lost on a broken connection) is reported as Unavailable after the durable
// consumer was restarted at the committed position: the caller recovers and seeks, as after any
// error. Deleting and recreating a durable consumer is safe because the stream uses limits
// retention (deleting a consumer never deletes records).
//
// One process at a time may use a durable consumer (the lake takes a lease for it: see
// queue/jetstream_lease.h). Thread safety as in queue.h.
//
// Metrics (docs/instrumentation.md), stage="queue": received / accepted / rejected{reason:
// shutting_down, in_flight_full, queue_full, record_too_large, invalid_record, unavailable,
// timeout} per partner; written_events; errors{kind: publish, consumer, purge}.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "core/config.h"
#include "core/limits.h"
#include "core/status.h"
#include "queue/queue.h"

namespace firehose {

// "firehose.raw.<partner_id>": the subject a partner's records are published on.
std::string JetStreamSubject(std::string_view partner_id);

// Runs `attempt` until it succeeds, fails with FailedPrecondition (waiting will not help) or 15 s
// have passed, logging each failure: a cluster that just started, or lost its meta leader to a
// killed node, times out or answers "JetStream temporarily unavailable" for a few seconds. What
// every process opening the stream, its consumers or the lease bucket waits out at start-up.
Status RetryWhileJetStreamSettles(const std::function<Status()>& attempt);

class JetStreamQueue final : public Queue {
 public:
  // Connects to `config.nats_urls` (reconnecting forever afterwards), creates the stream if it
  // does not exist (an existing stream is used as it is) and every consumer named in
  // `config.consumers` that does not exist yet (so that nothing is purged before its first
  // reader starts). Unavailable if no server answers.
  static Result<std::unique_ptr<JetStreamQueue>> Open(const QueueConfig& config,
                                                      const Limits& limits);
  ~JetStreamQueue() override;
  JetStreamQueue(const JetStreamQueue&) = delete;
  JetStreamQueue& operator=(const JetStreamQueue&) = delete;

  // Besides queue.h's outcomes: InvalidArgument for a record the stream can never take (no
  // arrival id or partner id, over record_bytes_max); Unavailable while disconnected, for no
  // PubAck within jetstream_ack_timeout_ms (the record may still have been stored: a retry is
  // a new arrival, which the ledger's dedup absorbs) and for no JetStream responders.
  void Append(QueueRecord record, AppendCallback done) override;

  // See the ordering note above. A consumer object holds its own inbox subscription; its Seek
  // recreates the durable consumer at the new position (FailedPrecondition before the oldest
  // stored record). FailedPrecondition if a consumer of that name is already open in this
  // process.
  Result<std::unique_ptr<QueueConsumer>> OpenConsumer(std::string_view name) override;

  // Deletes the durable consumer (OK if there is none). FailedPrecondition if a consumer object
  // of that name is open in this process. Other processes' consumers are not seen: the caller
  // knows that nothing else reads it (queue.h).
  Status DropConsumer(std::string_view name) override;

  // Asks the servers (a few requests): stream state and every consumer of the stream.
  QueueStats Stats() const override;

  // True for a second after the stream refused an append for space.
  bool Full() const override;

  void Shutdown() override;

  // Runs one retention pass now (a maintenance thread runs one every 10 s); returns how many
  // records were purged.
  Result<std::uint64_t> EnforceRetention();

  class Core;  // shared with consumers; defined in jetstream_queue.cc

 private:
  explicit JetStreamQueue(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace firehose
