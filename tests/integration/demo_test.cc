// `firehose demo` as a new user runs it (bounded by --duration): it exits 0, the lake holds what
// the simulator's truth says, the day's ledger reconciles with the partners' statements to the
// minor unit, and the dashboard and ops API answer while it runs.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/process.h"

namespace firehose {
namespace {

using json = nlohmann::json;
using testing::ChildProcess;
using testing::TempDir;

TEST(Demo, ABoundedDemoReconcilesToTheCentAndServesTheDashboard) {
  TempDir dir;
  const std::uint16_t port = testing::FreePort();
  const std::string out_path = (dir.path() / "report.json").string();
  ChildProcess demo;
  // The JSON report on stdout, the log on stderr, as a user would redirect them.
  const std::string command = std::string(FIREHOSE_BINARY) + " demo --json --events 3000" +
                              " --duration 4 --port " + std::to_string(port) + " --data-dir " +
                              (dir.path() / "demo").string() + " > " + out_path + " 2> " +
                              (dir.path() / "demo.log").string();
  ASSERT_TRUE(demo.Start({"/bin/sh", "-c", command}));

  // While it runs: the dashboard page and the ops API answer.
  ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, std::chrono::seconds(30)));
  const testing::HttpAnswer page = testing::HttpGet(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  const testing::HttpAnswer partners = testing::HttpGet(port, "/api/ops/partners");
  ASSERT_EQ(partners.status, 200);
  EXPECT_NE(partners.body.find("p000"), std::string::npos) << partners.body;

  ASSERT_EQ(demo.Wait(std::chrono::seconds(240)), 0);
  std::ifstream out(out_path);
  const std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  const json report = json::parse(text);
  EXPECT_TRUE(report["lake_matches_truth"].get<bool>()) << text;
  const json& ledger = report["ledger"];
  EXPECT_TRUE(ledger["reconciliation"]["ok"].get<bool>()) << text;
  EXPECT_GT(ledger["reconciliation"]["matched"].get<int>(), 10) << text;
  EXPECT_GT(ledger["transactions"].get<std::int64_t>(), 2000) << text;
  EXPECT_GT(ledger["duplicates_removed"].get<std::int64_t>(), 0) << text;
  EXPECT_EQ(ledger["digest"].get<std::string>().size(), 64u);
}

}  // namespace
}  // namespace firehose
