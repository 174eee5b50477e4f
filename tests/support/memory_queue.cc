#include "support/memory_queue.h"

namespace firehose::testing {

MemoryQueue::MemoryQueue(std::uint64_t bytes_max)
    : bytes_max_(bytes_max), thread_([this] { Run(); }) {}

MemoryQueue::~MemoryQueue() { Shutdown(); }

void MemoryQueue::Append(QueueRecord record, AppendCallback done) {
  Status refusal;
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t size = EncodedRecordSize(record);
    if (shutting_down_) {
      refusal = Unavailable("queue is shutting down");
    } else if (bytes_ + size > bytes_max_) {
      full_ = true;
      refusal = ResourceExhausted("queue full: at queue_bytes_max");
    } else {
      bytes_ += size;
      pending_.push_back({std::move(record), std::move(done)});
    }
  }
  if (!refusal.ok()) return done(refusal);  // refused at once: inline, as queue.h allows
  wake_.notify_one();
}

Result<std::unique_ptr<QueueConsumer>> MemoryQueue::OpenConsumer(std::string_view) {
  return FailedPrecondition("MemoryQueue has no consumers");
}

QueueStats MemoryQueue::Stats() const {
  std::lock_guard lock(mutex_);
  QueueStats stats;
  stats.next_offset = QueueOffset(records_.size());
  stats.bytes = bytes_;
  stats.bytes_max = bytes_max_;
  return stats;
}

bool MemoryQueue::Full() const {
  std::lock_guard lock(mutex_);
  return full_ || bytes_ >= bytes_max_;
}

void MemoryQueue::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_ && !thread_.joinable()) return;
    shutting_down_ = true;
    held_ = false;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MemoryQueue::Hold(bool held) {
  {
    std::lock_guard lock(mutex_);
    held_ = held;
  }
  wake_.notify_all();
}

void MemoryQueue::FailNext(Status status, int count) {
  std::lock_guard lock(mutex_);
  fail_status_ = std::move(status);
  fail_count_ = count;
}

std::size_t MemoryQueue::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

std::vector<QueueRecord> MemoryQueue::records() const {
  std::lock_guard lock(mutex_);
  return records_;
}

void MemoryQueue::Run() {
  for (;;) {
    std::deque<PendingAppend> batch;
    std::vector<Result<QueueOffset>> results;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return (!pending_.empty() && !held_) || (shutting_down_ && pending_.empty());
      });
      if (pending_.empty()) return;  // shutting down, nothing left
      batch.swap(pending_);
      for (PendingAppend& append : batch) {
        if (fail_count_ > 0) {
          --fail_count_;
          bytes_ -= EncodedRecordSize(append.record);
          results.emplace_back(fail_status_);
          continue;
        }
        results.emplace_back(QueueOffset(records_.size()));
        records_.push_back(append.record);
      }
    }
    // Callbacks run outside the lock, in offset order, on this thread.
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  }
}

}  // namespace firehose::testing
