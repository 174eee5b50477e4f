#include "lake/lake_writer.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "core/fault.h"
#include "core/metrics.h"
#include "core/time.h"
#include "lake/lake_reader.h"
#include "lake/lake_test_util.h"
#include "lake/lake_verify.h"

namespace firehose::lake {
namespace {

namespace fs = std::filesystem;
using testing::AcmeBody;
using testing::Deliveries;
using testing::GlobexBatch;
using testing::GlobexElement;
using testing::LandedLine;
using testing::MakeRecord;
using testing::ReadWholeLake;
using testing::TempDir;
using testing::TestConfig;

TimestampUs At(std::string_view rfc3339) { return *ParseRfc3339(rfc3339); }

std::unique_ptr<LakeWriter> OpenWriter(const Config& config,
                                       std::function<void(LakeWriterOptions&)> adjust = {}) {
  LakeWriterOptions options = LakeWriterOptions::FromConfig(config);
  if (adjust) adjust(options);
  Result<std::unique_ptr<LakeWriter>> writer = LakeWriter::Open(config, options);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  return writer.ok() ? std::move(*writer) : nullptr;
}

void ExpectVerifies(const fs::path& lake_root) {
  Result<VerifyReport> report = VerifyLake(lake_root, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const LakeProblem& problem : report->problems) {
    ADD_FAILURE() << problem.kind << " " << problem.path << ": " << problem.message;
  }
}

std::vector<Manifest> Manifests(const fs::path& lake_root) {
  Result<LakeListing> listing = ListLake(lake_root);
  EXPECT_TRUE(listing.ok());
  return listing.ok() ? listing->manifests : std::vector<Manifest>{};
}

// The keys every record must land as: one per event or quarantined part ("<arrival>/<index>");
// a record with 0 parts is quarantined whole ("<arrival>/-1").
std::vector<std::string> ExpectedKeys(const std::vector<QueueRecord>& records,
                                      const std::vector<int>& parts_per_record) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (parts_per_record[i] == 0) keys.push_back(records[i].arrival_id.str() + "/-1");
    for (int part = 0; part < parts_per_record[i]; ++part) {
      keys.push_back(records[i].arrival_id.str() + "/" + std::to_string(part));
    }
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

class LakeWriterTest : public ::testing::Test {
 protected:
  fs::path lake_root() const { return LakeRoot(dir_.path()); }
  TempDir dir_;
};

TEST_F(LakeWriterTest, LandsEventsAndQuarantinesWhatCannotBeMapped) {
  const Config config = TestConfig(dir_.path());
  const std::string invalid_utf8 = "{\"id\":\"\xFF\"}";
  std::vector<QueueRecord> records = {
      MakeRecord("acme", AcmeBody("a1", "12.34", "2026-11-27T10:00:00Z"),
                 At("2026-11-27T10:00:01Z")),
      MakeRecord("globex",
                 GlobexBatch({GlobexElement("g1", 500, 1795773600), R"({"ref":"bad"})",
                              GlobexElement("g2", 700, 1795860000, "F")}),
                 At("2026-11-28T10:00:01Z"), ArrivalSource::kPoll),
      MakeRecord("acme", invalid_utf8, At("2026-11-27T10:00:02Z")),
      MakeRecord("initech", "{\"anything\":1}", At("2026-11-27T10:00:03Z")),
      MakeRecord("globex", R"({"events":[]})", At("2026-11-27T10:00:04Z")),
  };
  auto writer = OpenWriter(config);
  ASSERT_TRUE(writer->Write(Deliveries(records, 100)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_EQ(writer->published_through(), QueueOffset(104));
  EXPECT_TRUE(testing::TempFiles(lake_root()).empty());

  const std::vector<LandedLine> lines = ReadWholeLake(lake_root());
  ASSERT_EQ(lines.size(), 7u);
  std::map<std::string, const LandedLine*> by_txn;
  std::map<std::string, const LandedLine*> quarantined;  // by reason
  for (const LandedLine& line : lines) {
    (line.zone == Zone::kRaw ? by_txn[line.txn_id] : quarantined[line.reason]) = &line;
  }
  ASSERT_EQ(by_txn.size(), 3u);
  EXPECT_EQ(by_txn["a1"]->partition_date, "2026-11-27");
  EXPECT_EQ(by_txn["a1"]->raw, records[0].body);
  EXPECT_EQ(by_txn["a1"]->queue_offset, 100u);
  EXPECT_EQ(by_txn["g1"]->partition_date, "2026-11-27");
  EXPECT_EQ(by_txn["g1"]->event_index, 0);
  EXPECT_EQ(by_txn["g1"]->raw, GlobexElement("g1", 500, 1795773600));
  EXPECT_EQ(by_txn["g2"]->partition_date, "2026-11-28");
  EXPECT_EQ(by_txn["g2"]->event_index, 2);
  ASSERT_EQ(quarantined.size(), 4u);
  EXPECT_EQ(quarantined["missing_field"]->event_index, 1);
  EXPECT_EQ(quarantined["missing_field"]->raw, R"({"ref":"bad"})");
  EXPECT_EQ(quarantined["missing_field"]->partition_date, "2026-11-28") << "by arrival date";
  EXPECT_EQ(quarantined["invalid_utf8"]->raw, invalid_utf8) << "exact bytes, invalid UTF-8 too";
  EXPECT_EQ(quarantined["invalid_utf8"]->event_index, -1);
  EXPECT_EQ(quarantined["unknown_partner"]->partner_id, "initech");
  EXPECT_EQ(quarantined["unknown_partner"]->raw, "{\"anything\":1}");
  EXPECT_EQ(quarantined["batch_empty"]->event_index, -1);

  const std::vector<Manifest> manifests = Manifests(lake_root());
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(manifests[0].first, QueueOffset(100));
  EXPECT_EQ(manifests[0].last, QueueOffset(104));
  EXPECT_EQ(manifests[0].records, 5u);
  EXPECT_EQ(manifests[0].events, 3u);
  EXPECT_EQ(manifests[0].quarantined, 4u);
  EXPECT_EQ(manifests[0].files.size(), 4u);  // raw x2 dates, quarantine x2 dates
  ExpectVerifies(lake_root());
  EXPECT_GE(Metrics().SumCounters("firehose_lake_quarantined_total",
                                  {{"partner", "_unknown"}, {"reason", "unknown_partner"}}),
            1u);
  EXPECT_GE(Metrics().SumCounters("firehose_lake_quarantined_total",
                                  {{"partner", "acme"}, {"reason", "invalid_utf8"}}),
            1u);
  EXPECT_EQ(
      Metrics().SumCounters("firehose_received_total", {{"stage", "lake"}, {"partner", "initech"}}),
      0u)
      << "unconfigured ids never become labels";
}

TEST_F(LakeWriterTest, PartitionsByBusinessDateInTheConfiguredZone) {
  const Config config = TestConfig(dir_.path(), "America/New_York");
  // 03:00Z on Nov 27 is 22:00 on Nov 26 in New York. The resend arrives a day later and still
  // lands with its original.
  std::vector<QueueRecord> records = {
      MakeRecord("acme", AcmeBody("n1", "1.00", "2026-11-27T03:00:00Z"),
                 At("2026-11-27T03:00:01Z")),
      MakeRecord("acme", AcmeBody("n2", "1.00", "2026-11-27T05:00:00Z"),
                 At("2026-11-27T05:00:01Z")),
      MakeRecord("acme", AcmeBody("n1", "1.00", "2026-11-27T03:00:00Z"),
                 At("2026-11-28T12:00:00Z")),
      MakeRecord("acme", "{", At("2026-11-27T04:59:59Z")),  // 23:59:59 local on Nov 26
  };
  auto writer = OpenWriter(config);
  ASSERT_TRUE(writer->Write(Deliveries(records)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  std::multiset<std::string> placed;
  for (const LandedLine& line : ReadWholeLake(lake_root())) {
    placed.insert(std::string(ZoneName(line.zone)) + " " + line.txn_id + " " + line.partition_date);
  }
  EXPECT_EQ(placed, (std::multiset<std::string>{"raw n1 2026-11-26", "raw n1 2026-11-26",
                                                "raw n2 2026-11-27", "quarantine  2026-11-26"}));
  EXPECT_TRUE(fs::exists(lake_root() / "raw/event_date=2026-11-26"));
  EXPECT_TRUE(fs::exists(lake_root() / "quarantine/arrival_date=2026-11-26"));
  ExpectVerifies(lake_root());
}

TEST_F(LakeWriterTest, RollsBySize) {
  const Config config = TestConfig(dir_.path());
  std::vector<QueueRecord> records;
  for (int i = 0; i < 60; ++i) {
    records.push_back(MakeRecord("acme",
                                 AcmeBody("s" + std::to_string(i), "1.00", "2026-11-27T10:00:00Z"),
                                 At("2026-11-27T10:00:00Z")));
  }
  auto writer =
      OpenWriter(config, [](LakeWriterOptions& options) { options.file_bytes_max = 4096; });
  const std::uint64_t size_rolls_before =
      Metrics().SumCounters("firehose_lake_rolls_total", {{"cause", "size"}});
  ASSERT_TRUE(writer->Write(Deliveries(records)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  const std::vector<Manifest> manifests = Manifests(lake_root());
  ASSERT_GE(manifests.size(), 5u);
  EXPECT_GE(
      Metrics().SumCounters("firehose_lake_rolls_total", {{"cause", "size"}}) - size_rolls_before,
      manifests.size() - 1);
  std::uint64_t next = 0;
  for (const Manifest& manifest : manifests) {
    EXPECT_EQ(manifest.first.value(), next) << "ranges are contiguous";
    next = manifest.last.value() + 1;
    ASSERT_EQ(manifest.files.size(), 1u);
    // A file passes the limit by at most one record's lines.
    EXPECT_LT(manifest.files[0].uncompressed_bytes, 4096u + 1024u);
  }
  EXPECT_EQ(next, 60u);
  EXPECT_EQ(ReadWholeLake(lake_root()).size(), 60u);
  ExpectVerifies(lake_root());
}

TEST_F(LakeWriterTest, RollsByAge) {
  const Config config = TestConfig(dir_.path());
  std::int64_t now_ms = 1000;
  auto writer = OpenWriter(config, [&](LakeWriterOptions& options) {
    options.roll_age_ms = 500;
    options.monotonic_ms = [&] { return now_ms; };
  });
  const auto record = [](int i) {
    return MakeRecord("acme", AcmeBody("t" + std::to_string(i), "1.00", "2026-11-27T10:00:00Z"),
                      At("2026-11-27T10:00:00Z"));
  };
  ASSERT_TRUE(writer->Write(Deliveries({record(0)}, 0)).ok());
  EXPECT_EQ(writer->ms_until_roll(), 500);
  now_ms += 499;
  ASSERT_TRUE(writer->Write(Deliveries({record(1)}, 1)).ok());
  ASSERT_TRUE(writer->RollIfDue().ok());
  EXPECT_TRUE(Manifests(lake_root()).empty());
  EXPECT_EQ(writer->ms_until_roll(), 1) << "the age is the oldest record's";
  now_ms += 1;
  ASSERT_TRUE(writer->RollIfDue().ok());
  ASSERT_EQ(Manifests(lake_root()).size(), 1u);
  EXPECT_EQ(writer->published_through(), QueueOffset(1));
  EXPECT_FALSE(writer->ms_until_roll().has_value());
}

TEST_F(LakeWriterTest, RollsBeforeARecordThatWouldNeedTooManyFiles) {
  const Config config = TestConfig(dir_.path());
  auto writer = OpenWriter(config, [](LakeWriterOptions& options) { options.open_files_max = 2; });
  std::vector<QueueRecord> records = {
      MakeRecord("acme", AcmeBody("d1", "1.00", "2026-11-01T10:00:00Z"),
                 At("2026-11-27T10:00:00Z")),
      MakeRecord("acme", AcmeBody("d2", "1.00", "2026-11-02T10:00:00Z"),
                 At("2026-11-27T10:00:00Z")),
      MakeRecord("acme", AcmeBody("d2b", "1.00", "2026-11-02T11:00:00Z"),
                 At("2026-11-27T10:00:00Z")),
      MakeRecord("acme", AcmeBody("d3", "1.00", "2026-11-03T10:00:00Z"),
                 At("2026-11-27T10:00:00Z")),
      // One record that needs three files on its own gets them: a range cannot split a record.
      MakeRecord("globex",
                 GlobexBatch({GlobexElement("x", 1, 1764237600), GlobexElement("y", 1, 1764324000),
                              GlobexElement("z", 1, 1764410400)}),
                 At("2026-11-27T10:00:00Z")),
  };
  ASSERT_TRUE(writer->Write(Deliveries(records)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  const std::vector<Manifest> manifests = Manifests(lake_root());
  ASSERT_EQ(manifests.size(), 3u);
  EXPECT_EQ(manifests[0].last, QueueOffset(2));
  EXPECT_EQ(manifests[0].files.size(), 2u);
  EXPECT_EQ(manifests[1].first, QueueOffset(3));
  EXPECT_EQ(manifests[1].last, QueueOffset(3));
  EXPECT_EQ(manifests[2].first, QueueOffset(4));
  EXPECT_EQ(manifests[2].files.size(), 3u);
  EXPECT_EQ(ReadWholeLake(lake_root()).size(), 7u);
  ExpectVerifies(lake_root());
}

TEST_F(LakeWriterTest, RefusesToTakeAnOffsetTwice) {
  const Config config = TestConfig(dir_.path());
  auto writer = OpenWriter(config);
  const auto records = std::vector<QueueRecord>{MakeRecord(
      "acme", AcmeBody("r", "1.00", "2026-11-27T10:00:00Z"), At("2026-11-27T10:00:00Z"))};
  ASSERT_TRUE(writer->Write(Deliveries(records, 5)).ok());
  EXPECT_DEATH((void)writer->Write(Deliveries(records, 5)), "may already be published");
}

// On a queue without gaps (the embedded log), a record past the expected offset means the queue
// is read from the wrong place: landing it would skip the records in between for good.
TEST_F(LakeWriterTest, RefusesAGapOnAQueueWithoutGaps) {
  const Config config = TestConfig(dir_.path());
  auto writer =
      OpenWriter(config, [](LakeWriterOptions& options) { options.contiguous_offsets = true; });
  std::vector<QueueRecord> records;
  for (int i = 0; i < 6; ++i) {
    records.push_back(MakeRecord("acme",
                                 AcmeBody("g" + std::to_string(i), "1.00", "2026-11-27T10:00:00Z"),
                                 At("2026-11-27T10:00:00Z")));
  }
  const std::vector<Delivery> deliveries = Deliveries(records);
  ASSERT_TRUE(writer->Write(std::span(deliveries).subspan(0, 2)).ok());
  const std::uint64_t gaps_before =
      Metrics()
          .CounterFor("firehose_errors_total", {{"stage", "lake"}, {"kind", "offset_gap"}})
          .value();
  const Status gap = writer->Write(std::span(deliveries).subspan(4));  // 2 and 3 skipped
  EXPECT_EQ(gap.code(), StatusCode::kFailedPrecondition) << gap.ToString();
  EXPECT_EQ(Metrics()
                .CounterFor("firehose_errors_total", {{"stage", "lake"}, {"kind", "offset_gap"}})
                .value(),
            gaps_before + 1);
  EXPECT_FALSE(writer->Flush().ok()) << "refused like any error: Recover() first";
  EXPECT_TRUE(Manifests(lake_root()).empty());

  ASSERT_TRUE(writer->Recover().ok());
  ASSERT_EQ(writer->next_offset(), QueueOffset(0));
  writer->ResumeAt(QueueOffset(0));
  ASSERT_TRUE(writer->Write(deliveries).ok());
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_EQ(ReadWholeLake(lake_root()).size(), records.size());
  ExpectVerifies(lake_root());
}

// A queue positioned past the writer's next offset (its cursor is ahead of the manifests) is
// told to the writer, which then expects exactly that offset.
TEST_F(LakeWriterTest, ResumesWhereTheQueueWasPositioned) {
  const Config config = TestConfig(dir_.path());
  auto writer =
      OpenWriter(config, [](LakeWriterOptions& options) { options.contiguous_offsets = true; });
  const std::vector<QueueRecord> records = {MakeRecord(
      "acme", AcmeBody("p", "1.00", "2026-11-27T10:00:00Z"), At("2026-11-27T10:00:00Z"))};
  writer->ResumeAt(QueueOffset(7));
  EXPECT_FALSE(writer->Write(Deliveries(records, 8)).ok());
  ASSERT_TRUE(writer->Recover().ok());
  writer->ResumeAt(QueueOffset(7));
  ASSERT_TRUE(writer->Write(Deliveries(records, 7)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_EQ(writer->published_through(), QueueOffset(7));
  EXPECT_DEATH(writer->ResumeAt(QueueOffset(5)), "may already be published");
}

// Without contiguous_offsets (JetStream: non-record messages are skipped) gaps are records the
// queue never delivers, and are allowed.
TEST_F(LakeWriterTest, AllowsGapsOnAQueueWithGaps) {
  const Config config = TestConfig(dir_.path());
  auto writer = OpenWriter(config);
  const std::vector<QueueRecord> records = {
      MakeRecord("acme", AcmeBody("j1", "1.00", "2026-11-27T10:00:00Z"),
                 At("2026-11-27T10:00:00Z")),
      MakeRecord("acme", AcmeBody("j2", "1.00", "2026-11-27T10:00:00Z"),
                 At("2026-11-27T10:00:00Z"))};
  ASSERT_TRUE(writer->Write(Deliveries({records[0]}, 3)).ok());
  ASSERT_TRUE(writer->Write(Deliveries({records[1]}, 9)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  EXPECT_EQ(ReadWholeLake(lake_root()).size(), 2u);
  ExpectVerifies(lake_root());
}

// A Recover that fails leaves the writer refusing to write: its next offset is not known.
TEST_F(LakeWriterTest, AFailedRecoverLeavesTheWriterRefusing) {
  const Config config = TestConfig(dir_.path());
  auto writer = OpenWriter(config);
  const std::vector<QueueRecord> records = {MakeRecord(
      "acme", AcmeBody("f", "1.00", "2026-11-27T10:00:00Z"), At("2026-11-27T10:00:00Z"))};
  const fs::path temp_dir = lake_root() / TempDirPath("w0");
  fs::remove_all(temp_dir);
  { std::ofstream(temp_dir) << "not a directory"; }
  ASSERT_FALSE(writer->Recover().ok());
  EXPECT_EQ(writer->Write(Deliveries(records)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Flush().code(), StatusCode::kFailedPrecondition);
  fs::remove(temp_dir);
  ASSERT_TRUE(writer->Recover().ok());
  ASSERT_TRUE(writer->Write(Deliveries(records)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  ExpectVerifies(lake_root());
}

// --- Crashes and errors -------------------------------------------------------------------

struct Scenario {
  std::vector<QueueRecord> records;
  std::vector<int> parts;  // events each record lands as (0: quarantined whole)
};

// 40 records over three days and both zones; ranges of a few records each.
Scenario MixedRecords() {
  Scenario scenario;
  for (int i = 0; i < 40; ++i) {
    const std::string day = "2026-11-2" + std::to_string(5 + i % 3);
    if (i % 7 == 3) {
      scenario.records.push_back(
          MakeRecord("acme", "{broken " + std::to_string(i), At(day + "T12:00:00Z")));
      scenario.parts.push_back(0);
    } else if (i % 5 == 0) {
      scenario.records.push_back(MakeRecord(
          "globex",
          GlobexBatch({GlobexElement("b" + std::to_string(i), i, 1764000000 + i * 3600),
                       GlobexElement("c" + std::to_string(i), i, 1764000000 + i * 7200)}),
          At(day + "T12:00:00Z")));
      scenario.parts.push_back(2);
    } else {
      scenario.records.push_back(
          MakeRecord("acme", AcmeBody("m" + std::to_string(i), "3.00", day + "T11:00:00Z"),
                     At(day + "T12:00:00Z")));
      scenario.parts.push_back(1);
    }
  }
  return scenario;
}

void SmallRanges(LakeWriterOptions& options) { options.file_bytes_max = 4096; }

// Runs a writer over every record in a child process with `faults` switched on; returns the
// child's exit status.
int RunChild(const Config& config, const Scenario& scenario, const std::string& faults) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    fault::SetForTest(faults);
    auto opened = LakeWriter::Open(config, [&] {
      LakeWriterOptions options = LakeWriterOptions::FromConfig(config);
      SmallRanges(options);
      return options;
    }());
    if (!opened.ok()) ::_exit(3);
    auto& writer = **opened;
    const std::vector<Delivery> deliveries = Deliveries(scenario.records);
    Status status = writer.Write(std::span(deliveries).subspan(writer.next_offset().value()));
    if (status.ok()) status = writer.Flush();
    ::_exit(status.ok() ? 0 : 4);
  }
  int wait_status = 0;
  ::waitpid(pid, &wait_status, 0);
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

// Restarts a writer (recovery) and lands whatever the queue would redeliver.
void Restart(const Config& config, const Scenario& scenario) {
  auto writer = OpenWriter(config, SmallRanges);
  ASSERT_NE(writer, nullptr);
  const std::vector<Delivery> deliveries = Deliveries(scenario.records);
  const std::size_t next = writer->next_offset().value();
  ASSERT_LE(next, deliveries.size());
  ASSERT_TRUE(writer->Write(std::span(deliveries).subspan(next)).ok());
  ASSERT_TRUE(writer->Flush().ok());
}

void ExpectExactlyOnce(const fs::path& lake_root, const Scenario& scenario) {
  EXPECT_EQ(testing::LineKeys(ReadWholeLake(lake_root)),
            ExpectedKeys(scenario.records, scenario.parts));
  EXPECT_TRUE(testing::TempFiles(lake_root).empty());
  ExpectVerifies(lake_root);
}

class LakeCrashTest : public LakeWriterTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(LakeCrashTest, EveryRecordLandsExactlyOnceAfterRestart) {
  const Config config = TestConfig(dir_.path());
  const Scenario scenario = MixedRecords();
  ASSERT_EQ(RunChild(config, scenario, GetParam()), 137) << "the fault did not fire";
  Restart(config, scenario);
  ExpectExactlyOnce(lake_root(), scenario);
}

INSTANTIATE_TEST_SUITE_P(CrashPoints, LakeCrashTest,
                         ::testing::Values("lake.before_manifest=crash@1",
                                           "lake.before_manifest=crash@3",
                                           "lake.after_manifest=crash@1",
                                           "lake.after_manifest=crash@4",
                                           "lake.after_rename=crash@1", "lake.after_rename=crash@5",
                                           "lake.temp_write=crash@2", "lake.temp_sync=crash@3",
                                           "file.fsync_dir=crash@4", "file.fsync_dir=crash@15"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name;
                           for (char c : param_info.param)
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

TEST_F(LakeWriterTest, RepeatedCrashesStillLandEverythingOnce) {
  const Config config = TestConfig(dir_.path());
  const Scenario scenario = MixedRecords();
  // Each child dies at a later point; some of them die during the previous child's recovery.
  for (const char* faults : {"lake.after_manifest=crash@2", "lake.after_rename=crash@3",
                             "lake.before_manifest=crash@2", "lake.after_rename=crash@1"}) {
    RunChild(config, scenario, faults);
  }
  Restart(config, scenario);
  ExpectExactlyOnce(lake_root(), scenario);
}

TEST_F(LakeWriterTest, AfterACrashPastTheCommitPointRecoveryPublishesTheListedFiles) {
  const Config config = TestConfig(dir_.path());
  const Scenario scenario = MixedRecords();
  ASSERT_EQ(RunChild(config, scenario, "lake.after_manifest=crash@1"), 137);
  // The manifest is committed, its files are still in _tmp: verify says so specifically.
  Result<VerifyReport> before = VerifyLake(lake_root(), {});
  ASSERT_TRUE(before.ok());
  ASSERT_FALSE(before->problems.empty());
  for (const LakeProblem& problem : before->problems)
    EXPECT_EQ(problem.kind, "file_pending") << problem.message;
  const std::vector<std::string> temps = testing::TempFiles(lake_root());
  EXPECT_FALSE(temps.empty());

  auto writer = OpenWriter(config, SmallRanges);  // recovery only
  EXPECT_TRUE(testing::TempFiles(lake_root()).empty());
  const std::vector<Manifest> manifests = Manifests(lake_root());
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(writer->next_offset().value(), manifests[0].last.value() + 1);
  ExpectVerifies(lake_root());
}

TEST_F(LakeWriterTest, AnIoErrorDropsTheRangeAndRecoveryRedeliversIt) {
  const Config config = TestConfig(dir_.path());
  const Scenario scenario = MixedRecords();
  auto writer = OpenWriter(config, SmallRanges);
  const std::vector<Delivery> deliveries = Deliveries(scenario.records);
  fault::SetForTest("lake.temp_write=enospc@3");
  const Status failed = writer->Write(deliveries);
  fault::SetForTest("");
  EXPECT_EQ(failed.code(), StatusCode::kResourceExhausted) << failed.ToString();
  EXPECT_EQ(writer->Write(deliveries).code(), StatusCode::kFailedPrecondition)
      << "broken until Recover";
  ASSERT_TRUE(writer->Recover().ok());
  const std::size_t next = writer->next_offset().value();
  EXPECT_LT(next, deliveries.size());
  ASSERT_TRUE(writer->Write(std::span(deliveries).subspan(next)).ok());
  ASSERT_TRUE(writer->Flush().ok());
  ExpectExactlyOnce(lake_root(), scenario);
}

TEST_F(LakeWriterTest, ARenameErrorAfterTheCommitIsRolledForwardByRecover) {
  const Config config = TestConfig(dir_.path());
  const Scenario scenario = MixedRecords();
  auto writer = OpenWriter(config, SmallRanges);
  const std::vector<Delivery> deliveries = Deliveries(scenario.records);
  fault::SetForTest("lake.rename=eio@2");
  EXPECT_FALSE(writer->Write(deliveries).ok());
  fault::SetForTest("");
  ASSERT_TRUE(writer->Recover().ok());
  ASSERT_TRUE(writer->Write(std::span(deliveries).subspan(writer->next_offset().value())).ok());
  ASSERT_TRUE(writer->Flush().ok());
  ExpectExactlyOnce(lake_root(), scenario);
}

// --- verify -------------------------------------------------------------------------------

std::vector<std::string> ProblemKinds(const fs::path& lake_root) {
  Result<VerifyReport> report = VerifyLake(lake_root, {});
  EXPECT_TRUE(report.ok());
  std::vector<std::string> kinds;
  if (report.ok()) {
    for (const LakeProblem& problem : report->problems) kinds.push_back(problem.kind);
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  return kinds;
}

class LakeVerifyTest : public LakeWriterTest {
 protected:
  void SetUp() override {
    const Config config = TestConfig(dir_.path());
    scenario_ = MixedRecords();
    auto writer = OpenWriter(config, SmallRanges);
    ASSERT_TRUE(writer->Write(Deliveries(scenario_.records)).ok());
    ASSERT_TRUE(writer->Flush().ok());
    manifests_ = Manifests(lake_root());
    ASSERT_GE(manifests_.size(), 3u);
    ExpectVerifies(lake_root());
  }
  fs::path FirstFile() const { return lake_root() / manifests_[0].files[0].path; }

  Scenario scenario_;
  std::vector<Manifest> manifests_;
};

TEST_F(LakeVerifyTest, ReportsAManifestListingAMissingFile) {
  fs::remove(FirstFile());
  EXPECT_EQ(ProblemKinds(lake_root()), std::vector<std::string>{"file_missing"});
}

TEST_F(LakeVerifyTest, ReportsAChangedFile) {
  std::string bytes;
  {
    std::ifstream in(FirstFile(), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(FirstFile(), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::vector<std::string> kinds = ProblemKinds(lake_root());
  EXPECT_TRUE(std::find(kinds.begin(), kinds.end(), "checksum_mismatch") != kinds.end() ||
              std::find(kinds.begin(), kinds.end(), "corrupt_file") != kinds.end());
}

TEST_F(LakeVerifyTest, ReportsAFileWithoutManifestAndOverlappingRanges) {
  const Manifest& first = manifests_[0];
  const Manifest& second = manifests_[1];
  // A copy of the second range published again under a range overlapping the first.
  Manifest overlapping = second;
  overlapping.first = first.last;
  for (ManifestFile& file : overlapping.files) {
    const std::string path =
        PartFilePath(file.zone, file.date, "w0", overlapping.first, overlapping.last);
    fs::copy_file(lake_root() / file.path, lake_root() / path);
    file.path = path;
  }
  std::ofstream(lake_root() / ManifestPath("w0", overlapping.first, overlapping.last))
      << EncodeManifest(overlapping);
  const ManifestFile& stray = first.files[0];
  fs::copy_file(
      lake_root() / stray.path,
      lake_root() / PartFilePath(stray.zone, stray.date, "w9", QueueOffset(900), QueueOffset(901)));
  EXPECT_EQ(ProblemKinds(lake_root()), (std::vector<std::string>{"file_unlisted", "overlap"}));
}

TEST_F(LakeVerifyTest, ReportsCountsThatDoNotMatchTheFiles) {
  Manifest edited = manifests_[0];
  edited.events += 1;
  std::ofstream(lake_root() / ManifestPath("w0", edited.first, edited.last))
      << EncodeManifest(edited);
  EXPECT_EQ(ProblemKinds(lake_root()), std::vector<std::string>{"count_mismatch"});
}

}  // namespace
}  // namespace firehose::lake
