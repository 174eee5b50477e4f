// A range's manifest: the record that publishes one contiguous queue range of one writer
// (docs/formats/lake.md, "Manifests"). Shared by the writer (which commits a range by renaming
// its manifest into place) and every reader (ls, verify, cat, the ledger).
//
//   _manifests/writer=<w>/<first>-<last>.json
//
// A manifest is written once (temp + fsync + rename + directory fsync) and never modified.
// Every file it lists is immutable from the moment the manifest exists: after a crash the
// writer renames a listed temp file into place, it never rewrites one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "lake/lake_format.h"

namespace firehose::lake {

struct ManifestFile {
  Zone zone = Zone::kRaw;
  BusinessDate date;      // the partition's date
  std::string path;       // relative to the lake root: "raw/event_date=.../part-..."
  std::string temp_path;  // relative to the lake root: "_tmp/<w>/<first>...tmp"
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;  // the file's size on disk (compressed)
  std::uint64_t uncompressed_bytes = 0;
  std::string sha256;  // lower-case hex of the file's bytes on disk
  // raw: the range of event_time; quarantine: the range of received_at.
  TimestampUs min_time;
  TimestampUs max_time;
};

struct Manifest {
  int format_version = kFormatVersion;
  std::string writer;
  QueueOffset first;              // inclusive
  QueueOffset last;               // inclusive
  std::uint64_t records = 0;      // queue records in the range that this writer consumed
  std::uint64_t events = 0;       // raw-zone lines
  std::uint64_t quarantined = 0;  // quarantine-zone lines
  TimestampUs published_at;
  std::vector<ManifestFile> files;
};

std::string EncodeManifest(const Manifest& manifest);
// DataLoss naming the field when `json` is not a well-formed version-1 manifest.
Result<Manifest> DecodeManifest(std::string_view json);
// Reads and decodes a manifest file.
Result<Manifest> ReadManifest(const std::filesystem::path& path);

}  // namespace firehose::lake
