// A lease in a JetStream key-value bucket: at most one process at a time holds a key. Scale-out
// lake writers use it so that several `firehose land` processes for one writer id never publish
// the same queue range twice: only the holder reads the `lake` consumer and writes the writer's
// part of the lake; the others stand by and take over when the holder stops renewing.
//
// Protocol (bucket "<stream>_LEASES", history 1, replicated like the stream):
//   - Acquire: create the key if it does not exist; if the value is "released" take it at once;
//     otherwise watch its revision, and only after it stayed the same for jetstream_lease_ms
//     (measured on this process's monotonic clock) replace it. Every write is a compare-and-set
//     on the revision read, so of two contenders exactly one wins.
//   - The holder renews (compare-and-set) every lease/4. It counts itself the holder only until
//     (time the last successful renewal was sent) + 3/4 of the lease: a contender starts
//     counting after it saw that renewal, and waits a whole lease, so the holder has stopped
//     trusting its lease a quarter lease before anyone can take it over. A renewal that finds
//     another revision means the lease was taken: it is lost at once.
//   - Check() is the fence a lake writer calls right before each manifest write.
// What it does not protect against: a holder frozen (SIGSTOP, a VM pause) between Check() and
// its manifest write for longer than a quarter lease, and clocks whose rates differ by more
// than that margin. docs/scale-out.md says so.
//
// Thread safety: Acquire and Release from one thread; held() and Check() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/limits.h"
#include "core/status.h"

namespace firehose {

class JetStreamLease {
 public:
  // Connects (its own connection to config.nats_urls) and creates the bucket if needed.
  // `key`: [-_.A-Za-z0-9]+ (e.g. "lake-w0"); `holder` names this process in the value.
  static Result<std::unique_ptr<JetStreamLease>> Open(const QueueConfig& config,
                                                      const Limits& limits, std::string key,
                                                      std::string holder);
  ~JetStreamLease();
  JetStreamLease(const JetStreamLease&) = delete;
  JetStreamLease& operator=(const JetStreamLease&) = delete;

  // Blocks until this process holds the lease (true) or `stop` became true (false). Errors
  // talking to the servers are retried (logged), not returned.
  bool Acquire(const std::atomic<bool>& stop);
  // Whether the lease is held with validity left (see the protocol above).
  bool held() const;
  // OK while held(); FailedPrecondition naming the key otherwise.
  Status Check() const;
  // Stops renewing and marks the key "released" so that a standby takes over at once.
  void Release();

  class Impl;

 private:
  explicit JetStreamLease(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace firehose
