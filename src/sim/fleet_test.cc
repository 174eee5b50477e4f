#include "sim/fleet.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "sim/test_support.h"

namespace firehose::sim {
namespace {

using testing::TempDir;
using testing::WriteAndLoad;

std::set<std::string> FilesUnder(const std::filesystem::path& root) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    files.insert(std::filesystem::relative(entry.path(), root).string());
  }
  return files;
}

unsigned Mode(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(FleetTest, TwoSlotsInThreeAreWebhookPartnersCyclingThroughEveryShape) {
  auto fleet = MakeFleet({12, 1});
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->reserved_poll_slots, 4);
  std::vector<std::string> ids;
  std::set<Shape> shapes;
  std::set<int> exponents;
  for (const SimPartner& partner : fleet->partners) {
    ids.push_back(partner.id.str());
    shapes.insert(partner.shape);
    for (const Currency& currency : partner.currencies) exponents.insert(currency.exponent());
    EXPECT_EQ(partner.currencies.size(), 2u);
    EXPECT_FALSE(partner.currencies[0] == partner.currencies[1]) << partner.id.str();
  }
  EXPECT_EQ(ids,
            (std::vector<std::string>{"p000-stripe", "p001-batch", "p003-adyen", "p004-paypal",
                                      "p006-stripe", "p007-batch", "p009-adyen", "p010-paypal"}));
  EXPECT_EQ(shapes.size(), static_cast<std::size_t>(kShapeCount));
  EXPECT_EQ(exponents, (std::set<int>{0, 2, 3}));
}

TEST(FleetTest, ConfigDirectoryHoldsTheConfigAndPrivateSecretsAndNothingElse) {
  TempDir dir;
  const auto loaded = WriteAndLoad(dir, 6, 7, 18080);
  EXPECT_EQ(
      FilesUnder(dir.path()),
      (std::set<std::string>{"firehose.toml", "secrets", "secrets/p000-stripe",
                             "secrets/p001-batch", "secrets/p003-adyen", "secrets/p004-paypal"}));
  EXPECT_EQ(Mode(dir.path() / "secrets"), 0700u);
  EXPECT_EQ(Mode(dir.path() / "secrets" / "p003-adyen"), 0600u);
  EXPECT_EQ(loaded.config.server.listen_port, 18080);
  EXPECT_EQ(loaded.config.data_dir, dir.path() / "data");
  ASSERT_EQ(loaded.config.partners.size(), 4u);
  EXPECT_EQ(loaded.config.partners[1].signature.scheme, SignatureScheme::kStandardWebhooks);
  EXPECT_EQ(loaded.config.partners[1].mapping->name, "sim_batch");
  const std::string text = ReadText(dir.path() / "firehose.toml");
  EXPECT_NE(text.find("[mappings.sim_paypal]"), std::string::npos);
  EXPECT_NE(text.find("secrets = [\"file:secrets/p004-paypal\"]"), std::string::npos);
  EXPECT_EQ(text.find("whsec_"), std::string::npos) << "no secret is written inline";
}

TEST(FleetTest, TheFleetRebuiltFromTheConfigIsTheFleetThatWroteIt) {
  TempDir dir;
  const auto loaded = WriteAndLoad(dir, 12, 7);
  auto made = MakeFleet({12, 7});
  ASSERT_TRUE(made.ok());
  ASSERT_EQ(loaded.fleet.partners.size(), made->partners.size());
  for (std::size_t i = 0; i < made->partners.size(); ++i) {
    const SimPartner& from_config = loaded.fleet.partners[i];
    const SimPartner& original = made->partners[i];
    EXPECT_EQ(from_config.id, original.id);
    EXPECT_EQ(from_config.shape, original.shape);
    EXPECT_EQ(from_config.ordinal, original.ordinal);
    EXPECT_EQ(from_config.secret.Reveal(), original.secret.Reveal());
    EXPECT_EQ(from_config.currencies, original.currencies);
    EXPECT_TRUE(SameMapping(*from_config.mapping, *original.mapping));
  }
}

TEST(FleetTest, SecretsAreRandomFromTheSeedAndDifferPerPartner) {
  auto first = MakeFleet({6, 42});
  auto again = MakeFleet({6, 42});
  auto other = MakeFleet({6, 43});
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  std::set<std::string> secrets;
  for (std::size_t i = 0; i < first->partners.size(); ++i) {
    EXPECT_EQ(first->partners[i].secret.Reveal(), again->partners[i].secret.Reveal());
    EXPECT_NE(first->partners[i].secret.Reveal(), other->partners[i].secret.Reveal());
    secrets.insert(std::string(first->partners[i].secret.Reveal()));
    EXPECT_TRUE(first->partners[i].secret.Reveal().starts_with("whsec_"));
  }
  EXPECT_EQ(secrets.size(), first->partners.size());
}

TEST(FleetTest, AnEditedSimulatorMappingOrSchemeIsRefused) {
  TempDir dir;
  WriteAndLoad(dir, 3);
  const std::filesystem::path path = dir.path() / "firehose.toml";
  const std::string text = ReadText(path);

  std::string edited = text;
  edited.replace(edited.find("amount_format = \"minor_units\""), 29, "amount_format = \"decimal\"");
  auto config = ParseConfig(edited, dir.path());
  ASSERT_TRUE(config.config.has_value());
  auto fleet = FleetFromConfig(*config.config);
  ASSERT_FALSE(fleet.ok());
  EXPECT_NE(fleet.status().message().find("was edited"), std::string::npos)
      << fleet.status().message();

  std::string rescheme = text;
  rescheme.replace(rescheme.find("signature = \"stripe\""), 20,
                   "signature = \"standard_webhooks\"");
  config = ParseConfig(rescheme, dir.path());
  ASSERT_TRUE(config.config.has_value());
  fleet = FleetFromConfig(*config.config);
  ASSERT_FALSE(fleet.ok());
  EXPECT_NE(fleet.status().message().find("signed with stripe"), std::string::npos)
      << fleet.status().message();
}

TEST(FleetTest, PartnersWithOtherMappingsAreLeftAlone) {
  TempDir dir;
  WriteAndLoad(dir, 2);
  std::string text = ReadText(dir.path() / "firehose.toml");
  text += R"(
[[partners]]
id = "acme"
signature = "stripe"
secrets = ["file:secrets/p000-stripe"]
mapping = { txn_id = "/id", amount = "/amount", currency = "/ccy", status = "/s", status_map = { ok = "succeeded" }, event_time = "/t" }
)";
  auto config = ParseConfig(text, dir.path());
  ASSERT_TRUE(config.config.has_value())
      << config.problems.front().key << " " << config.problems.front().message;
  auto fleet = FleetFromConfig(*config.config);
  ASSERT_TRUE(fleet.ok()) << fleet.status().message();
  EXPECT_EQ(fleet->partners.size(), 2u);
  EXPECT_EQ(fleet->foreign_partners, std::vector<std::string>{"acme"});

  Config empty;
  EXPECT_FALSE(FleetFromConfig(empty).ok());
  EXPECT_FALSE(MakeFleet({0, 1}).ok());
}

}  // namespace
}  // namespace firehose::sim
