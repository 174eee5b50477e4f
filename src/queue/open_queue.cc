#include "queue/open_queue.h"

#include "queue/embedded_log.h"

namespace firehose {

Result<std::unique_ptr<Queue>> OpenQueue(const Config& config) {
  switch (config.queue.backend) {
    case QueueBackend::kEmbedded: {
      FH_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedLog> log,
                          EmbeddedLog::Open(config.data_dir / "queue", config.limits));
      return std::unique_ptr<Queue>(std::move(log));
    }
    case QueueBackend::kJetStream:
      return Unavailable("the jetstream queue backend is not built into this binary yet");
  }
  return InvalidArgument("unknown queue backend");
}

}  // namespace firehose
