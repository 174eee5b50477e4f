#include <cstdio>

#include "cli/commands.h"
#include "core/log.h"

namespace firehose::cli {

Result<Config> LoadConfig(const Context& context) {
  if (context.config_path.empty()) return InvalidArgument("--config FILE is required for this command");
  return LoadConfigOrStatus(context.config_path);
}

int Fail(const Status& status) {
  std::fprintf(stderr, "firehose: %s\n", status.message().c_str());
  return kExitError;
}

}  // namespace firehose::cli

namespace {

void AllowGlobalOptionsAnywhere(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();
    AllowGlobalOptionsAnywhere(*sub);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace firehose::cli;
  CLI::App app{"Firehose: payment events from partner APIs to an exact daily ledger.\n"
               "One source, two budgets: a seconds-fresh ops view and an exact finance ledger."};
  app.require_subcommand(1);
  Context context;
  app.add_option("-c,--config", context.config_path, "Configuration file (TOML)")
      ->envname("FIREHOSE_CONFIG");
  app.add_flag("--json", context.json, "Machine-readable JSON output on stdout");
  app.add_option("--log-level", context.log_level, "trace|debug|info|warn|error|off")
      ->envname("FIREHOSE_LOG_LEVEL");

  AddConfigCommands(app, context);
  AddLakeCommands(app, context);
  AddQuarantineCommands(app, context);
  AddLedgerCommands(app, context);
  AddReconcileCommand(app, context);
  AddSimCommands(app, context);
  AddRunCommands(app, context);
  AddDemoCommand(app, context);

  // --config, --json and --log-level may come after the (sub)command too.
  AllowGlobalOptionsAnywhere(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitUsage;
  }
  firehose::InitLogging(context.log_level);
  if (!context.run) return kExitUsage;
  return context.run();
}
