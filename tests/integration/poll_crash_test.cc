// `firehose run` as a real process polling the simulator's poll server, killed with SIGKILL
// mid-poll (at random moments, and once exactly between a page's durable append and its cursor
// save) and restarted: afterwards the lake holds every item the partners offered, at least once,
// and `firehose lake verify` passes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "core/file.h"
#include "lake/lake_line.h"
#include "lake/lake_reader.h"
#include "sim/poll_server.h"
#include "support/poll_harness.h"
#include "support/process.h"

// Partner specs name only the fields a test cares about (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace firehose {
namespace {

using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::PollPartnerSpec;

constexpr int kKillRounds = 5;

std::map<std::string, std::multiset<std::string>> LakeTxnIds(
    const std::filesystem::path& data_dir) {
  std::map<std::string, std::multiset<std::string>> ids;
  auto listing = lake::ListLake(lake::LakeRoot(data_dir));
  EXPECT_TRUE(listing.ok()) << listing.status().ToString();
  if (!listing.ok()) return ids;
  lake::RawLineParser parser(/*with_raw=*/false);
  for (const lake::LakeFile& file : listing->Files(lake::Zone::kRaw)) {
    auto reader = lake::LineReader::Open(lake::LakeRoot(data_dir) / file.file.path);
    EXPECT_TRUE(reader.ok()) << file.file.path;
    std::string_view line;
    while (reader.ok() && (*reader)->Next(&line).value()) {
      lake::RawLineView view;
      EXPECT_TRUE(parser.ParsePadded(line, &view).ok());
      EXPECT_EQ(view.source, "poll");
      ids[std::string(view.partner_id)].insert(std::string(view.txn_id));
    }
  }
  EXPECT_TRUE(listing->Files(lake::Zone::kQuarantine).empty());
  return ids;
}

TEST(PollCrash, NothingOfferedIsLostAcrossSigkillsMidPoll) {
  testing::TempDir dir;
  // Every answer of the first 15 s takes 20 ms: the paging outlasts the kills on any machine
  // (on a fast disk 700 pages would otherwise be read before the first kill).
  const std::vector<sim::PollFaultWindow> slow = {
      {sim::PollFaultKind::kSlow, milliseconds(0), milliseconds(15000), 0, milliseconds(20)}};
  const std::vector<PollPartnerSpec> specs = {
      {.id = "paged", .batch_mapping = true, .items = 3000, .page_size = 10, .faults = slow},
      {.id = "single", .items = 2000, .page_size = 10, .faults = slow},
      {.id = "since",
       .pagination = PollPagination::kSince,
       .auth = PollAuthKind::kBasic,
       .items = 2000,
       .page_size = 10,
       .faults = slow}};
  sim::PollServer server(testing::MakeFeeds(specs), sim::PollServerOptions{});
  ASSERT_TRUE(server.Start().ok());
  const std::uint16_t port = testing::FreePort();
  const std::filesystem::path config_path = dir.path() / "firehose.toml";
  ASSERT_TRUE(WriteFileAtomically(config_path,
                                  testing::PollConfigText(specs, server.port(), dir.path() / "data",
                                                          "lake_roll_age_ms = 200", port))
                  .ok());
  ASSERT_EQ(::chmod(config_path.c_str(), 0600), 0);
  const std::vector<std::string> argv = {FIREHOSE_BINARY, "run", "--config", config_path.string()};
  const std::filesystem::path log_path = dir.path() / "server.log";

  // First life: dies exactly between the 7th page's durable append and its cursor save.
  ChildProcess firehose;
  ASSERT_TRUE(firehose.Start(argv, {"FIREHOSE_FAULTS=poll.cursor_save=crash@7"}, log_path));
  EXPECT_EQ(firehose.Wait(std::chrono::seconds(30)), 137);

  // Then random SIGKILLs while paging.
  std::mt19937 random(2026);
  for (int round = 0; round < kKillRounds; ++round) {
    ASSERT_TRUE(firehose.Start(argv, {}, log_path));
    ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, std::chrono::seconds(20))) << round;
    std::this_thread::sleep_for(milliseconds(150 + random() % 500));
    firehose.Kill(SIGKILL);
  }
  EXPECT_FALSE(server.AllServed()) << "the kills came too late to hit the paging";

  ASSERT_TRUE(firehose.Start(argv, {}, log_path));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!server.AllServed() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(server.AllServed());
  std::this_thread::sleep_for(milliseconds(1000));  // the last page's append and cursor
  firehose.Kill(SIGTERM);
  ASSERT_EQ(firehose.Wait(std::chrono::seconds(60)), 0);

  const auto ids = LakeTxnIds(dir.path() / "data");
  std::size_t copies = 0;
  for (const PollPartnerSpec& spec : specs) {
    const auto found = ids.find(spec.id);
    ASSERT_NE(found, ids.end()) << spec.id;
    std::set<std::string> expected;
    for (std::size_t i = 0; i < spec.items; ++i) expected.insert(spec.id + "-" + std::to_string(i));
    EXPECT_EQ(std::set<std::string>(found->second.begin(), found->second.end()), expected)
        << spec.id;
    copies += found->second.size() - spec.items;
  }
  // The page whose cursor save crashed was polled again: its items are in the lake twice.
  EXPECT_GT(copies, 0U);
  std::printf("lake: %zu re-polled duplicates (removed by the ledger)\n", copies);

  std::string verify_output;
  EXPECT_EQ(testing::RunCommand(
                {FIREHOSE_BINARY, "lake", "verify", "--data-dir", (dir.path() / "data").string()},
                &verify_output),
            0)
      << verify_output;
}

}  // namespace
}  // namespace firehose
