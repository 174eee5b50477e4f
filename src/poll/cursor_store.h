// The poller's durable cursors: one small file per polled partner in
// <data_dir>/poll/<partner_id>.cursor, holding where its next page starts (an opaque cursor or a
// since value). Format: docs/formats/poll_cursor.md.
//
// The ordering contract with the queue: a cursor is saved only after every record of the page
// that produced it is durable in the queue. A crash between the two re-polls that page (the
// ledger removes the duplicates); a page is never skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace firehose::poll {

inline constexpr std::string_view kCursorFormat = "firehose-poll-cursor";
inline constexpr int kCursorFormatVersion = 1;
// A cursor file is a few hundred bytes; anything this large is not one of ours.
inline constexpr std::uint64_t kCursorFileBytesMax = 64 << 10;
// Longest cursor or since value accepted from a partner (it is sent back in a URL).
inline constexpr std::size_t kCursorBytesMax = 4096;

struct SavedCursor {
  std::string value;        // the cursor / since value to send with the next request
  std::uint64_t pages = 0;  // pages committed so far (for humans and tests)
  TimestampUs saved_at;     // when this cursor was saved
};

// Not thread-safe: the poller's thread owns it.
class CursorStore {
 public:
  explicit CursorStore(std::filesystem::path directory) : directory_(std::move(directory)) {}

  // Creates the directory (durably).
  Status Open();
  // The saved cursor, nullopt if the partner was never polled. DataLoss if the file exists but
  // is not a well-formed cursor file (a crash cannot produce one: saves are atomic).
  Result<std::optional<SavedCursor>> Load(const PartnerId& partner) const;
  // Replaces the partner's cursor atomically and durably (temp, fsync, rename, fsync dir).
  // Probe "poll.cursor_save" runs before the write.
  Status Save(const PartnerId& partner, const SavedCursor& cursor);

  std::filesystem::path PathFor(const PartnerId& partner) const;

 private:
  std::filesystem::path directory_;
};

// The cursor file's text (one JSON object, newline-terminated) and its parser.
std::string FormatCursorFile(const PartnerId& partner, const SavedCursor& cursor);
Result<SavedCursor> ParseCursorFile(const PartnerId& partner, std::string_view text);

}  // namespace firehose::poll
