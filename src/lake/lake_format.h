// The raw lake's layout, shared by its writer (lake/) and every reader (ledger, CLI, tests).
// Prose: docs/formats/lake.md.
//
//   <data_dir>/lake/
//     raw/event_date=YYYY-MM-DD/part-<writer>-<first>-<last>.jsonl.zst
//     quarantine/arrival_date=YYYY-MM-DD/part-<writer>-<first>-<last>.jsonl.zst
//     _manifests/writer=<writer>/<first>-<last>.json
//     _tmp/<writer>/...   files being written (never read; recovery renames the ones a
//                         manifest lists into place and deletes the others)
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

#include "core/limits.h"
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
inline constexpr std::string_view kAmountMinor = "amount_minor";   // JSON integer (int64)
inline constexpr std::string_view kAmount = "amount";              // decimal string, e.g. "12.34"
inline constexpr std::string_view kCurrency = "currency";          // ISO 4217, upper case
inline constexpr std::string_view kStatus = "status";              // canonical status name
inline constexpr std::string_view kEventTime = "event_time";       // RFC 3339, UTC, microseconds
inline constexpr std::string_view kEventTimeUs = "event_time_us";  // same instant, integer
inline constexpr std::string_view kEventDate = "event_date";       // business date (partition)
inline constexpr std::string_view kVersion = "version";            // integer or null
inline constexpr std::string_view kErrorCode = "error_code";       // string or null
inline constexpr std::string_view kArrivalId = "arrival_id";
inline constexpr std::string_view kEventIndex = "event_index";  // position in the batch
inline constexpr std::string_view kReceivedAt = "received_at";  // RFC 3339, microseconds
inline constexpr std::string_view kReceivedAtUs = "received_at_us";
inline constexpr std::string_view kSource = "source";  // "webhook" | "poll"
inline constexpr std::string_view kQueueOffset = "queue_offset";
inline constexpr std::string_view kRaw = "raw";  // the event's original JSON text, as a string
// Quarantine lines add/replace:
inline constexpr std::string_view kArrivalDate = "arrival_date";
inline constexpr std::string_view kReason = "reason";         // stable snake_case code
inline constexpr std::string_view kDetail = "detail";         // human explanation
inline constexpr std::string_view kRawBase64 = "raw_base64";  // exact bytes, base64
inline constexpr std::string_view kRawBytes = "raw_bytes";    // length of the raw bytes
}  // namespace field

// The order of the fields on a raw-zone line: writer and parser both follow it, so that a
// reader can check the shape of a line without a lookup per key.
inline constexpr std::string_view kRawFields[] = {
    field::kPartnerId,   field::kTxnId,      field::kAmountMinor,  field::kAmount,
    field::kCurrency,    field::kStatus,     field::kEventTime,    field::kEventTimeUs,
    field::kEventDate,   field::kVersion,    field::kErrorCode,    field::kArrivalId,
    field::kEventIndex,  field::kReceivedAt, field::kReceivedAtUs, field::kSource,
    field::kQueueOffset, field::kRaw};
// The order of the fields on a quarantine-zone line.
inline constexpr std::string_view kQuarantineFields[] = {
    field::kPartnerId, field::kArrivalId,   field::kEventIndex,   field::kReason,
    field::kDetail,    field::kReceivedAt,  field::kReceivedAtUs, field::kArrivalDate,
    field::kSource,    field::kQueueOffset, field::kRawBytes,     field::kRawBase64};

// A quarantine line's event_index when the whole arrival could not be mapped.
inline constexpr std::int64_t kWholeArrivalIndex = -1;

// The longest line a reader accepts (bounds its memory), and more than a writer can produce: a
// line comes from one queue record (at most record_bytes_max's largest setting), whose bytes a
// raw line holds JSON-escaped (at most 2x: the mapper let only valid JSON through, so the only
// bytes escaped are whitespace, '"' and '\\'), a quarantine line as base64 (4/3), plus an
// envelope of a few hundred bytes.
inline constexpr std::size_t kLineBytesMax =
    2 * static_cast<std::size_t>(LimitMax("record_bytes_max")) + (1u << 20);
static_assert(LimitMax("record_bytes_max") > 0);

// The lake's two zones of data files.
enum class Zone : std::uint8_t { kRaw, kQuarantine };
std::string_view ZoneName(Zone zone);  // "raw" | "quarantine"
bool ParseZoneName(std::string_view name, Zone* out);
std::string_view PartitionKey(Zone zone);  // "event_date" | "arrival_date"
// "event_date=2026-11-27" for kRaw, "arrival_date=2026-11-27" for kQuarantine.
std::string PartitionName(Zone zone, BusinessDate date);
// "raw/event_date=2026-11-27/part-w0-...-....jsonl.zst", relative to the lake root.
std::string PartFilePath(Zone zone, BusinessDate date, std::string_view writer, QueueOffset first,
                         QueueOffset last);

// Files being written live in _tmp/<writer>/ under a name that starts with the first offset of
// their range, so that recovery can find the manifest (if any) that lists them:
//   "00000000000000000100.raw.2026-11-27.jsonl.zst.tmp"
std::string TempFileName(QueueOffset first, Zone zone, BusinessDate date);
// The first offset a temp file name starts with; false if the name is not a temp file's.
bool ParseTempFileFirst(std::string_view name, QueueOffset* first);
// "_tmp/w0", relative to the lake root.
std::string TempDirPath(std::string_view writer);
// "_manifests/writer=w0", relative to the lake root.
std::string ManifestDirPath(std::string_view writer);
// "_manifests/writer=w0/00000000000000000100-00000000000000000199.json", relative to the lake root.
std::string ManifestPath(std::string_view writer, QueueOffset first, QueueOffset last);
// Parses a manifest's base name "<first>-<last>.json"; false if it is not one (a leftover
// "<...>.json.tmp" of an interrupted write is not one).
bool ParseManifestFileName(std::string_view name, QueueOffset* first, QueueOffset* last);

// Fault probes on the publication path (core/fault.h). The three crash points split a
// publication into the states recovery must handle; tests switch them on.
namespace probe {
inline constexpr std::string_view kBeforeManifest = "lake.before_manifest";  // files synced
inline constexpr std::string_view kAfterManifest = "lake.after_manifest";    // committed
inline constexpr std::string_view kAfterRename = "lake.after_rename";        // after each rename
inline constexpr std::string_view kTempWrite = "lake.temp_write";            // appending a file
inline constexpr std::string_view kTempSync = "lake.temp_sync";              // fsync of a file
inline constexpr std::string_view kRename = "lake.rename";                   // before each rename
}  // namespace probe

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
