// `firehose run` (every role in one process), and the scale-out roles one by one:
// `firehose ingest` (the producers: webhook edge and poller), `firehose land` (the lake writer) and
// `firehose ops` (the ops consumer, alerts, API and dashboard).
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/platform.h"
#include "cli/signals.h"

namespace firehose::cli {

namespace {

int RunRoles(const Context& context, Roles roles, std::string_view what) {
  // First: a stop signal that comes while the config loads or the roles start is kept, and
  // stops them once started, instead of killing a half-started process.
  BlockStopSignals();
  auto config = LoadConfig(context);
  if (!config.ok()) return Fail(config.status());
  auto platform = Platform::Start(*config, roles);
  if (!platform.ok()) return Fail(platform.status().WithContext(std::string(what)));
  spdlog::info("firehose {} running; data in {}; Ctrl-C stops", what, config->data_dir.string());
  const int signal_number = WaitForStop(std::chrono::steady_clock::duration::zero(),
                                        [&] { return (*platform)->failed(); });
  InstallHardExit();
  spdlog::info("stopping ({})", signal_number != 0 ? "signal" : "a stage failed");
  (*platform)->Stop();
  if ((*platform)->failed()) return kExitError;
  return kExitOk;
}

}  // namespace

void AddRunCommands(CLI::App& app, Context& context) {
  app.add_subcommand("run",
                     "Run every role in one process: edge, poller, queue, lake writer, ops API and "
                     "dashboard")
      ->fallthrough()
      ->callback(
          [&context] { context.run = [&context] { return RunRoles(context, Roles{}, "run"); }; });
  app.add_subcommand("ingest", "Run the producers only: webhook edge and poller (scale-out role)")
      ->fallthrough()
      ->callback([&context] {
        context.run = [&context] {
          return RunRoles(
              context,
              Roles{.edge = true, .lake = false, .ops = false, .poll = true, .ledger = false},
              "ingest");
        };
      });
  app.add_subcommand("land", "Run the lake writer only (scale-out role)")
      ->fallthrough()
      ->callback([&context] {
        context.run = [&context] {
          return RunRoles(
              context,
              Roles{.edge = false, .lake = true, .ops = false, .poll = false, .ledger = false},
              "land");
        };
      });
  app.add_subcommand("ops",
                     "Run the ops view only: the ops consumer, alerts, the ops API and dashboard "
                     "on server.listen (scale-out role; no webhook route)")
      ->fallthrough()
      ->callback([&context] {
        context.run = [&context] {
          return RunRoles(
              context,
              Roles{.edge = false, .lake = false, .ops = true, .poll = false, .ledger = false},
              "ops");
        };
      });
}

}  // namespace firehose::cli
