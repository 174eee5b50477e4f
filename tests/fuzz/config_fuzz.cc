// Fuzz target: the config parser (core/config.h), TOML text -> Config. Properties: no crash
// and no exception escapes; a load either gives a Config or names at least one problem, each
// with a key or a message; a loaded Config has every limit inside its documented range; and
// DescribeConfig (what `config check` prints) never contains a secret's bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check.h"
#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firehose;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A base directory that does not exist: relative file: secrets resolve to nothing.
  const ConfigLoad load =
      ParseConfig(text, "/nonexistent/firehose-fuzz", /*world_readable=*/size % 2);
  if (!load.config) {
    FH_CHECK(!load.problems.empty(), "a config refused without a problem");
    for (const ConfigProblem& problem : load.problems) {
      FH_CHECK(!problem.key.empty() || !problem.message.empty(), "a problem that says nothing");
    }
    return 0;
  }
  FH_CHECK(load.problems.empty(), "a config loaded despite problems");
  const Config& config = *load.config;
  for (const LimitSpec& spec : kLimitSpecs) {
    const std::int64_t value = config.limits.*spec.field;
    FH_CHECK(value >= spec.min && value <= spec.max,
             "a limit outside its range: " + std::string(spec.name));
  }
  const std::string described = DescribeConfig(config);
  for (const PartnerConfig& partner : config.partners) {
    for (const Secret& secret : partner.signature.secrets) {
      // Short secrets can occur in the text by chance ("a"); long ones must not be there.
      if (secret.Reveal().size() >= 8) {
        FH_CHECK(described.find(secret.Reveal()) == std::string::npos,
                 "DescribeConfig printed a secret");
      }
    }
  }
  return 0;
}
