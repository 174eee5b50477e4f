// `firehose sim config` and `firehose sim run` as a user runs them: the real binary, a config on
// disk, and an HTTP server on 127.0.0.1 that checks signatures and maps bodies like the edge.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/sender.h"
#include "sim/test_http_server.h"
#include "sim/test_support.h"
#include "sim/truth.h"

namespace firehose {
namespace {

using sim::testing::FakeEdge;
using sim::testing::MakeReply;
using sim::testing::Received;
using sim::testing::Reply;
using sim::testing::TempDir;
using sim::testing::TestServer;

struct ProcessRun {
  int exit_code = -1;
  std::string out;
};

ProcessRun Firehose(const std::string& arguments) {
  const std::string command = std::string(FIREHOSE_BINARY) + " " + arguments + " 2>/dev/null";
  ProcessRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    run.out.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class SimCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ProcessRun config = Firehose("sim config --partners 9 --seed 5 --out " + Dir());
    ASSERT_EQ(config.exit_code, 0) << config.out;
    ASSERT_EQ(Firehose("config check " + ConfigPath()).exit_code, 0);
    auto loaded = LoadConfigOrStatus(ConfigPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    config_ = std::move(loaded).value();
  }

  std::string Dir() const { return dir_.path().string(); }
  std::string ConfigPath() const { return (dir_.path() / "firehose.toml").string(); }
  std::string RunArguments(const TestServer& server, const std::string& name) const {
    return "sim run --config " + ConfigPath() + " --target " + server.url() +
           " --events 400 --day 2025-11-27 --seed 9 --concurrency 3 --truth " + Dir() + "/" + name +
           " --acks " + Dir() + "/" + name + ".acks --json";
  }

  TempDir dir_;
  Config config_;
};

TEST_F(SimCliTest, TheSameSeedGivesTheSameTruthWhateverTheServerMadeUsRetry) {
  FakeEdge edge(config_);
  std::size_t requests = 0;
  TestServer server([&](const Received& request) -> Reply {
    if (++requests % 7 == 0) return MakeReply(503, R"({"error":"queue_full"})", "0");
    return edge.Answer(request);
  });
  const ProcessRun first = Firehose(RunArguments(server, "first"));
  ASSERT_EQ(first.exit_code, 0) << first.out;
  requests = 3;  // a different retry pattern the second time
  const ProcessRun second = Firehose(RunArguments(server, "second"));
  ASSERT_EQ(second.exit_code, 0) << second.out;

  const nlohmann::json summary = nlohmann::json::parse(first.out);
  EXPECT_TRUE(summary["ok"].get<bool>());
  EXPECT_GT(summary["retries"].get<int>(), 0);
  EXPECT_GT(summary["answers"]["401"].get<int>(), 0) << "bad signatures were sent and refused";
  const std::string truth = ReadText(dir_.path() / "first" / "truth.json");
  EXPECT_EQ(truth, ReadText(dir_.path() / "second" / "truth.json"));
  EXPECT_EQ(ReadText(dir_.path() / "first" / "statements.csv"),
            ReadText(dir_.path() / "second" / "statements.csv"));

  auto parsed = sim::ParseTruthJson(truth);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(parsed->complete);
  EXPECT_EQ(parsed->counts.transactions, 400);
  auto acks = sim::ReadAckFile(dir_.path() / "first.acks");
  ASSERT_TRUE(acks.ok());
  EXPECT_EQ(static_cast<std::int64_t>(acks->size()),
            summary["sends"]["acknowledged"].get<std::int64_t>());
  EXPECT_EQ(parsed->counts.sends_acked, summary["sends"]["acknowledged"].get<std::int64_t>());
}

TEST_F(SimCliTest, UndeliverableSendsMakeTheRunFail) {
  TestServer server(
      [](const Received&) { return MakeReply(404, R"({"error":"unknown_partner"})"); });
  const ProcessRun run = Firehose(RunArguments(server, "refused"));
  EXPECT_EQ(run.exit_code, 1);
  const nlohmann::json summary = nlohmann::json::parse(run.out);
  EXPECT_FALSE(summary["ok"].get<bool>());
  EXPECT_GT(summary["sends"]["failed"].get<int>(), 0);
  auto truth = sim::ReadTruthFile(dir_.path() / "refused" / "truth.json");
  ASSERT_TRUE(truth.ok());
  EXPECT_FALSE(truth->complete);
  EXPECT_EQ(truth->counts.transactions, 0);
}

TEST_F(SimCliTest, UsageErrorsAndBadInputsHaveTheirExitCodes) {
  EXPECT_EQ(Firehose("sim run --config " + ConfigPath() + " --target http://127.0.0.1:1").exit_code,
            2);
  EXPECT_EQ(
      Firehose("sim run --config " + ConfigPath() + " --target http://127.0.0.1:1 --day 2025-02-30")
          .exit_code,
      3);
  EXPECT_EQ(Firehose("sim run --config " + ConfigPath() +
                     " --target http://127.0.0.1:1 --day 2025-02-03 --faults x")
                .exit_code,
            3);
  EXPECT_EQ(Firehose("sim config --partners 0 --out " + Dir() + "/none").exit_code, 3);
}

}  // namespace
}  // namespace firehose
