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
  if (parsed.writer.empty() || !ParseOffset(first, &parsed.first) || !ParseOffset(last, &parsed.last)) {
    return false;
  }
  *out = std::move(parsed);
  return true;
}

bool ParsePartitionName(std::string_view name, std::string_view key, BusinessDate* out) {
  if (name.size() != key.size() + 11 || !name.starts_with(key) || name[key.size()] != '=') return false;
  auto date = BusinessDate::Parse(name.substr(key.size() + 1));
  if (!date.ok()) return false;
  *out = *date;
  return true;
}

}  // namespace firehose::lake
