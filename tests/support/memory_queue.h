// An in-memory Queue for tests of producers (the edge): appends complete on the queue's own
// thread like the real backends', and a test can hold completions, make appends fail with a
// chosen Status, or set a small size limit. It stores records in memory only: use the
// embedded log where durability is the point.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "queue/queue.h"

namespace firehose::testing {

class MemoryQueue : public Queue {
 public:
  // Appends that would take the stored bytes past `bytes_max` are refused (ResourceExhausted)
  // and Full() is true from then on.
  explicit MemoryQueue(std::uint64_t bytes_max = std::numeric_limits<std::uint64_t>::max());
  ~MemoryQueue() override;

  void Append(QueueRecord record, AppendCallback done) override;
  // Not supported: FailedPrecondition.
  Result<std::unique_ptr<QueueConsumer>> OpenConsumer(std::string_view name) override;
  QueueStats Stats() const override;
  bool Full() const override;
  void Shutdown() override;

  // While held, appends wait (not stored, callbacks not run) until Hold(false).
  void Hold(bool held);
  // The next `count` appends complete with `status` and are not stored.
  void FailNext(Status status, int count = 1);
  // Appends accepted but not completed yet.
  std::size_t pending() const;
  // Every stored record, in offset order (offsets start at 0).
  std::vector<QueueRecord> records() const;

 private:
  struct PendingAppend {
    QueueRecord record;
    AppendCallback done;
  };
  void Run();

  const std::uint64_t bytes_max_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingAppend> pending_;
  std::vector<QueueRecord> records_;
  std::uint64_t bytes_ = 0;  // stored + pending record bytes
  bool full_ = false;        // an append was refused for space (nothing is ever freed here)
  bool held_ = false;
  bool shutting_down_ = false;
  Status fail_status_;
  int fail_count_ = 0;
  std::thread thread_;
};

}  // namespace firehose::testing
