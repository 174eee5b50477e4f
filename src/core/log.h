// Logging setup. Every stage logs through spdlog's default logger; lines carry the partner id
// where there is one, and never a secret (see core/secret.h).
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace firehose {

// level: trace|debug|info|warn|error|off. `json` switches to one JSON object per line.
void InitLogging(std::string_view level, bool json = false);

// One line per key per interval, and a count of the lines held back: bad input gets its log line
// (DESIGN §10) without a partner that sends a thousand bad requests a second flooding the log.
// Holds at most `keys_max` keys (a new key beyond them starts the table afresh). Thread-safe.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogThrottle(std::chrono::milliseconds interval = std::chrono::seconds(1),
                       std::size_t keys_max = 4096)
      : interval_(interval), keys_max_(keys_max) {}

  // Whether to log a line for `key` at `now`; if so, *held_back is how many lines for it were
  // not logged since its last line.
  bool Allow(std::string_view key, Clock::time_point now, std::uint64_t* held_back);
  bool Allow(std::string_view key, std::uint64_t* held_back) {
    return Allow(key, Clock::now(), held_back);
  }

 private:
  struct Entry {
    Clock::time_point logged_at;
    std::uint64_t held_back = 0;
  };
  const std::chrono::milliseconds interval_;
  const std::size_t keys_max_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace firehose
