// `firehose run` as a real process, SIGKILLed at random moments while the simulator sends
// signed webhooks (and retries like a real partner), then restarted: afterwards every arrival
// that got a 2xx is in the lake exactly once (by arrival id and event index), no lake file is
// half-written, and `firehose lake verify` passes.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/time.h"
#include "lake/lake_format.h"
#include "sim/fleet.h"
#include "sim/generator.h"
#include "sim/sender.h"
#include "support/lake_contents.h"
#include "support/process.h"

namespace firehose {
namespace {

using testing::ChildProcess;
using testing::LakeContents;
using testing::ReadLake;
using testing::TempDir;

constexpr int kKillRounds = 6;

TEST(RunCrash, EveryAcknowledgedArrivalLandsExactlyOnceAcrossSigkills) {
  TempDir dir;
  const std::uint16_t port = testing::FreePort();
  auto fleet = sim::MakeFleet({9, 7});
  ASSERT_TRUE(fleet.ok());
  sim::ConfigFileOptions file_options;
  file_options.port = port;
  ASSERT_TRUE(sim::WriteConfigDirectory(*fleet, file_options, dir.path()).ok());
  const std::filesystem::path config_path = dir.path() / "firehose.toml";
  {
    // Short lake rolls: several ranges get published, so kills land between publications too.
    std::ofstream config(config_path, std::ios::app);
    config << "\n[limits]\nlake_roll_age_ms = 200\n";
  }
  const std::vector<std::string> server_argv = {FIREHOSE_BINARY, "run", "--config",
                                                config_path.string()};
  const std::filesystem::path log_path = dir.path() / "server.log";
  ChildProcess server;
  ASSERT_TRUE(server.Start(server_argv, {}, log_path));
  ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, std::chrono::seconds(20)));

  sim::GeneratorOptions generator;
  generator.seed = 11;
  generator.transactions = 6000;
  generator.day = BusinessCalendar().DateOf(NowUs());
  auto plan = sim::GeneratePlan(*fleet, generator);
  ASSERT_TRUE(plan.ok());
  sim::SenderOptions sender;
  sender.target = "http://127.0.0.1:" + std::to_string(port);
  sender.concurrency = 8;
  sender.backoff_initial_ms = 20;
  sender.backoff_max_ms = 300;
  sender.give_up_after_s = 120;
  Result<sim::SendReport> report = Internal("not sent");
  std::thread sending([&] { report = sim::SendPlan(*fleet, *plan, sender); });

  std::mt19937 random(12345);
  for (int round = 0; round < kKillRounds; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 500));
    server.Kill(SIGKILL);
    ASSERT_TRUE(server.Start(server_argv, {}, log_path)) << "restart " << round;
    ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, std::chrono::seconds(20)))
        << "restart " << round;
  }
  sending.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->failed, 0);
  EXPECT_EQ(report->unexpected, 0);

  // A graceful stop lands what the queue holds and publishes it (Platform's stop order).
  server.Kill(SIGTERM);
  ASSERT_EQ(server.Wait(std::chrono::seconds(60)), 0);

  const std::filesystem::path data_dir = dir.path() / "data";
  const LakeContents lake = ReadLake(data_dir);
  std::int64_t acknowledged = 0;
  for (std::size_t i = 0; i < plan->sends.size(); ++i) {
    const sim::SendResult& result = report->results[i];
    if (result.outcome != sim::Outcome::kAcknowledged) continue;
    ++acknowledged;
    const sim::ExpectedAnswer expected = sim::Expect(*plan, i);
    const auto raw = lake.raw_by_arrival.find(result.arrival_id);
    const auto quarantined = lake.quarantine_by_arrival.find(result.arrival_id);
    const std::size_t raw_lines = raw == lake.raw_by_arrival.end() ? 0 : raw->second.size();
    const std::size_t quarantine_lines =
        quarantined == lake.quarantine_by_arrival.end() ? 0 : quarantined->second.size();
    EXPECT_EQ(raw_lines, expected.events) << "arrival " << result.arrival_id;
    EXPECT_EQ(quarantine_lines, expected.quarantine_reasons.size())
        << "arrival " << result.arrival_id;
  }
  EXPECT_GT(acknowledged, 1000);
  // The kills must have hit the sending: some sends needed a retry after a dead connection.
  EXPECT_GT(report->retries, 0);
  std::printf("acknowledged %lld sends, %lld retries, %zu arrivals in the lake\n",
              static_cast<long long>(acknowledged), static_cast<long long>(report->retries),
              lake.raw_by_arrival.size() + lake.quarantine_by_arrival.size());
  // Exactly once: no (arrival, event index) twice, acknowledged or not.
  for (const auto& [arrival, indexes] : lake.raw_by_arrival) {
    EXPECT_EQ(std::set<std::int64_t>(indexes.begin(), indexes.end()).size(), indexes.size())
        << "arrival " << arrival << " landed twice";
  }
  for (const auto& [arrival, indexes] : lake.quarantine_by_arrival) {
    EXPECT_EQ(std::set<std::int64_t>(indexes.begin(), indexes.end()).size(), indexes.size())
        << "quarantined arrival " << arrival << " landed twice";
  }

  std::string verify_output;
  EXPECT_EQ(
      testing::RunCommand({FIREHOSE_BINARY, "lake", "verify", "--data-dir", data_dir.string()},
                          &verify_output),
      0)
      << verify_output;
  // Nothing half-written is visible: every file in a partition is a published part file.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data_dir / "lake")) {
    if (!entry.is_regular_file()) continue;
    const std::string relative =
        std::filesystem::relative(entry.path(), data_dir / "lake").string();
    if (relative.starts_with("_")) continue;  // manifests and the writer's own temp area
    lake::PartFile part;
    EXPECT_TRUE(lake::ParsePartFileName(entry.path().filename().string(), &part)) << relative;
  }
}

}  // namespace
}  // namespace firehose
