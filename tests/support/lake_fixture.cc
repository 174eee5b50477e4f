// lake_fixture: writes a small, varied lake through the real LakeWriter, for tests that look at
// a lake from outside (the CLI, DuckDB). Deterministic for a given --records/--seed, apart from
// arrival ids.
//
//   lake_fixture --data-dir DIR [--records N] [--timezone Z] [--file-bytes-max B] [--seed S]
//
// Writes DIR/firehose.toml (a config whose data_dir is DIR) and DIR/lake/, then prints a JSON
// summary of what it wrote: records, events, quarantined, events per event_date, and the
// largest amount_minor (as a decimal string: it is above 2^53).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/log.h"
#include "core/time.h"
#include "lake/lake_test_util.h"
#include "lake/lake_writer.h"

namespace firehose::lake {
namespace {

struct Plan {
  std::vector<QueueRecord> records;
  std::map<std::string, std::uint64_t> events_per_date;
  std::uint64_t events = 0;
  std::uint64_t quarantined = 0;
  std::int64_t amount_minor_max = 0;
};

// 2^53 + 1: a reader that goes through a double gets it wrong.
constexpr std::int64_t kBeyondDouble = 9'007'199'254'740'993;

Plan MakePlan(int count, std::uint64_t seed, const BusinessCalendar& calendar) {
  Plan plan;
  std::mt19937_64 random(seed);
  const TimestampUs base = *ParseRfc3339("2026-11-25T00:00:00Z");
  const auto event_time = [&](int i) {
    return TimestampUs(base.value() + static_cast<std::int64_t>(i % 5) * 86'400'000'000 +
                       static_cast<std::int64_t>(random() % 86'400) * 1'000'000);
  };
  const auto count_event = [&](TimestampUs time, std::int64_t amount) {
    ++plan.events;
    ++plan.events_per_date[calendar.DateOf(time).ToString()];
    plan.amount_minor_max = std::max(plan.amount_minor_max, amount);
  };
  for (int i = 0; i < count; ++i) {
    const TimestampUs time = event_time(i);
    const TimestampUs received(time.value() + (i % 17 == 3 ? 86'400'000'000 : 2'000'000));
    if (i % 13 == 5) {
      plan.records.push_back(
          testing::MakeRecord("acme", "{\"id\":\"broken-" + std::to_string(i), received));
      ++plan.quarantined;
    } else if (i % 29 == 7) {
      plan.records.push_back(testing::MakeRecord("acme", "{\"id\":\"\xC3\x28\"}", received));
      ++plan.quarantined;
    } else if (i % 10 == 0) {
      std::vector<std::string> elements;
      for (int k = 0; k < 3; ++k) {
        const TimestampUs element_time(time.value() + k * 3'600'000'000LL * 9);
        const std::int64_t amount = k == 2 ? kBeyondDouble + i : 100 + i * 7 + k;
        elements.push_back(testing::GlobexElement("g" + std::to_string(i) + "-" + std::to_string(k),
                                                  amount, element_time.value() / 1'000'000,
                                                  k == 1 ? "F" : "S"));
        count_event(TimestampUs(element_time.value() / 1'000'000 * 1'000'000), amount);
      }
      elements.push_back(R"({"ref":"missing-amount"})");
      ++plan.quarantined;
      plan.records.push_back(testing::MakeRecord("globex", testing::GlobexBatch(elements), received,
                                                 ArrivalSource::kPoll));
    } else {
      const std::int64_t cents = static_cast<std::int64_t>(random() % 10'000'000);
      const std::string amount = std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") +
                                 std::to_string(cents % 100);
      const std::string txn = (i % 7 == 1 ? "tx-caf\u00e9-\\\"q\\\"-" : "tx-") +
                              std::to_string(i % 17 == 3 ? i - 1 : i);
      plan.records.push_back(testing::MakeRecord(
          "acme",
          testing::AcmeBody(txn, amount, FormatRfc3339Micros(time), i % 4 == 0 ? "ko" : "ok"),
          received));
      count_event(time, cents);
    }
  }
  return plan;
}

int Main(int argc, char** argv) {
  CLI::App app{"Writes a small, varied lake through the real lake writer"};
  std::string data_dir;
  int records = 500;
  std::string timezone = "UTC";
  std::int64_t file_bytes_max = 64 << 10;
  std::uint64_t seed = 1;
  app.add_option("--data-dir", data_dir)->required();
  app.add_option("--records", records);
  app.add_option("--timezone", timezone);
  app.add_option("--file-bytes-max", file_bytes_max);
  app.add_option("--seed", seed);
  CLI11_PARSE(app, argc, argv);
  InitLogging("error");  // stdout carries the JSON summary

  const std::string config_text = testing::TestConfigText(data_dir, timezone);
  const std::filesystem::path config_path = std::filesystem::path(data_dir) / "firehose.toml";
  std::ofstream(config_path) << config_text;
  // It holds (test-only) literal secrets: the config loader refuses them in a readable file.
  std::filesystem::permissions(
      config_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ConfigLoad load = ParseConfig(config_text, data_dir);
  if (!load.config) {
    std::fprintf(stderr, "lake_fixture: bad config\n");
    return 3;
  }
  const Config& config = *load.config;
  const Plan plan = MakePlan(records, seed, config.lake.calendar);
  LakeWriterOptions options = LakeWriterOptions::FromConfig(config);
  options.file_bytes_max = file_bytes_max;
  auto writer = LakeWriter::Open(config, options);
  if (!writer.ok()) {
    std::fprintf(stderr, "lake_fixture: %s\n", writer.status().ToString().c_str());
    return 3;
  }
  const std::uint64_t first = (*writer)->next_offset().value();
  Status status = (*writer)->Write(testing::Deliveries(plan.records, first));
  if (status.ok()) status = (*writer)->Flush();
  if (!status.ok()) {
    std::fprintf(stderr, "lake_fixture: %s\n", status.ToString().c_str());
    return 3;
  }
  const nlohmann::json summary = {{"records", plan.records.size()},
                                  {"events", plan.events},
                                  {"quarantined", plan.quarantined},
                                  {"events_per_date", plan.events_per_date},
                                  // A string: JavaScript's JSON.parse would round it to a double.
                                  {"amount_minor_max", std::to_string(plan.amount_minor_max)}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace firehose::lake

int main(int argc, char** argv) { return firehose::lake::Main(argc, argv); }
