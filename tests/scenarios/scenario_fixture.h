// The platform as an operator runs it, for the fault scenarios (issue 5): a config written by
// `firehose sim config`, `firehose run` as a real process on it, `firehose sim run` as the
// partners, and the ledger commands; plus the checks every scenario ends with: the lake holds
// what the partners had acknowledged, and the ledger equals the simulator's truth to the cent.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "sim/generator.h"
#include "sim/truth.h"
#include "support/lake_contents.h"
#include "support/process.h"

namespace firehose::scenarios {

using nlohmann::json;

// A long-closed business day: every scenario sends it, books it and reconciles it.
inline constexpr std::string_view kDay = "2026-11-20";

// Deadlines for conditions the platform reaches in seconds on an idle machine; generous so that
// a loaded machine or an ASan build waits longer instead of failing.
inline constexpr std::chrono::seconds kLakeDeadline{120};
inline constexpr std::chrono::seconds kStartDeadline{30};

struct Command {
  int exit_code = -1;
  std::string out;  // stdout
  // stdout parsed as JSON (a test failure, and a discarded value, if it is not JSON).
  json Json() const;
};

struct PlatformOptions {
  int partner_slots = 6;  // `sim config --partners`
  bool poll = false;      // `sim config --poll`: every third slot is a polled partner
  // Applied to the generated config text before it is used (e.g. a smaller poll page size).
  std::function<void(std::string&)> edit;
  // Appended to the config. The ledger scheduler is always off (the scenarios book days with
  // `ledger run` / `reprocess` themselves) and lake files are published every 200 ms.
  std::string extra_toml;
};

class Platform {
 public:
  Platform(const std::filesystem::path& dir, PlatformOptions options);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // The simulated partners, in config order: {"id", "mode", "mapping", "signature"}.
  const json& partners() const { return partners_; }
  std::string partner_id(std::size_t index) const;
  std::vector<std::string> poll_partner_ids() const;

  // Starts `firehose run` (with `env` added) and, unless told not to, waits for /healthz.
  bool Start(const std::vector<std::string>& env = {}, bool wait_healthy = true);
  void Kill(int signal_number) { server_.Kill(signal_number); }
  // Waits for `firehose run` to exit: its status (128 + signal if killed), -1 on timeout.
  int Wait(std::chrono::milliseconds timeout) { return server_.Wait(timeout); }
  // SIGTERM and wait: the exit status.
  int Stop();

  // `firehose <args> --config <config>`.
  Command Firehose(std::vector<std::string> args) const;
  // `firehose sim run --json --day kDay --target <edge> <args>`; the truth goes to `truth_dir`.
  Command SimRun(const std::filesystem::path& truth_dir, std::vector<std::string> args) const;
  std::future<Command> SimRunAsync(const std::filesystem::path& truth_dir,
                                   std::vector<std::string> args) const;

  // GET on the server's port; the parsed body ({} with a test failure if not 200 JSON).
  json GetJson(const std::string& target) const;
  // The partner's row in GET /api/ops/partners (null if absent).
  json OpsPartner(std::string_view partner) const;

  // The plan `sim run --seed seed --events events [--faults faults]` sends for kDay, computed
  // here from the same config (a plan is a pure function of the fleet and the options).
  sim::Plan PlanOf(std::uint64_t seed, std::int64_t events, std::string_view faults = "default");

  std::uint16_t port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config_path() const { return dir_ / "firehose.toml"; }
  std::filesystem::path data_dir() const { return dir_ / "data"; }
  std::filesystem::path log_path() const { return dir_ / "server.log"; }
  const Config& config();

 private:
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  json partners_;
  testing::ChildProcess server_;
  std::optional<Config> config_;
};

// --- the truth ------------------------------------------------------------------------------

sim::Truth ReadTruth(const std::filesystem::path& truth_dir);
// The truth of several sends that share no transaction (different partners, or different seeds
// of `sim run`, whose transaction ids differ): their totals, counts and conflicts added up.
sim::Truth MergeTruths(const std::vector<sim::Truth>& parts);
// Writes truth.json and statements.csv for `truth` into `dir`; the statements' path.
std::filesystem::path WriteTruth(const sim::Truth& truth, const std::filesystem::path& dir);
// The business days the truth has totals on (the day, and its neighbours when an event time
// crossed midnight).
std::vector<std::string> DaysOf(const sim::Truth& truth);

// --- the lake -------------------------------------------------------------------------------

// Waits until the lake holds at least `raw_lines` raw lines and `quarantine_lines` quarantined
// parts; the contents read last. A test failure if the deadline passes first.
testing::LakeContents WaitForLake(const std::filesystem::path& data_dir, std::int64_t raw_lines,
                                  std::int64_t quarantine_lines,
                                  std::chrono::seconds deadline = kLakeDeadline);
// The same for every event and quarantined part the truth says was acknowledged.
testing::LakeContents WaitForLakeToHold(const std::filesystem::path& data_dir,
                                        const sim::Truth& truth);

// --- the ledger -----------------------------------------------------------------------------

// `ledger show --json --transactions 0 --day day`.
json ShowDay(const Platform& platform, const std::string& day);
// `ledger run --day D` for every day of the truth.
void BookDays(const Platform& platform, const sim::Truth& truth);
// For every day of the truth: `reconcile` against `statements` exits 0 with every statement row
// matched, and `ledger show` has exactly the truth's totals per (partner, currency, status).
void ExpectLedgerEqualsTruth(const Platform& platform, const sim::Truth& truth,
                             const std::filesystem::path& statements);

// The txn_ids the plan's polled partners offer on their poll APIs, one per item (copies the
// partner itself resends included), per partner; and how many offered items are malformed.
struct OfferedItems {
  std::map<std::string, std::multiset<std::string>> txn_ids;
  std::map<std::string, std::int64_t> malformed;
};
OfferedItems OfferedPollItems(const sim::Fleet& fleet, const sim::Plan& plan);

}  // namespace firehose::scenarios
