#include "lake/lake_reader.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <fstream>

#include "core/file.h"
#include "lake/lake_test_util.h"

namespace firehose::lake {
namespace {

namespace fs = std::filesystem;

std::string Compress(std::string_view text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t size = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 1);
  out.resize(size);
  return out;
}

void WriteBytes(const fs::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> ReadAll(const fs::path& path, Status* status,
                                 LineReader::Options options = {}) {
  std::vector<std::string> lines;
  auto reader = LineReader::Open(path, options);
  if (!reader.ok()) {
    *status = reader.status();
    return lines;
  }
  std::string_view line;
  while (true) {
    Result<bool> more = (*reader)->Next(&line);
    if (!more.ok()) {
      *status = more.status();
      return lines;
    }
    if (!*more) break;
    lines.emplace_back(line);
  }
  *status = Status::Ok();
  return lines;
}

TEST(LineReader, SplitsLinesAcrossBlocksAndFrames) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i)
    text += "line " + std::to_string(i) + std::string(i % 97, 'x') + "\n";
  const std::string long_line = std::string(3 << 20, 'L') + "\n";  // longer than one buffer
  // Two concatenated frames are one valid zstd stream.
  WriteBytes(dir.path() / "f.zst", Compress(text) + Compress(long_line + "last\n"));
  Status status;
  const std::vector<std::string> lines = ReadAll(dir.path() / "f.zst", &status);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(lines.size(), 20002u);
  EXPECT_EQ(lines[0], "line 0");
  EXPECT_EQ(lines[19999], "line 19999" + std::string(19999 % 97, 'x'));
  EXPECT_EQ(lines[20000].size(), 3u << 20);
  EXPECT_EQ(lines[20001], "last");
}

TEST(LineReader, RefusesTruncatedFilesMissingNewlinesAndHugeLines) {
  testing::TempDir dir;
  const std::string whole = Compress("a\nb\nc\n");
  WriteBytes(dir.path() / "truncated.zst", whole.substr(0, whole.size() - 3));
  WriteBytes(dir.path() / "no_newline.zst", Compress("a\nb"));
  WriteBytes(dir.path() / "not_zstd.zst", "plain text\n");
  WriteBytes(dir.path() / "huge.zst", Compress(std::string(100000, 'h') + "\n"));
  Status status;
  ReadAll(dir.path() / "truncated.zst", &status);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.ToString();
  ReadAll(dir.path() / "no_newline.zst", &status);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("no newline"), std::string::npos);
  ReadAll(dir.path() / "not_zstd.zst", &status);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  ReadAll(dir.path() / "huge.zst", &status, {.line_bytes_max = 4096});
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("longer than 4096"), std::string::npos);
  ReadAll(dir.path() / "absent.zst", &status);
  EXPECT_FALSE(status.ok());
}

TEST(LakeListing, AnAbsentLakeIsEmptyAndStrayEntriesAreReported) {
  testing::TempDir dir;
  Result<LakeListing> empty = ListLake(dir.path() / "lake");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->manifests.empty());
  EXPECT_TRUE(empty->problems.empty());

  ASSERT_TRUE(EnsureDirectory(dir.path() / "lake/raw/event_date=2026-11-27").ok());
  ASSERT_TRUE(EnsureDirectory(dir.path() / "lake/raw/junk").ok());
  WriteBytes(dir.path() / "lake/raw/event_date=2026-11-27/notes.txt", "x");
  WriteBytes(dir.path() / "lake/raw/event_date=2026-11-27" /
                 PartFileName("w0", QueueOffset(0), QueueOffset(9)),
             Compress("{}\n"));
  Result<LakeListing> listing = ListLake(dir.path() / "lake");
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->unlisted_files.size(), 1u);
  std::vector<std::string> kinds;
  for (const LakeProblem& problem : listing->problems)
    kinds.push_back(problem.kind + " " + problem.path);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{
                "unexpected_entry raw/event_date=2026-11-27/notes.txt", "unexpected_entry raw/junk",
                "file_unlisted "
                "raw/event_date=2026-11-27/"
                "part-w0-00000000000000000000-00000000000000000009.jsonl.zst"}));
}

}  // namespace
}  // namespace firehose::lake
