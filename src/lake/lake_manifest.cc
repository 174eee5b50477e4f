#include "lake/lake_manifest.h"

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/json_integer.h"
#include "core/time.h"

namespace firehose::lake {

namespace {

// A manifest lists at most a few thousand files; anything near this is not a manifest.
constexpr std::uint64_t kManifestBytesMax = 64 << 20;

nlohmann::json EncodeFile(const ManifestFile& file) {
  const std::string_view time_name = file.zone == Zone::kRaw ? "event_time" : "received_at";
  return {{"zone", ZoneName(file.zone)},
          {"partition", PartitionName(file.zone, file.date)},
          {"path", file.path},
          {"temp_path", file.temp_path},
          {"lines", file.lines},
          {"bytes", file.bytes},
          {"uncompressed_bytes", file.uncompressed_bytes},
          {"sha256", file.sha256},
          {"min_" + std::string(time_name), FormatRfc3339Micros(file.min_time)},
          {"max_" + std::string(time_name), FormatRfc3339Micros(file.max_time)},
          {"min_" + std::string(time_name) + "_us", file.min_time.value()},
          {"max_" + std::string(time_name) + "_us", file.max_time.value()}};
}

// Reads `object[key]` as T, or fails naming the key.
template <typename T>
Status Get(const nlohmann::json& object, std::string_view key, T* out) {
  const auto found = object.find(key);
  if (found == object.end()) return DataLoss("manifest: missing '" + std::string(key) + "'");
  try {
    *out = JsonGet<T>(*found);
  } catch (const nlohmann::json::exception&) {
    return DataLoss("manifest: '" + std::string(key) + "' has the wrong type");
  }
  return Status::Ok();
}

Result<ManifestFile> DecodeFile(const nlohmann::json& object) {
  if (!object.is_object()) return DataLoss("manifest: a file entry is not an object");
  ManifestFile file;
  std::string zone;
  std::string partition;
  FH_RETURN_IF_ERROR(Get(object, "zone", &zone));
  if (!ParseZoneName(zone, &file.zone)) return DataLoss("manifest: unknown zone '" + zone + "'");
  FH_RETURN_IF_ERROR(Get(object, "partition", &partition));
  if (!ParsePartitionName(partition, PartitionKey(file.zone), &file.date)) {
    return DataLoss("manifest: bad partition '" + partition + "'");
  }
  FH_RETURN_IF_ERROR(Get(object, "path", &file.path));
  FH_RETURN_IF_ERROR(Get(object, "temp_path", &file.temp_path));
  FH_RETURN_IF_ERROR(Get(object, "lines", &file.lines));
  FH_RETURN_IF_ERROR(Get(object, "bytes", &file.bytes));
  FH_RETURN_IF_ERROR(Get(object, "uncompressed_bytes", &file.uncompressed_bytes));
  FH_RETURN_IF_ERROR(Get(object, "sha256", &file.sha256));
  const std::string time_name = file.zone == Zone::kRaw ? "event_time" : "received_at";
  std::int64_t min_us = 0;
  std::int64_t max_us = 0;
  FH_RETURN_IF_ERROR(Get(object, "min_" + time_name + "_us", &min_us));
  FH_RETURN_IF_ERROR(Get(object, "max_" + time_name + "_us", &max_us));
  file.min_time = TimestampUs(min_us);
  file.max_time = TimestampUs(max_us);
  return file;
}

}  // namespace

std::string EncodeManifest(const Manifest& manifest) {
  nlohmann::json files = nlohmann::json::array();
  for (const ManifestFile& file : manifest.files) files.push_back(EncodeFile(file));
  const nlohmann::json out = {{"format_version", manifest.format_version},
                              {"writer", manifest.writer},
                              {"first_offset", manifest.first.value()},
                              {"last_offset", manifest.last.value()},
                              {"records", manifest.records},
                              {"events", manifest.events},
                              {"quarantined", manifest.quarantined},
                              {"published_at", FormatRfc3339Micros(manifest.published_at)},
                              {"published_at_us", manifest.published_at.value()},
                              {"files", std::move(files)}};
  return out.dump(2) + "\n";
}

Result<Manifest> DecodeManifest(std::string_view json) {
  nlohmann::json object = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) return DataLoss("manifest: not a JSON object");
  Manifest manifest;
  FH_RETURN_IF_ERROR(Get(object, "format_version", &manifest.format_version));
  if (manifest.format_version != kFormatVersion) {
    return DataLoss("manifest: format_version " + std::to_string(manifest.format_version) +
                    " is not " + std::to_string(kFormatVersion));
  }
  FH_RETURN_IF_ERROR(Get(object, "writer", &manifest.writer));
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  FH_RETURN_IF_ERROR(Get(object, "first_offset", &first));
  FH_RETURN_IF_ERROR(Get(object, "last_offset", &last));
  if (last < first) return DataLoss("manifest: last_offset is before first_offset");
  manifest.first = QueueOffset(first);
  manifest.last = QueueOffset(last);
  FH_RETURN_IF_ERROR(Get(object, "records", &manifest.records));
  FH_RETURN_IF_ERROR(Get(object, "events", &manifest.events));
  FH_RETURN_IF_ERROR(Get(object, "quarantined", &manifest.quarantined));
  std::int64_t published_us = 0;
  FH_RETURN_IF_ERROR(Get(object, "published_at_us", &published_us));
  manifest.published_at = TimestampUs(published_us);
  const auto files = object.find("files");
  if (files == object.end() || !files->is_array())
    return DataLoss("manifest: 'files' is not an array");
  for (const nlohmann::json& entry : *files) {
    FH_ASSIGN_OR_RETURN(ManifestFile file, DecodeFile(entry));
    manifest.files.push_back(std::move(file));
  }
  return manifest;
}

Result<Manifest> ReadManifest(const std::filesystem::path& path) {
  FH_ASSIGN_OR_RETURN(const std::string text, ReadFile(path, kManifestBytesMax));
  Result<Manifest> manifest = DecodeManifest(text);
  if (!manifest.ok()) return manifest.status().WithContext(path.string());
  return manifest;
}

}  // namespace firehose::lake
