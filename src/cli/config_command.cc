// `firehose config check FILE`: validates a config and explains every problem.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"

namespace firehose::cli {

namespace {

int CheckConfig(const Context& context, const std::string& path) {
  const ConfigLoad load = LoadConfigFile(path);
  if (context.json) {
    nlohmann::json out;
    out["file"] = path;
    out["ok"] = load.problems.empty();
    out["problems"] = nlohmann::json::array();
    for (const ConfigProblem& problem : load.problems) {
      out["problems"].push_back({{"key", problem.key}, {"message", problem.message}});
    }
    if (load.config) out["partners"] = load.config->partners.size();
    std::printf("%s\n", out.dump(2).c_str());
  } else if (load.problems.empty()) {
    std::printf("%s: ok\n\n%s", path.c_str(), DescribeConfig(*load.config).c_str());
  } else {
    std::printf("%s: %zu problem(s)\n", path.c_str(), load.problems.size());
    for (const ConfigProblem& problem : load.problems) {
      std::printf("  %s: %s\n", problem.key.c_str(), problem.message.c_str());
    }
  }
  return load.problems.empty() ? kExitOk : kExitCheckFailed;
}

int PrintLimits(const Context& context) {
  if (context.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const LimitSpec& spec : kLimitSpecs) {
      out.push_back({{"name", spec.name}, {"default", spec.default_value}, {"min", spec.min},
                     {"max", spec.max}, {"unit", spec.unit}, {"reason", spec.reason}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  for (const LimitSpec& spec : kLimitSpecs) {
    std::printf("%-32s %14lld %-12.*s %.*s\n", std::string(spec.name).c_str(),
                static_cast<long long>(spec.default_value), static_cast<int>(spec.unit.size()),
                spec.unit.data(), static_cast<int>(spec.reason.size()), spec.reason.data());
  }
  return kExitOk;
}

}  // namespace

void AddConfigCommands(CLI::App& app, Context& context) {
  CLI::App* config = app.add_subcommand("config", "Validate and explain configuration");
  config->require_subcommand(1);

  // Shared by the App's callback and the command it selects (a plain `new` leaks, and the
  // ASan build's leak check fails every `config check`).
  auto path = std::make_shared<std::string>();
  CLI::App* check = config->add_subcommand("check", "Validate a config file and explain each problem");
  check->add_option("file", *path, "The TOML config file")->required();
  check->callback([&context, path] { context.run = [&context, path] { return CheckConfig(context, *path); }; });

  CLI::App* limits = config->add_subcommand("limits", "List every limit with its default and reason");
  limits->callback([&context] { context.run = [&context] { return PrintLimits(context); }; });
}

}  // namespace firehose::cli
