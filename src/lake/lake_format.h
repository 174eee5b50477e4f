// The raw lake's layout, shared by its writer (lake/) and every reader (ledger, CLI, tests).
// Prose: docs/formats/lake.md.
//
//   <data_dir>/lake/
//     raw/event_date=YYYY-MM-DD/part-<writer>-<first>-<last>.jsonl.zst
//     quarantine/arrival_date=YYYY-MM-DD/part-<writer>-<first>-<last>.jsonl.zst
//     _manifests/writer=<writer>/<first>-<last>.json
//     _tmp/<writer>/...   files being written (never read; removed on recovery)
//
// <first> and <last> are the queue offsets (inclusive) of the range of records the file came
// from, zero-padded to 20 digits so that names sort by offset. One range is published by one
// manifest and may produce one file in each partition its events fall in.
//
// Design constraints: a published file is never modified or deleted by Firehose; a reader never
// sees a partial file (temp -> fsync -> rename); a queue range is published at most once per
// writer; files are newline-delimited JSON compressed with zstd (one frame per file), readable
// by `zstdcat | jq`, DuckDB's read_json and Spark.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/types.h"

namespace firehose::lake {

inline constexpr int kFormatVersion = 1;

inline constexpr std::string_view kLakeDir = "lake";
inline constexpr std::string_view kRawZone = "raw";
inline constexpr std::string_view kQuarantineZone = "quarantine";
inline constexpr std::string_view kManifestDir = "_manifests";
inline constexpr std::string_view kTempDir = "_tmp";
inline constexpr std::string_view kRawPartitionKey = "event_date";
inline constexpr std::string_view kQuarantinePartitionKey = "arrival_date";
inline constexpr std::string_view kFileSuffix = ".jsonl.zst";

// Fields of a raw-zone line (one canonical event). Order on disk is this order.
namespace field {
inline constexpr std::string_view kPartnerId = "partner_id";
inline constexpr std::string_view kTxnId = "txn_id";
inline constexpr std::string_view kAmountMinor = "amount_minor";  // JSON integer (int64)
inline constexpr std::string_view kAmount = "amount";             // decimal string, e.g. "12.34"
inline constexpr std::string_view kCurrency = "currency";         // ISO 4217, upper case
inline constexpr std::string_view kStatus = "status";             // canonical status name
inline constexpr std::string_view kEventTime = "event_time";      // RFC 3339, UTC, microseconds
inline constexpr std::string_view kEventTimeUs = "event_time_us"; // same instant, integer
inline constexpr std::string_view kEventDate = "event_date";      // business date (partition)
inline constexpr std::string_view kVersion = "version";           // integer or null
inline constexpr std::string_view kErrorCode = "error_code";      // string or null
inline constexpr std::string_view kArrivalId = "arrival_id";
inline constexpr std::string_view kEventIndex = "event_index";    // position in the batch
inline constexpr std::string_view kReceivedAt = "received_at";    // RFC 3339, microseconds
inline constexpr std::string_view kReceivedAtUs = "received_at_us";
inline constexpr std::string_view kSource = "source";             // "webhook" | "poll"
inline constexpr std::string_view kQueueOffset = "queue_offset";
inline constexpr std::string_view kRaw = "raw";  // the event's original JSON text, as a string
// Quarantine lines add/replace:
inline constexpr std::string_view kArrivalDate = "arrival_date";
inline constexpr std::string_view kReason = "reason";             // stable snake_case code
inline constexpr std::string_view kDetail = "detail";             // human explanation
inline constexpr std::string_view kRawBase64 = "raw_base64";      // exact bytes, base64
inline constexpr std::string_view kRawBytes = "raw_bytes";        // length of the raw bytes
}  // namespace field

// "part-w0-00000000000000000100-00000000000000000199.jsonl.zst"
std::string PartFileName(std::string_view writer, QueueOffset first, QueueOffset last);
// "event_date=2026-11-27"
std::string RawPartitionName(BusinessDate date);
std::string QuarantinePartitionName(BusinessDate date);
// "writer=w0/00000000000000000100-00000000000000000199.json"
std::string ManifestRelativePath(std::string_view writer, QueueOffset first, QueueOffset last);

struct PartFile {
  std::string writer;
  QueueOffset first;
  QueueOffset last;
};
// Parses a part file's base name; false if it is not one.
bool ParsePartFileName(std::string_view name, PartFile* out);
// Parses "event_date=YYYY-MM-DD" / "arrival_date=YYYY-MM-DD"; false if it is not one.
bool ParsePartitionName(std::string_view name, std::string_view key, BusinessDate* out);

inline std::filesystem::path LakeRoot(const std::filesystem::path& data_dir) {
  return data_dir / kLakeDir;
}

}  // namespace firehose::lake
