// Helpers shared by the simulator's tests: a scratch directory, and a fleet that went through
// the real path (sim config -> firehose.toml + secrets -> config loader -> FleetFromConfig).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/config.h"
#include "sim/fleet.h"

namespace firehose::sim::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "firehose-sim-XXXXXX").string();
    FH_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A config written by WriteConfigDirectory and loaded back like the server loads it.
struct ConfiguredFleet {
  Config config;
  Fleet fleet;
};

inline ConfiguredFleet WriteAndLoad(const TempDir& dir, int partner_slots, std::uint64_t seed = 7,
                                    std::uint16_t port = 8080) {
  auto made = MakeFleet({partner_slots, seed});
  FH_CHECK(made.ok(), "MakeFleet failed");
  ConfigFileOptions options;
  options.port = port;
  options.seed = seed;
  const Status written = WriteConfigDirectory(*made, options, dir.path());
  EXPECT_TRUE(written.ok()) << written.message();
  auto config = LoadConfigOrStatus(dir.path() / "firehose.toml");
  EXPECT_TRUE(config.ok()) << config.status().message();
  FH_CHECK(config.ok(), "the generated config does not load");
  auto fleet = FleetFromConfig(*config);
  EXPECT_TRUE(fleet.ok()) << fleet.status().message();
  FH_CHECK(fleet.ok(), "FleetFromConfig failed");
  return {std::move(config).value(), std::move(fleet).value()};
}

}  // namespace firehose::sim::testing
