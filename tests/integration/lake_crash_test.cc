// The lake consumer over the real embedded log, killed with SIGKILL at random points while it
// works, several times, then restarted: every appended record must be in the lake exactly once,
// no temp file left, and `lake verify` clean.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "core/time.h"
#include "lake/lake_reader.h"
#include "lake/lake_test_util.h"
#include "lake/lake_verify.h"
#include "queue/embedded_log.h"

namespace firehose::lake {
namespace {

namespace fs = std::filesystem;

pid_t Spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Appends records durably (waiting for every acknowledgement), then closes the log so that the
// child can take the directory.
void AppendAll(const Config& config, const std::vector<QueueRecord>& records) {
  auto log = EmbeddedLog::Open(config.data_dir / "queue", config.limits);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<std::future<Result<QueueOffset>>> acks;
  for (const QueueRecord& record : records) {
    auto promise = std::make_shared<std::promise<Result<QueueOffset>>>();
    acks.push_back(promise->get_future());
    (*log)->Append(
        record, [promise](Result<QueueOffset> offset) { promise->set_value(std::move(offset)); });
  }
  for (auto& ack : acks) {
    const Result<QueueOffset> offset = ack.get();
    ASSERT_TRUE(offset.ok()) << offset.status().ToString();
  }
}

// Small files and a short roll age: many publications per second, so that a kill at a random
// instant often lands inside one.
constexpr std::string_view kLimits =
    "\n[limits]\nlake_file_bytes_max = 16384\nlake_roll_age_ms = 30\n";

TEST(LakeCrash, SigkilledConsumerLandsEveryRecordExactlyOnce) {
  testing::TempDir dir;
  const fs::path config_path = dir.path() / "firehose.toml";
  {
    std::ofstream out(config_path);
    out << testing::TestConfigText(dir.path(), "UTC", kLimits);
  }
  fs::permissions(config_path, fs::perms::owner_read | fs::perms::owner_write);
  const Config config = testing::TestConfig(dir.path(), "UTC", kLimits);
  const std::string child = std::string(FIREHOSE_TEST_BIN_DIR) + "/lake_land_child";

  const std::uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random(seed);
  std::vector<std::string> expected;
  int kills = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<QueueRecord> records;
    for (int i = 0; i < 300; ++i) {
      const std::string id = std::to_string(round) + "-" + std::to_string(i);
      const std::string day = "2026-11-2" + std::to_string(5 + i % 4);
      if (i % 23 == 11) {
        records.push_back(
            testing::MakeRecord("acme", "{not json " + id, *ParseRfc3339(day + "T08:00:00Z")));
        expected.push_back(records.back().arrival_id.str() + "/-1");
      } else {
        records.push_back(
            testing::MakeRecord("acme", testing::AcmeBody("k" + id, "7.00", day + "T07:00:00Z"),
                                *ParseRfc3339(day + "T08:00:00Z")));
        expected.push_back(records.back().arrival_id.str() + "/0");
      }
    }
    AppendAll(config, records);
    if (HasFatalFailure()) return;
    const pid_t pid = Spawn({child, config_path.string()});
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 250));
    ::kill(pid, SIGKILL);
    if (Wait(pid) == 128 + SIGKILL) ++kills;
  }
  EXPECT_GE(kills, 3) << "most children should have died mid-work";
  ASSERT_EQ(Wait(Spawn({child, config_path.string(), "--exit-when-caught-up"})), 0);

  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(testing::LineKeys(testing::ReadWholeLake(LakeRoot(dir.path()))), expected);
  EXPECT_TRUE(testing::TempFiles(LakeRoot(dir.path())).empty());
  Result<VerifyReport> report = VerifyLake(LakeRoot(dir.path()), {});
  ASSERT_TRUE(report.ok());
  for (const LakeProblem& problem : report->problems) {
    ADD_FAILURE() << problem.kind << " " << problem.path << ": " << problem.message;
  }
}

}  // namespace
}  // namespace firehose::lake
