// Helpers shared by the lake's tests: a scratch directory, a config with two partners, records,
// and a reader of the whole lake for exactly-once checks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "lake/lake_format.h"
#include "queue/queue.h"

namespace firehose::lake::testing {

// A fresh directory under the system temp dir, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Partners:
//   acme    one event per body: {"id","amount" (decimal),"currency","status","time" (RFC 3339),
//           "version" (integer),"error" (optional)}; statuses "ok" -> succeeded, "ko" -> failed.
//   globex  batches at /events of {"ref","minor" (minor units),"ccy","state","ts" (unix s)};
//           statuses "S" -> succeeded, "F" -> failed.
// `extra` is appended to the TOML (e.g. a [limits] table).
Config TestConfig(const std::filesystem::path& data_dir, std::string_view timezone = "UTC",
                  std::string_view extra = "");
// The TOML text TestConfig parses (to write a config file for the CLI).
std::string TestConfigText(const std::filesystem::path& data_dir, std::string_view timezone = "UTC",
                           std::string_view extra = "");

std::string AcmeBody(std::string_view txn_id, std::string_view amount, std::string_view time,
                     std::string_view status = "ok", std::string_view currency = "USD",
                     std::int64_t version = 1);
std::string GlobexElement(std::string_view ref, std::int64_t minor, std::int64_t unix_s,
                          std::string_view state = "S", std::string_view currency = "EUR");
std::string GlobexBatch(const std::vector<std::string>& elements);

// A record with a fresh arrival id.
QueueRecord MakeRecord(std::string_view partner, std::string body, TimestampUs received_at,
                       ArrivalSource source = ArrivalSource::kWebhook);
std::vector<Delivery> Deliveries(const std::vector<QueueRecord>& records,
                                 std::uint64_t first_offset = 0);

// One line of the lake, from either zone.
struct LandedLine {
  Zone zone = Zone::kRaw;
  std::string partition_date;
  std::string arrival_id;
  std::int64_t event_index = 0;
  std::uint64_t queue_offset = 0;
  std::string partner_id;
  std::string txn_id;  // raw zone
  std::string reason;  // quarantine zone
  std::string raw;     // raw: the event's bytes; quarantine: the decoded bytes
  std::string file;    // relative path of the file it came from
};

// Every line of every published file (from the manifests), in (zone, date, path) order.
// Fails the calling test on any read or parse error.
std::vector<LandedLine> ReadWholeLake(const std::filesystem::path& lake_root);

// "<arrival_id>/<event_index>" of every line, for exactly-once comparisons.
std::vector<std::string> LineKeys(const std::vector<LandedLine>& lines);

// Names of the files left in <lake>/_tmp/<writer>/.
std::vector<std::string> TempFiles(const std::filesystem::path& lake_root,
                                   std::string_view writer = "w0");

}  // namespace firehose::lake::testing
