// The `firehose` command line: each stage's commands register themselves here; main() parses
// and runs the one selected. cli/ only wires stages together: no stage logic lives here.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace firehose::cli {

// Exit codes that scripts can trust.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;  // the command ran and found a problem (mismatch, bad file)
inline constexpr int kExitUsage = 2;        // wrong arguments
inline constexpr int kExitError = 3;        // could not run (bad config, I/O error, server down)
inline constexpr int kExitInterrupted = 130;

struct Context {
  std::string config_path;  // --config; empty: built-in defaults where a command allows it
  bool json = false;        // --json: machine-readable output on stdout
  std::string log_level = "info";
  // The command selected by parsing; main() runs it.
  std::function<int()> run;
};

// Loads --config, printing every problem on failure.
Result<Config> LoadConfig(const Context& context);
// Prints a Status as the CLI's error message ("firehose: <message>") and returns kExitError.
int Fail(const Status& status);

void AddConfigCommands(CLI::App& app, Context& context);
void AddSimCommands(CLI::App& app, Context& context);
void AddLakeCommands(CLI::App& app, Context& context);
void AddQuarantineCommands(CLI::App& app, Context& context);
void AddRunCommands(CLI::App& app, Context& context);
void AddDemoCommand(CLI::App& app, Context& context);
void AddLedgerCommands(CLI::App& app, Context& context);
void AddReconcileCommand(CLI::App& app, Context& context);

}  // namespace firehose::cli
