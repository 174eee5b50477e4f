// Helpers for the poller's integration tests: a config with poll partners pointing at the
// simulator's poll server, feeds of mappable items, and what the queue holds afterwards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "queue/queue.h"
#include "sim/poll_server.h"

namespace firehose::testing {

// Items {"id":"<partner>-<i>","amount":"<i>.25","currency":"USD","status":"ok","ts":...}.
std::vector<std::string> MakeItems(const std::string& partner, std::size_t count);

struct PollPartnerSpec {
  std::string id;
  bool batch_mapping = false;  // the mapping reads the page as a batch at /data
  PollPagination pagination = PollPagination::kCursor;
  PollAuthKind auth = PollAuthKind::kBearer;
  std::size_t items = 100;
  std::int64_t page_size = 25;
  std::vector<sim::PollFaultWindow> faults;
  std::string url_override;  // instead of the poll server's URL (a dead port)
};

// The poll feeds the server serves for `specs` (secret "secret-<id>").
std::vector<sim::PollFeed> MakeFeeds(const std::vector<PollPartnerSpec>& specs);

// Config TOML for `specs`, polling `server_port` (interval 100 ms, short backoff), with
// `data_dir` and extra `[limits]` lines.
std::string PollConfigText(const std::vector<PollPartnerSpec>& specs, std::uint16_t server_port,
                           const std::filesystem::path& data_dir, const std::string& limits = "",
                           std::uint16_t listen_port = 0);

// Every txn_id in the queue records of each partner (every copy) that the durable consumer
// "check" has not read yet (it commits what it read), mapped with the real mapper. Fails the test
// on a record that is not source=poll or does not map.
std::map<std::string, std::multiset<std::string>> ReadPolledTxnIds(Queue& queue,
                                                                   const Config& config);

}  // namespace firehose::testing
