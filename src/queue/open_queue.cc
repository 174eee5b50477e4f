#include "queue/open_queue.h"

#include "queue/embedded_log.h"
#include "queue/jetstream_queue.h"

namespace firehose {

Result<std::unique_ptr<Queue>> OpenQueue(const Config& config) {
  switch (config.queue.backend) {
    case QueueBackend::kEmbedded: {
      FH_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedLog> log,
                          EmbeddedLog::Open(config.data_dir / "queue", config.limits));
      return std::unique_ptr<Queue>(std::move(log));
    }
    case QueueBackend::kJetStream: {
      FH_ASSIGN_OR_RETURN(std::unique_ptr<JetStreamQueue> queue,
                          JetStreamQueue::Open(config.queue, config.limits));
      return std::unique_ptr<Queue>(std::move(queue));
    }
  }
  return InvalidArgument("unknown queue backend");
}

}  // namespace firehose
