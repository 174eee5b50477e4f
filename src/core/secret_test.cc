#include "core/secret.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace firehose {
namespace {

namespace fs = std::filesystem;

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "secret-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, const std::string& bytes, mode_t mode) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  Result<Secret> Resolve(std::string_view reference) {
    bool literal = true;
    Result<Secret> secret = ResolveSecret(reference, dir_.string(), &literal);
    EXPECT_FALSE(literal) << reference;
    return secret;
  }

  fs::path dir_;
};

TEST_F(SecretFileTest, APrivateFileIsReadWithoutItsTrailingNewline) {
  Write("acme", "whsec_abc123\n", 0600);
  Result<Secret> secret = Resolve("file:acme");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->Reveal(), "whsec_abc123");
}

TEST_F(SecretFileTest, AFileOthersCanReadIsRefusedAndTheMessageHoldsNoSecret) {
  Write("acme", "whsec_abc123", 0644);
  Result<Secret> secret = Resolve("file:acme");
  ASSERT_FALSE(secret.ok());
  EXPECT_NE(secret.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(secret.status().message().find("whsec_abc123"), std::string::npos);
}

TEST_F(SecretFileTest, ADirectoryOrAPipeIsNotASecret) {
  fs::create_directory(dir_ / "secrets.d");
  ::chmod((dir_ / "secrets.d").c_str(), 0700);
  Result<Secret> directory = Resolve("file:secrets.d");
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("not a regular file"), std::string::npos);

  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  // A FIFO would block a reader forever: it is refused before it is opened.
  Result<Secret> fifo = Resolve("file:fifo");
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("not a regular file"), std::string::npos);
}

TEST_F(SecretFileTest, AFileLargerThanASecretCanBeIsRefused) {
  Write("big", std::string(kSecretFileBytesMax + 1, 'a'), 0600);
  Result<Secret> big = Resolve("file:big");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("a secret is at most"), std::string::npos);
  Write("fits", std::string(kSecretFileBytesMax, 'a'), 0600);
  EXPECT_TRUE(Resolve("file:fits").ok());
}

TEST_F(SecretFileTest, AMissingOrEmptyFileIsNamed) {
  Result<Secret> missing = Resolve("file:nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);
  Write("empty", "\n", 0600);
  Result<Secret> empty = Resolve("file:empty");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("is empty"), std::string::npos);
}

}  // namespace
}  // namespace firehose
