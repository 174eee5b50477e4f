#include "lake/lake_format.h"

#include <charconv>
#include <cstdio>

namespace firehose::lake {

namespace {

std::string Padded(QueueOffset offset) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%020llu", static_cast<unsigned long long>(offset.value()));
  return buffer;
}

bool ParseOffset(std::string_view text, QueueOffset* out) {
  if (text.size() != 20) return false;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return false;
  *out = QueueOffset(value);
  return true;
}

}  // namespace

std::string PartFileName(std::string_view writer, QueueOffset first, QueueOffset last) {
  return "part-" + std::string(writer) + "-" + Padded(first) + "-" + Padded(last) +
         std::string(kFileSuffix);
}

std::string RawPartitionName(BusinessDate date) {
  return std::string(kRawPartitionKey) + "=" + date.ToString();
}

std::string QuarantinePartitionName(BusinessDate date) {
  return std::string(kQuarantinePartitionKey) + "=" + date.ToString();
}

std::string ManifestRelativePath(std::string_view writer, QueueOffset first, QueueOffset last) {
  return "writer=" + std::string(writer) + "/" + Padded(first) + "-" + Padded(last) + ".json";
}

bool ParsePartFileName(std::string_view name, PartFile* out) {
  if (!name.starts_with("part-") || !name.ends_with(kFileSuffix)) return false;
  name.remove_prefix(5);
  name.remove_suffix(kFileSuffix.size());
  // <writer>-<20 digits>-<20 digits>
  if (name.size() < 1 + 1 + 20 + 1 + 20) return false;
  const std::string_view last = name.substr(name.size() - 20);
  const std::string_view first = name.substr(name.size() - 41, 20);
  if (name[name.size() - 21] != '-' || name[name.size() - 42] != '-') return false;
  PartFile parsed;
  parsed.writer = std::string(name.substr(0, name.size() - 42));
  if (parsed.writer.empty() || !ParseOffset(first, &parsed.first) ||
      !ParseOffset(last, &parsed.last)) {
    return false;
  }
  *out = std::move(parsed);
  return true;
}

std::string_view ZoneName(Zone zone) { return zone == Zone::kRaw ? kRawZone : kQuarantineZone; }

bool ParseZoneName(std::string_view name, Zone* out) {
  if (name == kRawZone) {
    *out = Zone::kRaw;
    return true;
  }
  if (name == kQuarantineZone) {
    *out = Zone::kQuarantine;
    return true;
  }
  return false;
}

std::string_view PartitionKey(Zone zone) {
  return zone == Zone::kRaw ? kRawPartitionKey : kQuarantinePartitionKey;
}

std::string PartitionName(Zone zone, BusinessDate date) {
  return std::string(PartitionKey(zone)) + "=" + date.ToString();
}

std::string PartFilePath(Zone zone, BusinessDate date, std::string_view writer, QueueOffset first,
                         QueueOffset last) {
  return std::string(ZoneName(zone)) + "/" + PartitionName(zone, date) + "/" +
         PartFileName(writer, first, last);
}

std::string TempFileName(QueueOffset first, Zone zone, BusinessDate date) {
  return Padded(first) + "." + std::string(ZoneName(zone)) + "." + date.ToString() +
         std::string(kFileSuffix) + ".tmp";
}

bool ParseTempFileFirst(std::string_view name, QueueOffset* first) {
  if (name.size() < 21 || name[20] != '.' || !name.ends_with(".tmp")) return false;
  return ParseOffset(name.substr(0, 20), first);
}

std::string TempDirPath(std::string_view writer) {
  return std::string(kTempDir) + "/" + std::string(writer);
}

std::string ManifestDirPath(std::string_view writer) {
  return std::string(kManifestDir) + "/writer=" + std::string(writer);
}

std::string ManifestPath(std::string_view writer, QueueOffset first, QueueOffset last) {
  return std::string(kManifestDir) + "/" + ManifestRelativePath(writer, first, last);
}

bool ParseManifestFileName(std::string_view name, QueueOffset* first, QueueOffset* last) {
  if (name.size() != 20 + 1 + 20 + 5 || !name.ends_with(".json") || name[20] != '-') return false;
  return ParseOffset(name.substr(0, 20), first) && ParseOffset(name.substr(21, 20), last);
}

bool ParsePartitionName(std::string_view name, std::string_view key, BusinessDate* out) {
  if (name.size() != key.size() + 11 || !name.starts_with(key) || name[key.size()] != '=')
    return false;
  auto date = BusinessDate::Parse(name.substr(key.size() + 1));
  if (!date.ok()) return false;
  *out = *date;
  return true;
}

}  // namespace firehose::lake
