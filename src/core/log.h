// Logging setup. Every stage logs through spdlog's default logger; lines carry the partner id
// where there is one, and never a secret (see core/secret.h).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace firehose {

// level: trace|debug|info|warn|error|off. `json` switches to one JSON object per line.
void InitLogging(std::string_view level, bool json = false);

}  // namespace firehose
