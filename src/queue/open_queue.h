// Opens the queue backend the config selects ([queue] backend): the embedded log in
// <data_dir>/queue (default) or NATS JetStream.
#pragma once

#include <memory>

#include "core/config.h"
#include "queue/queue.h"

namespace firehose {

Result<std::unique_ptr<Queue>> OpenQueue(const Config& config);

}  // namespace firehose
