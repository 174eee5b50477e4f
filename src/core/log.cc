#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace firehose {

void InitLogging(std::string_view level, bool json) {
  auto logger = spdlog::stderr_color_mt("firehose");
  if (json) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

bool LogThrottle::Allow(std::string_view key, Clock::time_point now, std::uint64_t* held_back) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(std::string(key));
  if (found == entries_.end()) {
    if (entries_.size() >= keys_max_) entries_.clear();
    entries_.emplace(std::string(key), Entry{now, 0});
    *held_back = 0;
    return true;
  }
  Entry& entry = found->second;
  if (now - entry.logged_at < interval_) {
    ++entry.held_back;
    return false;
  }
  *held_back = entry.held_back;
  entry = Entry{now, 0};
  return true;
}

}  // namespace firehose
