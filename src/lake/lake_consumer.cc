#include "lake/lake_consumer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "core/metrics.h"
#include "lake/lake_writer.h"

namespace firehose::lake {

namespace {

class LakeConsumerLoop {
 public:
  LakeConsumerLoop(QueueConsumer& consumer, const std::atomic<bool>& stop,
                   LakeConsumerOptions options)
      : consumer_(consumer),
        stop_(stop),
        options_(options),
        backoff_(options.retry_backoff_initial) {}

  Status Run(LakeWriter& writer) {
    FH_RETURN_IF_ERROR(Resync(writer));
    while (!stop_.load(std::memory_order_relaxed)) {
      const Status status = Step(writer);
      if (status.ok()) {
        backoff_ = options_.retry_backoff_initial;
        continue;
      }
      CountError("consumer");
      spdlog::error("lake: {}; recovering and retrying in {} ms", status.ToString(),
                    backoff_.count());
      if (!RecoverAndResync(writer)) {
        // Landing anything (even the drain) from the stale position would skip records; what
        // the writer dropped is still in the queue and lands at the next start.
        spdlog::warn(
            "lake: stopped before the writer and the queue agreed again; the queue's "
            "unlanded records land at the next start");
        return Status::Ok();
      }
    }
    Drain(writer);
    FH_RETURN_IF_ERROR(writer.Flush());
    CommitPublished(writer);
    return Status::Ok();
  }

 private:
  // Stopping: the producers (edge, poller) stopped first, so what the queue holds now is all
  // there is; land it, within options_.stop_drain_max, so that a graceful stop leaves the lake
  // complete. A failure, or more than fits in that time, leaves records in the queue: they land
  // at the next start, as after a crash.
  void Drain(LakeWriter& writer) {
    const auto until = std::chrono::steady_clock::now() + options_.stop_drain_max;
    while (std::chrono::steady_clock::now() < until) {
      Result<std::vector<Delivery>> batch = consumer_.Fetch(
          options_.fetch_records_max, options_.fetch_bytes_max, std::chrono::milliseconds(0));
      if (!batch.ok()) {
        spdlog::warn("lake: stopping without draining the queue: {}", batch.status().ToString());
        return;
      }
      if (batch->empty()) return;
      if (const Status written = writer.Write(*batch); !written.ok()) {
        spdlog::warn("lake: stopping without draining the queue: {}", written.ToString());
        const Status recovered = writer.Recover();  // drop the open range; it is redelivered
        if (!recovered.ok()) spdlog::error("lake: recovery failed: {}", recovered.ToString());
        return;
      }
      CommitPublished(writer);
    }
    spdlog::warn("lake: stopped after draining the queue for {} ms; the rest lands at the next start",
                 options_.stop_drain_max.count());
  }

  Status Step(LakeWriter& writer) {
    std::chrono::milliseconds wait = options_.idle_wait;
    if (const auto until_roll = writer.ms_until_roll()) {
      wait = std::min(wait, std::chrono::milliseconds(*until_roll));
    }
    FH_ASSIGN_OR_RETURN(
        const std::vector<Delivery> batch,
        consumer_.Fetch(options_.fetch_records_max, options_.fetch_bytes_max, wait));
    FH_RETURN_IF_ERROR(writer.Write(batch));  // rolls by age too
    CommitPublished(writer);
    return Status::Ok();
  }

  // After an error the writer has dropped its unpublished range, but the queue is positioned
  // after the last batch fetched: records in between are in no published range. Nothing may be
  // written until Recover and the Seek back to the writer's next offset have both succeeded;
  // a record written from the stale position would open a range after that hole, its Commit
  // would move the cursor past it, and no restart would read it again. Retries both with capped
  // exponential backoff (one more attempt once `stop` is seen, so that a stop can still drain);
  // false if stopping before they succeeded.
  bool RecoverAndResync(LakeWriter& writer) {
    while (true) {
      Sleep(backoff_);
      backoff_ = std::min(backoff_ * 2, options_.retry_backoff_max);
      if (const Status recovered = writer.Recover(); !recovered.ok()) {
        CountError("recover");
        spdlog::error("lake: recovery failed: {}; retrying in {} ms", recovered.ToString(),
                      backoff_.count());
      } else if (const Status resynced = Resync(writer); !resynced.ok()) {
        CountError("seek");
        spdlog::error("lake: seeking the queue failed: {}; retrying in {} ms", resynced.ToString(),
                      backoff_.count());
      } else {
        return true;
      }
      if (stop_.load(std::memory_order_relaxed)) return false;
    }
  }

  // Delivery resumes after everything the writer's manifests prove published.
  Status Resync(LakeWriter& writer) {
    const QueueOffset next = std::max(consumer_.committed_next(), writer.next_offset());
    FH_RETURN_IF_ERROR(consumer_.Seek(next));
    writer.ResumeAt(next);
    committed_ = writer.published_through();
    return Status::Ok();
  }

  static void CountError(const std::string& kind) {
    Metrics().CounterFor("firehose_errors_total", {{"stage", "lake"}, {"kind", kind}}).Add();
  }

  // The cursor saves re-reading after a restart; a failed commit costs only that.
  void CommitPublished(const LakeWriter& writer) {
    const std::optional<QueueOffset> published = writer.published_through();
    if (!published || (committed_ && *committed_ >= *published)) return;
    const Status status = consumer_.Commit(*published);
    if (!status.ok()) {
      spdlog::warn("lake: committing the queue cursor at {} failed: {}", published->value(),
                   status.ToString());
      return;
    }
    committed_ = published;
  }

  void Sleep(std::chrono::milliseconds duration) {
    const auto until = std::chrono::steady_clock::now() + duration;
    while (!stop_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  QueueConsumer& consumer_;
  const std::atomic<bool>& stop_;
  const LakeConsumerOptions options_;
  std::chrono::milliseconds backoff_;
  std::optional<QueueOffset> committed_;
};

}  // namespace

Status RunLakeConsumer(const Config& config, QueueConsumer& consumer, const std::atomic<bool>& stop,
                       LakeConsumerOptions options) {
  if (options.fetch_bytes_max == 0) {
    options.fetch_bytes_max = static_cast<std::size_t>(config.limits.consumer_fetch_bytes_max);
  }
  LakeWriterOptions writer_options = LakeWriterOptions::FromConfig(config);
  writer_options.fence = options.fence;
  writer_options.contiguous_offsets = consumer.contiguous_offsets();
  FH_ASSIGN_OR_RETURN(std::unique_ptr<LakeWriter> writer,
                      LakeWriter::Open(config, std::move(writer_options)));
  spdlog::info("lake: writer {} starts at queue offset {}", config.lake.writer_id,
               writer->next_offset().value());
  return LakeConsumerLoop(consumer, stop, options).Run(*writer);
}

}  // namespace firehose::lake
