#include "poll/cursor_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "core/fault.h"

namespace firehose::poll {
namespace {

class CursorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/fh-cursor-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    fault::SetForTest("");
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  PartnerId partner_ = *PartnerId::Parse("globex");
};

TEST_F(CursorStoreTest, ANeverPolledPartnerHasNoCursor) {
  CursorStore store(dir_ / "poll");
  ASSERT_TRUE(store.Open().ok());
  auto loaded = store.Load(partner_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(CursorStoreTest, ASavedCursorSurvivesANewStore) {
  {
    CursorStore store(dir_ / "poll");
    ASSERT_TRUE(store.Open().ok());
    ASSERT_TRUE(store.Save(partner_, {"c_00042&x=\"1\"", 7, TimestampUs(123)}).ok());
    ASSERT_TRUE(store.Save(partner_, {"c_00043", 8, TimestampUs(456)}).ok());
  }
  CursorStore reopened(dir_ / "poll");
  auto loaded = reopened.Load(partner_);
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->value, "c_00043");
  EXPECT_EQ((*loaded)->pages, 8U);
  EXPECT_EQ((*loaded)->saved_at, TimestampUs(456));
  // No temporary file is left behind.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "poll")) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "globex.cursor");
  }
  EXPECT_EQ(files, 1U);
}

TEST_F(CursorStoreTest, AFailedSaveKeepsThePreviousCursor) {
  CursorStore store(dir_ / "poll");
  ASSERT_TRUE(store.Open().ok());
  ASSERT_TRUE(store.Save(partner_, {"first", 1, TimestampUs(1)}).ok());
  fault::SetForTest("poll.cursor_save=eio");
  EXPECT_FALSE(store.Save(partner_, {"second", 2, TimestampUs(2)}).ok());
  fault::SetForTest("");
  auto loaded = store.Load(partner_);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)->value, "first");
}

TEST_F(CursorStoreTest, ACorruptOrForeignFileIsDataLossNotAFreshStart) {
  CursorStore store(dir_ / "poll");
  ASSERT_TRUE(store.Open().ok());
  for (const std::string& text :
       {std::string("garbage"), std::string("{}"),
        FormatCursorFile(*PartnerId::Parse("other"), {"x", 1, TimestampUs(1)}),
        std::string(
            R"({"format":"firehose-poll-cursor","format_version":2,"partner_id":"globex"})"),
        // Numbers that are not integers that fit (nlohmann's get<> would have cast them).
        std::string(R"({"format":"firehose-poll-cursor","format_version":1e300,)"
                    R"("partner_id":"globex","cursor":"c","pages":1,"saved_at_us":1})"),
        std::string(R"({"format":"firehose-poll-cursor","format_version":1,)"
                    R"("partner_id":"globex","cursor":"c","pages":1.5,"saved_at_us":1})"),
        std::string(R"({"format":"firehose-poll-cursor","format_version":1,)"
                    R"("partner_id":"globex","cursor":"c","pages":1,)"
                    R"("saved_at_us":9223372036854775808})")}) {
    std::ofstream(store.PathFor(partner_)) << text;
    auto loaded = store.Load(partner_);
    ASSERT_FALSE(loaded.ok()) << text;
    EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss) << text;
  }
  // The same fields with integers that fit load.
  std::ofstream(store.PathFor(partner_))
      << R"({"format":"firehose-poll-cursor","format_version":1,"partner_id":"globex",)"
      << R"("cursor":"c","pages":1,"saved_at_us":9223372036854775807})";
  auto loaded = store.Load(partner_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->pages, 1U);
}

}  // namespace
}  // namespace firehose::poll
