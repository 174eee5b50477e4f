// `firehose demo` as a new user runs it (bounded by --duration): it exits 0, the poll partners'
// feeds were read through their faults, the lake holds what the simulator's truth says, the
// day's ledger reconciles with the partners' statements to the minor unit, the alerts its fault
// schedule fired have resolved, and the dashboard and ops API answer while it runs.
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
                              " --duration 60 --port " + std::to_string(port) + " --data-dir " +
                              (dir.path() / "demo").string() + " > " + out_path + " 2> " +
                              (dir.path() / "demo.log").string();
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(demo.Start({"/bin/sh", "-c", command}));

  // While it runs: the dashboard page and the ops API answer.
  ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, std::chrono::seconds(30)));
  const testing::HttpAnswer page = testing::HttpGet(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  const testing::HttpAnswer partners = testing::HttpGet(port, "/api/ops/partners");
  ASSERT_EQ(partners.status, 200);
  EXPECT_NE(partners.body.find("p000"), std::string::npos) << partners.body;
  EXPECT_NE(partners.body.find("p002-poll"), std::string::npos) << partners.body;
  const json listed = json::parse(partners.body, nullptr, /*allow_exceptions=*/false);
  const json& rows = listed.is_object() && listed.contains("partners") ? listed["partners"] : listed;
  EXPECT_GE(rows.size(), 50u) << "the demo's fleet has at least 50 partners: " << partners.body;

  // The report is printed when the day is booked; the demo then keeps serving until 60 s.
  std::string text;
  json report;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(200);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream out(out_path);
    text.assign(std::istreambuf_iterator<char>(out), std::istreambuf_iterator<char>());
    report = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (report.is_object()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(report.is_object()) << "no report within 200 s: " << text;
  // (Under sanitizers the report itself may take most of the 60 s.)
  if (std::chrono::steady_clock::now() - started < std::chrono::seconds(50)) {
    EXPECT_EQ(testing::HttpGet(port, "/api/ops/alerts").status, 200);
    EXPECT_EQ(testing::HttpGet(port, "/").status, 200);
  }
  ASSERT_EQ(demo.Wait(std::chrono::seconds(120)), 0);
  EXPECT_TRUE(report["lake_matches_truth"].get<bool>()) << text;
  const json& ledger = report["ledger"];
  EXPECT_TRUE(ledger["reconciliation"]["ok"].get<bool>()) << text;
  EXPECT_GT(ledger["reconciliation"]["matched"].get<int>(), 10) << text;
  EXPECT_GT(ledger["transactions"].get<std::int64_t>(), 2000) << text;
  EXPECT_GT(ledger["duplicates_removed"].get<std::int64_t>(), 0) << text;
  EXPECT_EQ(ledger["digest"].get<std::string>().size(), 64u);

  // Webhook and poll partners, at least 50 in all; the poller read every feed through the
  // fault schedule's 429s and 503s.
  const json& polled = report["polled"];
  EXPECT_TRUE(polled["all_served"].get<bool>()) << text;
  EXPECT_GE(polled["partners"].get<int>(), 15) << text;
  EXPECT_GT(polled["answers"].value("429", 0), 0) << text;
  EXPECT_GT(polled["answers"].value("503", 0), 0) << text;

  // The faults fired alerts, and every one resolved once the traffic was clean again.
  const json& alerts = report["alerts"];
  EXPECT_FALSE(alerts["fired"].empty()) << text;
  EXPECT_EQ(alerts["still_firing"].get<int>(), 0) << text;
  for (const json& alert : alerts["fired"]) EXPECT_TRUE(alert["resolved"].get<bool>()) << alert;
}

}  // namespace
}  // namespace firehose
