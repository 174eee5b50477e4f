#include "lake/lake_test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>

#include "core/arrival_id.h"
#include "core/time.h"
#include "lake/lake_line.h"
#include "lake/lake_reader.h"

namespace firehose::lake::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "firehose-lake-XXXXXX").string();
  FH_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code error;
  fs::remove_all(path_, error);
}

std::string TestConfigText(const fs::path& data_dir, std::string_view timezone,
                           std::string_view extra) {
  std::string text = "data_dir = \"" + data_dir.string() + "\"\n";
  text += "[lake]\nwriter_id = \"w0\"\ntimezone = \"" + std::string(timezone) + "\"\n";
  text += R"(
[mappings.acme]
txn_id = "/id"
amount = "/amount"
amount_format = "decimal"
currency = "/currency"
status = "/status"
event_time = "/time"
event_time_format = "rfc3339"
version = "/version"
version_format = "integer"
error_code = "/error"
[mappings.acme.status_map]
ok = "succeeded"
ko = "failed"

[mappings.globex]
batch = "/events"
txn_id = "/ref"
amount = "/minor"
amount_format = "minor_units"
currency = "/ccy"
status = "/state"
event_time = "/ts"
event_time_format = "unix_s"
[mappings.globex.status_map]
S = "succeeded"
F = "failed"

[[partners]]
id = "acme"
mode = "webhook"
mapping = "acme"
signature = "stripe"
secrets = ["whsec_test_only"]

[[partners]]
id = "globex"
mode = "webhook"
mapping = "globex"
signature = "stripe"
secrets = ["whsec_test_only"]
)";
  text += extra;
  return text;
}

Config TestConfig(const fs::path& data_dir, std::string_view timezone, std::string_view extra) {
  ConfigLoad load = ParseConfig(TestConfigText(data_dir, timezone, extra), data_dir);
  if (!load.config) {
    for (const ConfigProblem& problem : load.problems)
      ADD_FAILURE() << problem.key << ": " << problem.message;
    FH_CHECK(false, "test config does not load");
  }
  return std::move(*load.config);
}

std::string AcmeBody(std::string_view txn_id, std::string_view amount, std::string_view time,
                     std::string_view status, std::string_view currency, std::int64_t version) {
  return R"({"id":")" + std::string(txn_id) + R"(","amount":")" + std::string(amount) +
         R"(","currency":")" + std::string(currency) + R"(","status":")" + std::string(status) +
         R"(","time":")" + std::string(time) + R"(","version":)" + std::to_string(version) + "}";
}

std::string GlobexElement(std::string_view ref, std::int64_t minor, std::int64_t unix_s,
                          std::string_view state, std::string_view currency) {
  return R"({"ref":")" + std::string(ref) + R"(","minor":)" + std::to_string(minor) +
         R"(,"ccy":")" + std::string(currency) + R"(","state":")" + std::string(state) +
         R"(","ts":)" + std::to_string(unix_s) + "}";
}

std::string GlobexBatch(const std::vector<std::string>& elements) {
  std::string body = R"({"batch":1,"events":[)";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) body += ",";
    body += elements[i];
  }
  return body + "]}";
}

QueueRecord MakeRecord(std::string_view partner, std::string body, TimestampUs received_at,
                       ArrivalSource source) {
  QueueRecord record;
  record.arrival_id = NewArrivalId(received_at);
  record.partner_id = *PartnerId::Parse(partner);
  record.source = source;
  record.received_at = received_at;
  record.body = std::move(body);
  return record;
}

std::vector<Delivery> Deliveries(const std::vector<QueueRecord>& records,
                                 std::uint64_t first_offset) {
  std::vector<Delivery> out;
  for (std::size_t i = 0; i < records.size(); ++i)
    out.push_back({QueueOffset(first_offset + i), records[i]});
  return out;
}

std::vector<LandedLine> ReadWholeLake(const fs::path& lake_root) {
  std::vector<LandedLine> out;
  Result<LakeListing> listing = ListLake(lake_root);
  EXPECT_TRUE(listing.ok()) << listing.status().ToString();
  if (!listing.ok()) return out;
  RawLineParser parser;
  for (const Zone zone : {Zone::kRaw, Zone::kQuarantine}) {
    for (const LakeFile& file : listing->Files(zone)) {
      auto reader = LineReader::Open(lake_root / file.file.path);
      EXPECT_TRUE(reader.ok()) << reader.status().ToString();
      if (!reader.ok()) continue;
      std::string_view line;
      while (true) {
        Result<bool> more = (*reader)->Next(&line);
        EXPECT_TRUE(more.ok()) << more.status().ToString();
        if (!more.ok() || !*more) break;
        LandedLine landed;
        landed.zone = zone;
        landed.partition_date = file.file.date.ToString();
        landed.file = file.file.path;
        if (zone == Zone::kRaw) {
          RawLineView view;
          const Status status = parser.ParsePadded(line, &view);
          EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << line;
          if (!status.ok()) continue;
          landed.arrival_id = view.arrival_id;
          landed.event_index = view.event_index;
          landed.queue_offset = view.queue_offset;
          landed.partner_id = view.partner_id;
          landed.txn_id = view.txn_id;
          landed.raw = view.raw;
        } else {
          Result<QuarantineLine> parsed = ParseQuarantineLine(line);
          EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << line;
          if (!parsed.ok()) continue;
          landed.arrival_id = parsed->arrival_id;
          landed.event_index = parsed->event_index;
          landed.queue_offset = parsed->queue_offset;
          landed.partner_id = parsed->partner_id;
          landed.reason = parsed->reason;
          landed.raw = parsed->raw;
        }
        out.push_back(std::move(landed));
      }
    }
  }
  return out;
}

std::vector<std::string> LineKeys(const std::vector<LandedLine>& lines) {
  std::vector<std::string> keys;
  for (const LandedLine& line : lines)
    keys.push_back(line.arrival_id + "/" + std::to_string(line.event_index));
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> TempFiles(const fs::path& lake_root, std::string_view writer) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(lake_root / TempDirPath(writer), error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace firehose::lake::testing
