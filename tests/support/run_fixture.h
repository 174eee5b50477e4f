// `firehose run` as a real process for the hardening tests (bad input, resource exhaustion,
// secrets): writes a config with known partners and secrets, starts the binary, scrapes its
// /metrics, stops it, and reads back what landed in the lake.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.h"
#include "support/raw_http.h"

namespace firehose::testing {

// The partners of every config RunServer writes:
//   acme      Stripe scheme, single events, kAcmeSecret (webhook_fixtures.h), unlimited rate
//   acme-eu   Stripe scheme, another secret ("acme" is its prefix: routing must not confuse them)
//   standard  Standard Webhooks, kStandardSecret
//   batcher   Stripe scheme, batches under "/events", kAcmeSecret
inline constexpr std::string_view kAcmeEuSecret = "whsec_acme_eu_other_secret_0123";

struct RunServerOptions {
  std::string limits_toml;         // extra lines under [limits]
  std::filesystem::path data_dir;  // default: <dir>/data
  // How the partners' secrets are written into the config: "inline" (a 0600 config file),
  // "file" (file:<dir>/secrets/<partner>, 0600) or "env" (env:FH_TEST_SECRET_<N>).
  std::string secret_style = "inline";
  std::vector<std::string> env;  // extra environment for the server
};

// Options with extra [limits] lines.
inline RunServerOptions WithLimits(std::string limits_toml) {
  RunServerOptions options;
  options.limits_toml = std::move(limits_toml);
  return options;
}

class RunServer {
 public:
  // `dir` holds the config, the server's log and (by default) the data directory.
  RunServer(std::filesystem::path dir, RunServerOptions options = {});
  ~RunServer();

  // Writes the config (first time), starts `firehose run` and waits for /healthz. False (with a
  // test failure naming the log) if it did not come up within 30 s.
  bool Start();
  // SIGTERM and wait (a graceful stop publishes everything durable to the lake); exit status.
  int Stop();

  std::uint16_t port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  std::filesystem::path config_path() const { return dir_ / "firehose.toml"; }
  std::filesystem::path log_path() const { return dir_ / "server.log"; }
  // The environment the server runs with (for running CLI commands the same way).
  std::vector<std::string> environment() const;

  // The sum of a counter family over the series whose labels include `labels`, from GET
  // /metrics; nullopt when the server does not serve /metrics.
  std::optional<std::uint64_t> Counter(std::string_view name,
                                       const std::map<std::string, std::string>& labels) const;

 private:
  void WriteConfig();

  std::filesystem::path dir_;
  RunServerOptions options_;
  std::filesystem::path data_dir_;
  std::uint16_t port_ = 0;
  ChildProcess process_;
  bool config_written_ = false;
};

// Every arrival in the lake: arrival id -> the reasons of its quarantined parts ("" for each
// event in the raw zone). Fails the test if the lake cannot be listed or a line not read.
std::map<std::string, std::vector<std::string>> LakeArrivals(const std::filesystem::path& data_dir);

// Polls the lake (published files only, so it is safe while the server runs) until it holds at
// least `arrivals` arrivals or `timeout` passes. (A graceful stop also lands what the queue holds,
// within the lake's stop_drain_max.)
void WaitForLakeArrivals(const std::filesystem::path& data_dir, std::size_t arrivals,
                         std::chrono::milliseconds timeout);

// The path of the `firehose` binary under test.
std::string FirehoseBinary();

}  // namespace firehose::testing
