// Replays a fuzz target's committed corpus as ordinary tests: one test per file under
// FIREHOSE_FUZZ_CORPUS_DIR, each calling the target's LLVMFuzzerTestOneInput with the file's
// bytes. A target signals a broken property with FH_CHECK (the process aborts, the test fails);
// ASan/UBSan builds catch memory and undefined-behaviour errors on the same inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> CorpusFiles() {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(FIREHOSE_FUZZ_CORPUS_DIR, error)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A test name from a file name: letters and digits kept, everything else '_'.
std::string TestName(const ::testing::TestParamInfo<std::filesystem::path>& info) {
  std::string name = info.param.filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class Corpus : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(Corpus, ReplaysCleanly) {
  std::ifstream in(GetParam(), std::ios::binary);
  ASSERT_TRUE(in) << GetParam();
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Files, Corpus, ::testing::ValuesIn(CorpusFiles()), TestName);

// An empty or missing corpus directory would make the replay silently test nothing.
TEST(CorpusPresent, HasAtLeastOneFile) {
  EXPECT_FALSE(CorpusFiles().empty()) << FIREHOSE_FUZZ_CORPUS_DIR;
}

}  // namespace
