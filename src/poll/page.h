// One polled page: validating the partner's response and finding what the poller needs in it
// (the items, the next cursor or since value, whether more pages follow).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace firehose::poll {

struct PollPage {
  std::size_t item_count = 0;
  // Each item's verbatim bytes inside the body (only when parsed with split_items). The views
  // point into the body passed to ParsePage.
  std::vector<std::string_view> items;
  std::optional<std::string> next_cursor;  // cursor mode: the page's next cursor, if given
  std::optional<bool> has_more;            // if the page says
  std::optional<std::string> last_since;   // since mode: the last item's since field
};

// Validates `body` as one JSON document (simdjson: UTF-8, structure, nesting up to
// `json_depth_max`) and reads the fields `poll` names. InvalidArgument with a specific message
// when the page is malformed: invalid JSON, the items not an array, a next cursor or since value
// that is neither a string nor an integer, or longer than kCursorBytesMax. A page the poller
// cannot read is never appended (it is retried, and counted as "malformed").
Result<PollPage> ParsePage(std::string_view body, const PollConfig& poll, bool split_items,
                           std::int64_t json_depth_max);

}  // namespace firehose::poll
