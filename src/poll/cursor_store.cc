#include "poll/cursor_store.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "core/fault.h"
#include "core/file.h"
#include "core/json_integer.h"

namespace firehose::poll {

Status CursorStore::Open() { return EnsureDirectory(directory_); }

std::filesystem::path CursorStore::PathFor(const PartnerId& partner) const {
  return directory_ / (partner.str() + ".cursor");
}

Result<std::optional<SavedCursor>> CursorStore::Load(const PartnerId& partner) const {
  const std::filesystem::path path = PathFor(partner);
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return std::optional<SavedCursor>();
  FH_ASSIGN_OR_RETURN(const std::string text, ReadFile(path, kCursorFileBytesMax));
  auto cursor = ParseCursorFile(partner, text);
  if (!cursor.ok()) return cursor.status().WithContext(path.string());
  return std::optional<SavedCursor>(std::move(*cursor));
}

Status CursorStore::Save(const PartnerId& partner, const SavedCursor& cursor) {
  if (const int injected = fault::Check("poll.cursor_save"); injected != 0) {
    return ErrnoStatus("saving the cursor of " + partner.str(), injected);
  }
  return WriteFileAtomically(PathFor(partner), FormatCursorFile(partner, cursor));
}

std::string FormatCursorFile(const PartnerId& partner, const SavedCursor& cursor) {
  nlohmann::ordered_json root;
  root["format"] = kCursorFormat;
  root["format_version"] = kCursorFormatVersion;
  root["partner_id"] = partner.str();
  root["cursor"] = cursor.value;
  root["pages"] = cursor.pages;
  root["saved_at_us"] = cursor.saved_at.value();
  return root.dump() + "\n";
}

Result<SavedCursor> ParseCursorFile(const PartnerId& partner, std::string_view text) {
  nlohmann::json root = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!root.is_object()) return DataLoss("cursor file is not a JSON object");
  if (root.value("format", "") != kCursorFormat) return DataLoss("not a poll cursor file");
  const auto version = root.find("format_version");
  if (version == root.end() || JsonInteger<int>(*version) != kCursorFormatVersion) {
    return DataLoss("cursor format_version " +
                    (version == root.end() ? std::string("missing") : version->dump()) +
                    " is not " + std::to_string(kCursorFormatVersion));
  }
  if (root.value("partner_id", "") != partner.str()) {
    return DataLoss("cursor file belongs to partner '" + root.value("partner_id", "") + "'");
  }
  const auto cursor = root.find("cursor");
  const auto pages = root.find("pages");
  const auto saved_at = root.find("saved_at_us");
  const std::optional<std::uint64_t> page_count =
      pages == root.end() ? std::nullopt : JsonInteger<std::uint64_t>(*pages);
  const std::optional<std::int64_t> saved_at_us =
      saved_at == root.end() ? std::nullopt : JsonInteger<std::int64_t>(*saved_at);
  if (cursor == root.end() || !cursor->is_string() || !page_count || !saved_at_us) {
    return DataLoss("cursor file lacks cursor, pages or saved_at_us (integers)");
  }
  SavedCursor saved;
  saved.value = cursor->get<std::string>();
  saved.pages = *page_count;
  saved.saved_at = TimestampUs(*saved_at_us);
  if (saved.value.size() > kCursorBytesMax) return DataLoss("cursor longer than kCursorBytesMax");
  return saved;
}

}  // namespace firehose::poll
