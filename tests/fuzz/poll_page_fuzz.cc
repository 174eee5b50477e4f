// Fuzz target: the poll response parser (poll/page.h), which reads whatever a polled partner's
// API answers. Input: byte 0 picks the pagination mode and whether items are split; the rest is
// the page body. Properties: no crash; an accepted page's items are views inside the body, as
// many as item_count, each non-empty; a cursor or since value respects kCursorBytesMax.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check.h"
#include "core/config.h"
#include "poll/cursor_store.h"
#include "poll/page.h"

namespace firehose {
namespace {

constexpr std::int64_t kDepthMax = 64;

void CheckPage(std::string_view body, const PollConfig& poll, bool split_items) {
  const Result<poll::PollPage> page = poll::ParsePage(body, poll, split_items, kDepthMax);
  if (!page.ok()) {
    FH_CHECK(!page.status().message().empty(), "a malformed page without a reason");
    return;
  }
  if (split_items) {
    FH_CHECK(page->items.size() == page->item_count, "split items and item_count disagree");
    for (std::string_view item : page->items) {
      FH_CHECK(!item.empty(), "an empty item");
      FH_CHECK(item.data() >= body.data() && item.data() + item.size() <= body.data() + body.size(),
               "an item view outside the body");
    }
  }
  if (page->next_cursor) {
    FH_CHECK(page->next_cursor->size() <= poll::kCursorBytesMax, "a cursor over its limit");
  }
  if (page->last_since) {
    FH_CHECK(page->last_since->size() <= poll::kCursorBytesMax, "a since value over its limit");
  }
}

}  // namespace
}  // namespace firehose

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firehose;
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  // The body in its own allocation, so ASan sees any read past its end.
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  PollConfig poll;
  poll.pagination = (mode & 1) != 0 ? PollPagination::kSince : PollPagination::kCursor;
  poll.since_item_pointer = "/seq";
  if ((mode & 4) != 0) poll.items_pointer = "/page/items";
  CheckPage(body, poll, (mode & 2) != 0);
  return 0;
}
