// `firehose run` books the ledger by itself: the simulator sends a past business day's signed
// webhooks through the real edge, the day closes (close_delay_s = 0), and the scheduler hosted
// by `firehose run` books it — and re-runs it while later files land — until the partners'
// settlement statements, written from the simulator's truth, reconcile to the minor unit.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/process.h"

namespace firehose {
namespace {

using json = nlohmann::json;
using testing::ChildProcess;
using testing::RunCommand;
using testing::TempDir;

constexpr const char* kDay = "2026-11-20";  // long closed: due as soon as it has lake data

TEST(RunLedger, RunBooksAClosedDayByItselfAndItReconcilesToTheCent) {
  TempDir dir;
  const std::uint16_t port = testing::FreePort();
  const std::string config = (dir.path() / "firehose.toml").string();
  ASSERT_EQ(RunCommand({FIREHOSE_BINARY, "sim", "config", "--partners", "6", "--out",
                        dir.path().string(), "--port", std::to_string(port)},
                       nullptr),
            0);
  {
    std::ofstream file(config, std::ios::app);
    file << "\n[ledger]\nclose_delay_s = 0\nschedule_tick_s = 1\n"
         << "\n[limits]\nlake_roll_age_ms = 200\n";
  }
  ChildProcess server;
  ASSERT_TRUE(
      server.Start({FIREHOSE_BINARY, "run", "--config", config}, {}, dir.path() / "server.log"));
  ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, std::chrono::seconds(20)));

  const std::string truth = (dir.path() / "truth").string();
  std::string sent;
  ASSERT_EQ(RunCommand({FIREHOSE_BINARY, "sim", "run", "--config", config, "--target",
                        "http://127.0.0.1:" + std::to_string(port), "--events", "4000", "--day",
                        kDay, "--seed", "5", "--truth", truth},
                       &sent),
            0)
      << sent;

  // Nobody runs `ledger run`: the scheduler books the day (and re-runs it as files land). A
  // command is run again until it exits 0 or the deadline passes; its exit status.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  const auto until_ok = [&](const std::vector<std::string>& argv, std::string* out) {
    int code = RunCommand(argv, out);
    while (code != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      code = RunCommand(argv, out);
    }
    return code;
  };
  const std::string statements = truth + "/statements.csv";
  std::string report;
  ASSERT_EQ(until_ok({FIREHOSE_BINARY, "reconcile", "--json", "--day", kDay, "--statements",
                      statements, "--config", config},
                     &report),
            0)
      << report;
  const json reconciled = json::parse(report);
  EXPECT_TRUE(reconciled["ok"].get<bool>());
  EXPECT_GT(reconciled["matched"].get<int>(), 3);

  // The neighbouring days hold the sends that straddle midnight; a file can land for one of them
  // after its last run, and the scheduler re-runs it on its next tick: every day settles.
  std::string status;
  ASSERT_EQ(until_ok({FIREHOSE_BINARY, "ledger", "status", "--json", "--config", config}, &status),
            0)
      << status;
  bool booked = false;
  for (const json& day : json::parse(status)) {
    if (day["business_date"] == kDay) booked = day["state"] == "ok";
  }
  EXPECT_TRUE(booked) << status;

  server.Kill(SIGTERM);
  EXPECT_EQ(server.Wait(std::chrono::seconds(60)), 0);
}

}  // namespace
}  // namespace firehose
