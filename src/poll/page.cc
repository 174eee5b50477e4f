#include "poll/page.h"

#include <simdjson.h>

#include "poll/cursor_store.h"

namespace firehose::poll {

namespace {

namespace dom = simdjson::dom;
namespace ondemand = simdjson::ondemand;

// A cursor or since value as text: strings as they are, integers in decimal; null, absent or the
// empty string is "none" (many APIs answer `"next_cursor": ""` on their last page: saved, it would
// send the next poll back to the start of the feed). Anything else is a malformed page.
Result<std::optional<std::string>> ScalarText(dom::element root, const std::string& pointer,
                                              std::string_view what) {
  if (pointer.empty()) return std::optional<std::string>();
  dom::element value;
  if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS || value.is_null()) {
    return std::optional<std::string>();
  }
  std::string text;
  if (value.is_string()) {
    text = std::string(std::string_view(value));
    if (text.empty()) return std::optional<std::string>();
  } else if (value.is_int64()) {
    text = std::to_string(std::int64_t(value));
  } else if (value.is_uint64()) {
    text = std::to_string(std::uint64_t(value));
  } else {
    return InvalidArgument(std::string(what) + " at " + pointer +
                           " is neither a string nor an integer");
  }
  if (text.size() > kCursorBytesMax) {
    return InvalidArgument(std::string(what) + " is longer than " +
                           std::to_string(kCursorBytesMax) + " bytes");
  }
  return std::optional<std::string>(std::move(text));
}

Status SplitItems(const simdjson::padded_string& padded, const std::string& items_pointer,
                  std::string_view body, std::vector<std::string_view>* items) {
  ondemand::parser parser;
  ondemand::document document;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS) {
    return InvalidArgument("page does not parse");
  }
  ondemand::array array;
  if (document.at_pointer(items_pointer).get_array().get(array) != simdjson::SUCCESS) {
    return InvalidArgument("items at " + items_pointer + " are not an array");
  }
  for (auto element : array) {
    ondemand::value value;
    if (element.get(value) != simdjson::SUCCESS) return InvalidArgument("an item does not parse");
    ondemand::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS)
      return InvalidArgument("an item does not parse");
    std::string_view raw;
    simdjson::error_code error = simdjson::SUCCESS;
    if (type == ondemand::json_type::object) {
      ondemand::object object;
      error = value.get_object().get(object);
      if (!error) error = object.raw_json().get(raw);
    } else if (type == ondemand::json_type::array) {
      ondemand::array inner;
      error = value.get_array().get(inner);
      if (!error) error = inner.raw_json().get(raw);
    } else {
      raw = value.raw_json_token();
    }
    if (error) return InvalidArgument("an item does not parse");
    // simdjson's raw views run up to the next token: drop the whitespace before it.
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
      raw.remove_suffix(1);
    }
    // The views from simdjson point into the padded copy: translate them into `body`.
    const std::size_t offset = static_cast<std::size_t>(raw.data() - padded.data());
    items->push_back(body.substr(offset, raw.size()));
  }
  return Status::Ok();
}

}  // namespace

Result<PollPage> ParsePage(std::string_view body, const PollConfig& poll, bool split_items,
                           std::int64_t json_depth_max) {
  const simdjson::padded_string padded(body);
  dom::parser parser;
  // The body is already bounded by poll_response_bytes_max; the depth bound is what matters.
  if (parser.allocate(padded.size() + simdjson::SIMDJSON_PADDING,
                      static_cast<std::size_t>(json_depth_max)) != simdjson::SUCCESS) {
    return InvalidArgument("page too large to parse");
  }
  dom::element root;
  if (const auto error = parser.parse(padded).get(root); error != simdjson::SUCCESS) {
    return InvalidArgument(std::string("page is not valid JSON: ") +
                           simdjson::error_message(error));
  }
  dom::array items;
  if (root.at_pointer(poll.items_pointer).get_array().get(items) != simdjson::SUCCESS) {
    return InvalidArgument("page has no array of items at " + poll.items_pointer);
  }
  PollPage page;
  page.item_count = items.size();
  if (poll.pagination == PollPagination::kCursor) {
    FH_ASSIGN_OR_RETURN(page.next_cursor,
                        ScalarText(root, poll.next_cursor_pointer, "next cursor"));
  } else if (page.item_count > 0) {
    // The newest item that has a since value: one item without it (a partner's bug) must not stop
    // the partner for good. The items after it are asked for again by the next poll (duplicates,
    // which the ledger removes), so nothing is skipped.
    for (std::size_t index = page.item_count; index-- > 0 && !page.last_since;) {
      FH_ASSIGN_OR_RETURN(page.last_since,
                          ScalarText(items.at(index), poll.since_item_pointer, "since field"));
    }
    if (!page.last_since) {
      return InvalidArgument("no item of the page has a since field at " +
                             poll.since_item_pointer);
    }
  }
  if (!poll.has_more_pointer.empty()) {
    dom::element more;
    if (root.at_pointer(poll.has_more_pointer).get(more) == simdjson::SUCCESS && !more.is_null()) {
      if (!more.is_bool())
        return InvalidArgument("has_more at " + poll.has_more_pointer + " is not a boolean");
      page.has_more = bool(more);
    }
  }
  if (split_items) FH_RETURN_IF_ERROR(SplitItems(padded, poll.items_pointer, body, &page.items));
  return page;
}

}  // namespace firehose::poll
