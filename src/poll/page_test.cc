#include "poll/page.h"

#include <gtest/gtest.h>

namespace firehose::poll {
namespace {

PollConfig CursorPoll() { return PollConfig{}; }

PollConfig SincePoll() {
  PollConfig poll;
  poll.pagination = PollPagination::kSince;
  poll.since_item_pointer = "/seq";
  return poll;
}

TEST(ParsePage, ReadsItemsNextCursorAndHasMore) {
  const std::string body =
      R"({"data":[{"id":"a","n":1}, {"id":"b","n":[1,2]} ,"x"],"next_cursor":"c2","has_more":true})";
  auto page = ParsePage(body, CursorPoll(), /*split_items=*/true, 64);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->item_count, 3U);
  ASSERT_EQ(page->items.size(), 3U);
  EXPECT_EQ(page->items[0], R"({"id":"a","n":1})");
  EXPECT_EQ(page->items[1], R"({"id":"b","n":[1,2]})");
  EXPECT_EQ(page->items[2], R"("x")");
  EXPECT_EQ(page->next_cursor, "c2");
  EXPECT_EQ(page->has_more, true);
}

TEST(ParsePage, ItemViewsPointIntoTheCallersBody) {
  const std::string body = R"({"data":[{"id":"a"}]})";
  auto page = ParsePage(body, CursorPoll(), true, 64);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items[0].data(), body.data() + 9);
}

TEST(ParsePage, IntegerCursorsAndAbsentFieldsAreFine) {
  auto page = ParsePage(R"({"data":[],"next_cursor":17})", CursorPoll(), false, 64);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->next_cursor, "17");
  EXPECT_EQ(page->has_more, std::nullopt);
  page = ParsePage(R"({"data":[],"next_cursor":null})", CursorPoll(), false, 64);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->next_cursor, std::nullopt);
}

TEST(ParsePage, SinceModeTakesTheLastItemsField) {
  auto page = ParsePage(R"({"data":[{"seq":4},{"seq":9}]})", SincePoll(), false, 64);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->last_since, "9");
}

// One item without a since value must not stop the partner: the page advances to the newest
// item that has one, and the next poll asks again for what follows it.
TEST(ParsePage, SinceModeSkipsBackOverItemsWithoutTheField) {
  auto page = ParsePage(R"({"data":[{"seq":4},{"seq":5},{"id":1}]})", SincePoll(), false, 64);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->last_since, "5");
  page = ParsePage(R"({"data":[{"seq":4},{"seq":""}]})", SincePoll(), false, 64);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->last_since, "4");
  page = ParsePage(R"({"data":[{"id":1},{"seq":null}]})", SincePoll(), false, 64);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.status().message().find("no item of the page has a since field"),
            std::string::npos)
      << page.status().message();
  // A since value of the wrong type is still a malformed page.
  EXPECT_FALSE(ParsePage(R"({"data":[{"seq":4},{"seq":1.5}]})", SincePoll(), false, 64).ok());
}

// An empty next_cursor ("no more", in many APIs) keeps the current cursor instead of sending the
// next poll back to the start of the feed.
TEST(ParsePage, EmptyNextCursorKeepsTheCurrentOne) {
  auto page = ParsePage(R"({"data":[{"id":"a"}],"next_cursor":""})", CursorPoll(), false, 64);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->next_cursor, std::nullopt);
}

TEST(ParsePage, MalformedPagesAreSpecificErrors) {
  const struct {
    const char* body;
    const char* message_part;
  } cases[] = {
      {R"({"data":[{"id":"a"})", "not valid JSON"},
      {R"({"data":{"id":"a"}})", "no array of items"},
      {R"({"items":[]})", "no array of items"},
      {R"({"data":[],"next_cursor":1.5})", "neither a string nor an integer"},
      {R"({"data":[],"has_more":"yes"})", "not a boolean"},
      {R"({"data":[]} trailing)", "not valid JSON"},
      {"\xff\xfe", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto page = ParsePage(c.body, CursorPoll(), true, 64);
    ASSERT_FALSE(page.ok()) << c.body;
    EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(page.status().message().find(c.message_part), std::string::npos)
        << c.body << ": " << page.status().message();
  }
}

TEST(ParsePage, DeepNestingBeyondTheLimitIsMalformed) {
  std::string body = R"({"data":[)" + std::string(100, '[') + std::string(100, ']') + "]}";
  EXPECT_FALSE(ParsePage(body, CursorPoll(), true, 64).ok());
  EXPECT_TRUE(ParsePage(body, CursorPoll(), true, 1024).ok());
}

TEST(ParsePage, OverlongCursorIsMalformed) {
  const std::string body = R"({"data":[],"next_cursor":")" + std::string(5000, 'c') + R"("})";
  EXPECT_FALSE(ParsePage(body, CursorPoll(), false, 64).ok());
}

}  // namespace
}  // namespace firehose::poll
