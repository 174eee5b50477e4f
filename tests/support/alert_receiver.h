// A real HTTP server on 127.0.0.1 that records every alert notification POSTed to it (an
// [[ops.destinations]] url), with its arrival time, for tests of the ops alerts through the
// real binary. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace firehose::edge {
class HttpServer;
}

namespace firehose::testing {

class AlertReceiver {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts listening on a free port (fails the test if it cannot).
  AlertReceiver();
  ~AlertReceiver();
  AlertReceiver(const AlertReceiver&) = delete;
  AlertReceiver& operator=(const AlertReceiver&) = delete;

  // http://127.0.0.1:<port>/alerts
  std::string url() const;

  // When the first notification with this status ("firing", "resolved"), rule and subject
  // arrived, waiting up to `timeout` for it. An empty subject matches any subject.
  std::optional<Clock::time_point> WaitFor(std::string_view status, std::string_view rule,
                                           std::string_view subject, Clock::duration timeout);
  // Notifications received so far with this status, rule and subject (empty: any subject).
  int Count(std::string_view status, std::string_view rule, std::string_view subject);
  // Every notification received so far, in arrival order.
  std::vector<nlohmann::json> All();

 private:
  static bool Matches(const nlohmann::json& body, std::string_view status, std::string_view rule,
                      std::string_view subject);

  std::unique_ptr<edge::HttpServer> server_;
  std::mutex mutex_;
  std::vector<std::pair<Clock::time_point, nlohmann::json>> received_;
};

}  // namespace firehose::testing
