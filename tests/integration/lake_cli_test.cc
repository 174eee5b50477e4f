// `firehose lake ...` and `firehose quarantine ...` as a user runs them: the real binary on a
// lake written by the real writer (lake_fixture), checking output and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lake/lake_reader.h"
#include "lake/lake_test_util.h"

namespace firehose::lake {
namespace {

namespace fs = std::filesystem;

struct CommandRun {
  int exit_code = -1;
  std::string out;  // stdout, byte for byte
};

CommandRun Firehose(const std::string& args) {
  const std::string command =
      std::string(FIREHOSE_TEST_BIN_DIR) + "/firehose " + args + " 2>/dev/null";
  CommandRun run;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[65536];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, got);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class LakeCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string command = std::string(FIREHOSE_TEST_BIN_DIR) +
                                "/lake_fixture --records 300 --data-dir " + dir_->path().string();
    std::FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buffer[4096];
    std::string out;
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
    ASSERT_EQ(::pclose(pipe), 0);
    summary_ = new nlohmann::json(nlohmann::json::parse(out));
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete dir_;
  }
  static std::string DataDir() { return " --data-dir " + dir_->path().string(); }

  static testing::TempDir* dir_;
  static nlohmann::json* summary_;
};

testing::TempDir* LakeCliTest::dir_ = nullptr;
nlohmann::json* LakeCliTest::summary_ = nullptr;

TEST_F(LakeCliTest, LsCountsWhatTheWriterWrote) {
  const CommandRun run = Firehose("lake ls --json" + DataDir());
  ASSERT_EQ(run.exit_code, 0);
  const nlohmann::json listing = nlohmann::json::parse(run.out);
  EXPECT_EQ(listing["totals"]["events"], (*summary_)["events"]);
  EXPECT_EQ(listing["totals"]["quarantined"], (*summary_)["quarantined"]);
  EXPECT_TRUE(listing["problems"].empty());
  for (const auto& [date, events] : (*summary_)["events_per_date"].items()) {
    bool found = false;
    for (const auto& partition : listing["partitions"]) {
      if (partition["zone"] == "raw" && partition["date"] == date) {
        EXPECT_EQ(partition["lines"], events) << date;
        found = true;
      }
    }
    EXPECT_TRUE(found) << date;
  }
  // The same through --config, and the human table.
  const CommandRun human =
      Firehose("--config " + (dir_->path() / "firehose.toml").string() + " lake ls");
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("raw         event_date=2026-11-25"), std::string::npos) << human.out;
}

TEST_F(LakeCliTest, CatFiltersByDateAndPartner) {
  const CommandRun run = Firehose("lake cat --date 2026-11-25 --partner globex" + DataDir());
  ASSERT_EQ(run.exit_code, 0);
  std::size_t lines = 0;
  for (std::size_t start = 0; start < run.out.size();) {
    const std::size_t end = run.out.find('\n', start);
    const nlohmann::json line = nlohmann::json::parse(run.out.substr(start, end - start));
    EXPECT_EQ(line["partner_id"], "globex");
    EXPECT_EQ(line["event_date"], "2026-11-25");
    start = end + 1;
    ++lines;
  }
  EXPECT_GT(lines, 0u);
  EXPECT_EQ(Firehose("lake cat --quarantine" + DataDir()).out.find("\"event_date\""),
            std::string::npos);
}

TEST_F(LakeCliTest, QuarantineListsAndShowsTheExactBytes) {
  const CommandRun list = Firehose("quarantine ls --json" + DataDir());
  ASSERT_EQ(list.exit_code, 0);
  const nlohmann::json parts = nlohmann::json::parse(list.out);
  EXPECT_EQ(parts.size(), (*summary_)["quarantined"].get<std::size_t>());
  std::string invalid_utf8_id;
  for (const auto& part : parts) {
    if (part["reason"] == "invalid_utf8") invalid_utf8_id = part["arrival_id"];
  }
  ASSERT_FALSE(invalid_utf8_id.empty());
  const CommandRun raw = Firehose("quarantine show " + invalid_utf8_id + " --raw" + DataDir());
  EXPECT_EQ(raw.exit_code, 0);
  EXPECT_EQ(raw.out, "{\"id\":\"\xC3\x28\"}");
  const CommandRun shown = Firehose("quarantine show " + invalid_utf8_id + DataDir());
  EXPECT_EQ(shown.exit_code, 0);
  EXPECT_NE(shown.out.find("reason       invalid_utf8"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("not UTF-8, hex"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("7b 22 69 64 22 3a 22 c3 28 22 7d"), std::string::npos) << shown.out;
  EXPECT_EQ(Firehose("quarantine show 01ARZ3NDEKTSV4RRFFQ69G5FAV" + DataDir()).exit_code, 1);
}

TEST_F(LakeCliTest, ExitCodesScriptsCanTrust) {
  EXPECT_EQ(Firehose("lake ls").exit_code, 2) << "no lake named";
  EXPECT_EQ(Firehose("lake ls --date 2026-13-01" + DataDir()).exit_code, 2);
  EXPECT_EQ(Firehose("lake bogus" + DataDir()).exit_code, 2);
  EXPECT_EQ(Firehose("--config /nonexistent/firehose.toml lake ls").exit_code, 3);
}

// Last: it damages the shared lake.
TEST_F(LakeCliTest, ZVerifyPassesThenNamesEachProblem) {
  const CommandRun clean = Firehose("lake verify" + DataDir());
  EXPECT_EQ(clean.exit_code, 0) << clean.out;
  EXPECT_EQ(clean.out.rfind("ok: ", 0), 0u) << clean.out;

  const LakeListing listing = ListLake(LakeRoot(dir_->path())).value();
  const std::string missing = listing.Files(Zone::kRaw).front().file.path;
  fs::remove(LakeRoot(dir_->path()) / missing);
  const CommandRun damaged = Firehose("lake verify --json" + DataDir());
  EXPECT_EQ(damaged.exit_code, 1);
  const nlohmann::json report = nlohmann::json::parse(damaged.out);
  EXPECT_FALSE(report["ok"].get<bool>());
  ASSERT_EQ(report["problems"].size(), 1u) << damaged.out;
  EXPECT_EQ(report["problems"][0]["kind"], "file_missing");
  EXPECT_EQ(report["problems"][0]["path"], missing);
}

}  // namespace
}  // namespace firehose::lake
