// The durable queue between the edge and its consumers (DESIGN §4).
//
// Two backends implement this interface: the embedded segmented log (queue/embedded_log.h,
// the default) and NATS JetStream (scale-out). Producers (the webhook edge, the poller) and
// consumers (lake, ops) are written against this interface only, and one contract test suite
// runs against both backends.
//
// What an acknowledged append promises:
//   embedded   the record's frame is written and fdatasync'd in the local log: it survives a
//              process crash and a power loss of this machine.
//   jetstream  the stream's leader and a quorum of replicas have stored it (PubAck); it
//              survives the loss of a minority of nodes. JetStream fsyncs on an interval
//              (2 min by default in nats-server 2.9), so a simultaneous power loss of a
//              quorum can lose recent acknowledged records.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "queue/record.h"

namespace firehose {

struct Delivery {
  QueueOffset offset;
  QueueRecord record;
};

// Reads a queue for one named, durable consumer ("lake", "ops"). Not thread-safe: one thread
// drives one consumer object.
class QueueConsumer {
 public:
  virtual ~QueueConsumer() = default;

  // Returns the records after the last one delivered, in offset order: at most `records_max`
  // and about `bytes_max` bytes (always at least one record when one is available). Waits up
  // to `wait` for the first record; an empty vector means none arrived in time. Only durable
  // records are delivered: a record the producer was not (yet) acknowledged for is never seen,
  // so a consumer never acts on a record that a crash could take back.
  virtual Result<std::vector<Delivery>> Fetch(std::size_t records_max, std::size_t bytes_max,
                                              std::chrono::milliseconds wait) = 0;

  // Durably records that every delivered record up to and including `offset` is processed.
  // After a restart, delivery resumes at the first record after the last commit.
  virtual Status Commit(QueueOffset offset) = 0;

  // The offset delivery resumes at after a restart (one past the last committed offset).
  virtual QueueOffset committed_next() const = 0;

  // Moves the read position (and the durable cursor) to `next`. The lake uses it when its own
  // manifests prove that records up to next-1 are already published.
  virtual Status Seek(QueueOffset next) = 0;

  // True if delivery never skips an offset: each Fetch continues at one past the last record
  // delivered (or at the Open / Seek position). The lake writer then refuses a record that does
  // not, as the sign of a read position gone wrong (lake/lake_writer.h).
  virtual bool contiguous_offsets() const = 0;
};

struct ConsumerStats {
  std::string name;
  QueueOffset committed_next;
  std::uint64_t lag_records = 0;  // durable records not yet committed by this consumer
};

struct QueueStats {
  QueueOffset first_offset;    // oldest record still stored
  QueueOffset next_offset;     // the offset the next durable append gets
  std::uint64_t bytes = 0;     // bytes stored
  std::uint64_t bytes_max = 0; // the limit at which appends are refused
  std::vector<ConsumerStats> consumers;
};

class Queue {
 public:
  using AppendCallback = std::function<void(Result<QueueOffset>)>;

  virtual ~Queue() = default;

  // Appends one record. Never blocks on I/O. `done` runs exactly once, on a queue-owned thread
  // (or inline when the append is refused at once), with:
  //   the record's offset       once it is durable (see the promise above);
  //   ResourceExhausted         queue at its size limit, disk full, too many appends in flight;
  //   Unavailable               shutting down, or the backend is unreachable;
  //   Internal                  an I/O error: the record is not durable and nothing of it will
  //                             ever be delivered.
  // `done` must be cheap and must not call Append (post work elsewhere instead).
  virtual void Append(QueueRecord record, AppendCallback done) = 0;

  // Opens (creating if needed) the durable consumer `name` ([a-z0-9_-]{1,64}).
  virtual Result<std::unique_ptr<QueueConsumer>> OpenConsumer(std::string_view name) = 0;

  // Deletes the durable consumer `name` (its cursor), so that it no longer holds retention; a
  // later OpenConsumer creates it afresh. For a consumer that is allowed to lose its place (ops,
  // approximate by design) when the process knows it does not run anywhere; never for "lake".
  // Ok if there is no such consumer; FailedPrecondition if it is open, or if the backend cannot
  // drop consumers (the default).
  virtual Status DropConsumer(std::string_view name) {
    return FailedPrecondition("this queue backend cannot drop consumer " + std::string(name));
  }

  virtual QueueStats Stats() const = 0;

  // Whether an append now would be refused for space (for /readyz and 503 before reading a
  // body).
  virtual bool Full() const = 0;

  // Stops accepting appends (they complete with Unavailable) and completes every append in
  // flight (durable, or failed). Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace firehose
