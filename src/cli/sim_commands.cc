// `firehose sim config|run`: the partner simulator (DESIGN §9). Wiring only: the fleet, the plan,
// the sending and the truth live in src/sim/.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "sim/fleet.h"
#include "sim/generator.h"
#include "sim/poll_feeds.h"
#include "sim/poll_server.h"
#include "sim/sender.h"
#include "sim/sim_lake.h"
#include "sim/truth.h"

namespace firehose::cli {

namespace {

constexpr std::size_t kProblemsShown = 10;

struct SimConfigArgs {
  int partners = 6;
  std::string out_dir;
  std::uint64_t seed = 1;
  int port = 8080;
  std::string data_dir = "data";
  bool poll = false;
  int poll_port = 0;
};

struct SimRunArgs {
  std::string target;
  std::int64_t events = 1000;
  std::string day;
  std::uint64_t seed = 1;
  int concurrency = 8;
  double rate = 0;
  std::string truth_dir;
  std::string acks_path;
  std::string faults = "default";
  int batch_max = sim::kBatchEventsDefault;
  std::int64_t timeout_ms = 10'000;
  std::int64_t give_up_s = 600;
  std::string poll_faults = "none";
  std::int64_t poll_wait_s = 120;
  std::int64_t poll_linger_s = 2;
  std::vector<std::string> only_partners;
  std::vector<std::string> skip_partners;
};

// What the poll server did for `sim run`.
struct PollOutcome {
  bool all_served = true;
  std::vector<bool> delivered;  // per plan send
  nlohmann::json summary = nlohmann::json::object();
};

// The host and port every polled partner's URL names (the poll server listens there).
Result<std::pair<std::string, std::uint16_t>> PollListenAddress(const sim::Fleet& fleet) {
  std::optional<std::pair<std::string, std::uint16_t>> address;
  for (const sim::SimPartner& partner : fleet.partners) {
    if (!partner.polled) continue;
    const std::string& url = partner.poll_url;
    const std::string suffix = "/poll/" + partner.id.str();
    const std::size_t colon = url.rfind(':');
    if (!url.starts_with("http://") || !url.ends_with(suffix) || colon == std::string::npos ||
        colon < 7) {
      return InvalidArgument("poll partner " + partner.id.str() + ": url " + url +
                             " is not http://HOST:PORT/poll/" + partner.id.str());
    }
    const std::string host = url.substr(7, colon - 7);
    const int port =
        std::atoi(url.substr(colon + 1, url.size() - suffix.size() - colon - 1).c_str());
    if (port <= 0 || port > 65535)
      return InvalidArgument("poll partner " + partner.id.str() + ": bad port in " + url);
    std::pair<std::string, std::uint16_t> here{host, static_cast<std::uint16_t>(port)};
    if (address && *address != here) {
      return InvalidArgument("the simulator's poll partners must share one poll server address");
    }
    address = here;
  }
  return *address;
}

// Which partners of the fleet send (--only-partners / --skip-partners; default: all of them).
// Naming a partner that is not in the fleet is an error: a typo must not send the whole day.
Result<std::vector<bool>> SelectedPartners(const sim::Fleet& fleet, const SimRunArgs& args) {
  if (!args.only_partners.empty() && !args.skip_partners.empty()) {
    return InvalidArgument("give --only-partners or --skip-partners, not both");
  }
  const bool only = !args.only_partners.empty();
  std::vector<bool> selected(fleet.partners.size(), !only);
  for (const std::string& id : only ? args.only_partners : args.skip_partners) {
    bool found = false;
    for (std::size_t p = 0; p < fleet.partners.size(); ++p) {
      if (fleet.partners[p].id.str() != id) continue;
      selected[p] = only;
      found = true;
    }
    if (!found) {
      return InvalidArgument(std::string(only ? "--only-partners" : "--skip-partners") + ": '" +
                             id + "' is not a simulated partner of the config");
    }
  }
  return selected;
}

// The poll APIs' fault schedule: "none", "default" (sim/poll_feeds.h), or a comma list of
// windows every polled partner follows, KIND:BEGIN_MS-END_MS[:N] with KIND one of outage,
// throttle (N: the Retry-After seconds, default 1), slow (N: the answer delay in ms, default
// 3000), malformed or silent, timed from the start of the poll server. When windows overlap the
// first one listed applies.
Result<std::vector<std::vector<sim::PollFaultWindow>>> PollFaultSchedule(std::string_view text,
                                                                         std::size_t feeds) {
  if (text == "none" || text == "default") return sim::ParsePollFaults(text, feeds);
  std::vector<sim::PollFaultWindow> windows;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t comma = rest.find(',');
    const std::string item(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto bad = [&item] {
      return InvalidArgument("poll fault '" + item +
                             "' is not KIND:BEGIN_MS-END_MS[:N] (KIND outage, throttle, slow, "
                             "malformed or silent)");
    };
    char kind[16] = {};
    long long begin_ms = 0;
    long long end_ms = 0;
    long long parameter = -1;
    int consumed = 0;
    const int fields = std::sscanf(item.c_str(), "%15[a-z]:%lld-%lld%n:%lld%n", kind, &begin_ms,
                                   &end_ms, &consumed, &parameter, &consumed);
    if (fields < 3 || static_cast<std::size_t>(consumed) != item.size() || begin_ms < 0 ||
        end_ms <= begin_ms || (fields == 4 && parameter < 0)) {
      return bad();
    }
    sim::PollFaultWindow window;
    window.begin = std::chrono::milliseconds(begin_ms);
    window.end = std::chrono::milliseconds(end_ms);
    const std::string_view name = kind;
    if (name == "outage" || name == "throttle") {
      window.kind = name == "outage" ? sim::PollFaultKind::kOutage : sim::PollFaultKind::kThrottle;
      window.retry_after_s = fields == 4 ? parameter : 1;
    } else if (name == "slow") {
      window.kind = sim::PollFaultKind::kSlow;
      window.delay = std::chrono::milliseconds(fields == 4 ? parameter : 3000);
    } else if (name == "malformed" || name == "silent") {
      if (fields == 4) return bad();
      window.kind =
          name == "malformed" ? sim::PollFaultKind::kMalformed : sim::PollFaultKind::kSilent;
    } else {
      return bad();
    }
    windows.push_back(window);
  }
  return std::vector<std::vector<sim::PollFaultWindow>>(feeds, windows);
}

int RunSimConfig(const Context& context, const SimConfigArgs& args) {
  auto fleet = sim::MakeFleet({args.partners, args.seed, args.poll});
  if (!fleet.ok()) return Fail(fleet.status());
  sim::ConfigFileOptions options;
  options.port = static_cast<std::uint16_t>(args.port);
  options.data_dir = args.data_dir;
  options.seed = args.seed;
  options.poll_port = static_cast<std::uint16_t>(args.poll_port);
  const Status written = sim::WriteConfigDirectory(*fleet, options, args.out_dir);
  if (!written.ok()) return Fail(written);
  const std::string config_path = (std::filesystem::path(args.out_dir) / "firehose.toml").string();
  if (context.json) {
    nlohmann::json out = {{"config", config_path},
                          {"seed", args.seed},
                          {"partners", nlohmann::json::array()},
                          {"reserved_poll_slots", fleet->reserved_poll_slots}};
    for (const sim::SimPartner& partner : fleet->partners) {
      out["partners"].push_back(
          {{"id", partner.id.str()},
           {"mode", partner.polled ? "poll" : "webhook"},
           {"mapping", sim::InfoOf(partner.shape).mapping_name},
           {"signature", SignatureSchemeName(sim::InfoOf(partner.shape).scheme)}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf("wrote %s: %zu partners", config_path.c_str(), fleet->partners.size());
  if (fleet->reserved_poll_slots > 0) {
    std::printf(" (%d slots reserved for polled partners)", fleet->reserved_poll_slots);
  }
  std::printf(", secrets in %s/secrets/ (mode 0600)\n", args.out_dir.c_str());
  for (const sim::SimPartner& partner : fleet->partners) {
    std::printf("  %-20s %-14.*s %s\n", partner.id.str().c_str(),
                static_cast<int>(sim::InfoOf(partner.shape).mapping_name.size()),
                sim::InfoOf(partner.shape).mapping_name.data(),
                partner.polled
                    ? "poll"
                    : std::string(SignatureSchemeName(sim::InfoOf(partner.shape).scheme)).c_str());
  }
  return kExitOk;
}

nlohmann::json SummaryJson(const sim::Fleet& fleet, const sim::Plan& plan,
                           const sim::SendReport& report, const sim::Truth& truth,
                           const std::string& faults) {
  nlohmann::json out;
  out["ok"] = report.ok();
  out["day"] = plan.day.ToString();
  out["seed"] = plan.seed;
  out["faults"] = faults;
  out["partners"] = fleet.partners.size();
  out["transactions"] = plan.transactions;
  out["elapsed_s"] = report.elapsed_s;
  nlohmann::json planned = nlohmann::json::object();
  for (const sim::PlannedSend& send : plan.sends) {
    planned[std::string(sim::SendKindName(send.kind))] =
        planned.value(std::string(sim::SendKindName(send.kind)), 0) + 1;
  }
  out["sends"] = {{"planned", plan.sends.size()},
                  {"by_kind", planned},
                  {"acknowledged", report.acknowledged},
                  {"rejected_as_expected", report.rejected},
                  {"failed", report.failed},
                  {"skipped", report.skipped},
                  {"unexpected", report.unexpected},
                  {"ambiguous", report.ambiguous}};
  out["attempts"] = report.attempts;
  out["retries"] = report.retries;
  out["answers"] = report.answers;
  out["truth"] = {{"complete", truth.complete},
                  {"transactions", truth.counts.transactions},
                  {"events_acked", truth.counts.events_acked},
                  {"duplicate_events", truth.counts.duplicate_events},
                  {"conflicts", truth.counts.conflicts},
                  {"quarantined", truth.counts.quarantined},
                  {"quarantined_by_reason", truth.quarantined_by_reason}};
  nlohmann::json problems = nlohmann::json::array();
  for (std::size_t i = 0; i < report.results.size(); ++i) {
    const sim::SendResult& result = report.results[i];
    if (result.problem.empty()) continue;
    problems.push_back({{"send", i},
                        {"partner", fleet.partners[plan.sends[i].partner].id.str()},
                        {"kind", sim::SendKindName(plan.sends[i].kind)},
                        {"outcome", sim::OutcomeName(result.outcome)},
                        {"problem", result.problem}});
  }
  out["problems"] = problems;
  return out;
}

void PrintSummary(const nlohmann::json& summary) {
  const nlohmann::json& sends = summary["sends"];
  const nlohmann::json& truth = summary["truth"];
  const double elapsed = summary["elapsed_s"].get<double>();
  std::printf("sim run %s: %lld sends in %.1f s (%.0f/s), %lld partners, faults %s\n",
              summary["ok"].get<bool>() ? "ok" : "FAILED", sends["planned"].get<long long>(),
              elapsed, elapsed > 0 ? sends["planned"].get<double>() / elapsed : 0.0,
              summary["partners"].get<long long>(), summary["faults"].get<std::string>().c_str());
  std::printf(
      "  acknowledged %lld, rejected as expected (401) %lld, failed %lld, skipped %lld, unexpected "
      "%lld\n",
      sends["acknowledged"].get<long long>(), sends["rejected_as_expected"].get<long long>(),
      sends["failed"].get<long long>(), sends["skipped"].get<long long>(),
      sends["unexpected"].get<long long>());
  std::printf("  attempts %lld, retries %lld; answers:", summary["attempts"].get<long long>(),
              summary["retries"].get<long long>());
  for (const auto& [answer, count] : summary["answers"].items()) {
    std::printf(" %s x%lld", answer.c_str(), count.get<long long>());
  }
  std::printf("\n  sends by kind:");
  for (const auto& [kind, count] : sends["by_kind"].items()) {
    std::printf(" %s %lld", kind.c_str(), count.get<long long>());
  }
  std::printf(
      "\n  truth: %lld transactions, %lld events acknowledged (%lld duplicates), %lld conflicts, "
      "%lld quarantined%s\n",
      truth["transactions"].get<long long>(), truth["events_acked"].get<long long>(),
      truth["duplicate_events"].get<long long>(), truth["conflicts"].get<long long>(),
      truth["quarantined"].get<long long>(), truth["complete"].get<bool>() ? "" : " (INCOMPLETE)");
  if (sends["ambiguous"].get<long long>() > 0) {
    std::printf(
        "  %lld sends were retried after an attempt the server may have stored (timeout, "
        "connection "
        "lost): the lake may hold extra copies\n",
        sends["ambiguous"].get<long long>());
  }
  std::size_t shown = 0;
  for (const nlohmann::json& problem : summary["problems"]) {
    if (shown++ == kProblemsShown) {
      std::printf("  ... %zu problems in all (--json lists every one)\n",
                  summary["problems"].size());
      break;
    }
    std::printf("  problem: send #%lld %s (%s) %s: %s\n", problem["send"].get<long long>(),
                problem["partner"].get<std::string>().c_str(),
                problem["kind"].get<std::string>().c_str(),
                problem["outcome"].get<std::string>().c_str(),
                problem["problem"].get<std::string>().c_str());
  }
}

// Waits for the poller to have read every feed (or --poll-wait-s), keeps answering for
// --poll-linger-s (a poller that crashed after its last page re-polls it), then stops the server.
PollOutcome FinishPolls(sim::PollServer* server, const sim::PollOffer& offer,
                        const SimRunArgs& args) {
  PollOutcome outcome;
  outcome.delivered.assign(offer.feed_of_send.size(), false);
  if (server == nullptr) return outcome;
  outcome.all_served =
      sim::AwaitPolls(*server, offer, std::chrono::seconds(args.poll_wait_s)).all_served;
  std::this_thread::sleep_for(std::chrono::seconds(args.poll_linger_s));
  // Read again: pages served during the linger count too.
  const sim::PollDelivery delivery = sim::AwaitPolls(*server, offer, std::chrono::milliseconds(0));
  outcome.summary = {{"partners", offer.feeds.size()},
                     {"all_served", outcome.all_served},
                     {"faults", args.poll_faults},
                     {"by_partner", nlohmann::json::object()}};
  for (std::size_t f = 0; f < offer.feeds.size(); ++f) {
    const sim::PollFeed& feed = offer.feeds[f];
    const sim::PollFeedStats& stats = delivery.stats[f];
    outcome.summary["by_partner"][feed.partner.str()] = {{"items", feed.items.size()},
                                                         {"served_end", stats.served_end},
                                                         {"requests", stats.requests},
                                                         {"answers", stats.answers}};
  }
  server->Stop();
  outcome.delivered = delivery.delivered;
  return outcome;
}

int RunSimRun(const Context& context, const SimRunArgs& args) {
  auto config = LoadConfig(context);
  if (!config.ok()) return Fail(config.status());
  auto fleet = sim::FleetFromConfig(*config);
  if (!fleet.ok()) return Fail(fleet.status());
  auto day = BusinessDate::Parse(args.day);
  if (!day.ok()) return Fail(day.status().WithContext("--day"));
  auto faults = sim::ParseFaults(args.faults);
  if (!faults.ok()) return Fail(faults.status().WithContext("--faults"));

  sim::GeneratorOptions generator;
  generator.seed = args.seed;
  generator.transactions = args.events;
  generator.day = *day;
  generator.calendar = config->lake.calendar;
  generator.faults = *faults;
  generator.batch_events_max =
      static_cast<int>(std::min<std::int64_t>(args.batch_max, config->limits.batch_events_max));
  auto selected = SelectedPartners(*fleet, args);
  if (!selected.ok()) return Fail(selected.status());
  auto plan = sim::GeneratePlan(*fleet, generator);
  if (!plan.ok()) return Fail(plan.status());
  // The partners left out send nothing: the truth then covers exactly the selected ones.
  plan = sim::SelectPartners(*plan, *selected);

  const sim::PollOffer offer = sim::OfferPolls(*fleet, *plan);
  bool polled_selected = false;
  for (std::size_t p = 0; p < fleet->partners.size(); ++p) {
    polled_selected |= fleet->partners[p].polled && (*selected)[p];
  }
  std::unique_ptr<sim::PollServer> poll_server;
  // Without a selected polled partner there is nothing to serve (and the port stays free for
  // another `sim run` that serves them).
  if (polled_selected) {
    auto address = PollListenAddress(*fleet);
    if (!address.ok()) return Fail(address.status());
    auto schedule = PollFaultSchedule(args.poll_faults, offer.feeds.size());
    if (!schedule.ok()) return Fail(schedule.status().WithContext("--poll-faults"));
    std::vector<sim::PollFeed> feeds = offer.feeds;
    for (std::size_t f = 0; f < feeds.size(); ++f) feeds[f].faults = (*schedule)[f];
    sim::PollServerOptions options;
    options.listen_host = address->first;
    options.listen_port = address->second;
    poll_server = std::make_unique<sim::PollServer>(std::move(feeds), options);
    const Status started = poll_server->Start();
    if (!started.ok()) return Fail(started.WithContext("starting the poll server"));
  }

  sim::SenderOptions sender;
  sender.target = args.target;
  while (sender.target.ends_with('/')) sender.target.pop_back();
  sender.concurrency = args.concurrency;
  sender.requests_per_second = args.rate;
  sender.timeout_ms = args.timeout_ms;
  sender.give_up_after_s = args.give_up_s;
  sender.acks_path = args.acks_path;
  sender.progress = ::isatty(STDERR_FILENO) == 1;
  sender.seed = args.seed;
  auto report = sim::SendPlan(*fleet, *plan, sender);
  if (!report.ok()) return Fail(report.status());
  const PollOutcome polls = FinishPolls(poll_server.get(), offer, args);

  std::vector<bool> acknowledged = report->Acknowledged();
  for (std::size_t i = 0; i < acknowledged.size(); ++i) {
    acknowledged[i] = acknowledged[i] || polls.delivered[i];
  }
  auto truth = sim::ComputeTruth(*fleet, *plan, acknowledged, config->lake.calendar);
  if (!truth.ok()) return Fail(truth.status());
  truth->complete = report->ok() && polls.all_served;
  truth->counts.ambiguous_sends = report->ambiguous;
  if (!args.truth_dir.empty()) {
    const Status written = sim::WriteTruthDirectory(*truth, args.truth_dir);
    if (!written.ok()) return Fail(written);
  }
  nlohmann::json summary =
      SummaryJson(*fleet, *plan, *report, *truth, sim::DescribeFaults(*faults));
  summary["poll"] = polls.summary;
  summary["ok"] = report->ok() && polls.all_served;
  if (context.json) {
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    PrintSummary(summary);
  }
  return report->ok() && polls.all_served ? kExitOk : kExitCheckFailed;
}

struct SimLakeArgs {
  std::string day;
  std::int64_t events = 1'000'000;
  int partners = 6;
  std::uint64_t seed = 1;
  std::string out_dir = "sim-lake";
  std::string faults = "default";
  int threads = 0;
};

int RunSimLake(const Context& context, const SimLakeArgs& args) {
  auto day = BusinessDate::Parse(args.day);
  if (!day.ok()) return Fail(day.status().WithContext("--day"));
  auto faults = sim::ParseFaults(args.faults);
  if (!faults.ok()) return Fail(faults.status().WithContext("--faults"));
  sim::SimLakeOptions options;
  options.data_dir = args.out_dir;
  options.day = *day;
  options.transactions = args.events;
  options.partner_slots = args.partners;
  options.seed = args.seed;
  options.faults = *faults;
  options.threads = args.threads;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  if (terminal) {
    options.on_progress = [](std::int64_t done, std::int64_t total) {
      std::fprintf(stderr, "\rsim lake: %lld/%lld transactions (%lld%%)\x1b[K",
                   static_cast<long long>(done), static_cast<long long>(total),
                   static_cast<long long>(done * 100 / std::max<std::int64_t>(1, total)));
    };
  }
  // The lake writer warns about every quarantined part: the plan puts them there on purpose.
  if (spdlog::get_level() < spdlog::level::err) spdlog::set_level(spdlog::level::err);
  const auto started = std::chrono::steady_clock::now();
  auto summary = sim::WriteSimLake(options);
  if (terminal) std::fprintf(stderr, "\r\x1b[K");
  if (!summary.ok()) return Fail(summary.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const sim::Truth& truth = summary->truth;
  if (context.json) {
    nlohmann::json out = {{"config", summary->config_path.string()},
                          {"data_dir", args.out_dir},
                          {"day", day->ToString()},
                          {"seed", args.seed},
                          {"faults", sim::DescribeFaults(*faults)},
                          {"chunks", summary->chunks},
                          {"records", summary->records},
                          {"events", summary->events},
                          {"quarantined", summary->quarantined},
                          {"elapsed_s", seconds},
                          {"truth",
                           {{"transactions", truth.counts.transactions},
                            {"events_acked", truth.counts.events_acked},
                            {"duplicate_events", truth.counts.duplicate_events},
                            {"conflicts", truth.counts.conflicts},
                            {"quarantined", truth.counts.quarantined}}}};
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf(
      "sim lake: %lld transactions as %lld records, %lld events (%lld duplicate), %lld "
      "conflicts, %lld quarantined, in %.1f s\n",
      static_cast<long long>(truth.counts.transactions), static_cast<long long>(summary->records),
      static_cast<long long>(summary->events),
      static_cast<long long>(truth.counts.duplicate_events),
      static_cast<long long>(truth.counts.conflicts), static_cast<long long>(summary->quarantined),
      seconds);
  std::printf("  config %s, lake %s/lake, truth %s/truth\n", summary->config_path.c_str(),
              args.out_dir.c_str(), args.out_dir.c_str());
  return kExitOk;
}

}  // namespace

void AddSimCommands(CLI::App& app, Context& context) {
  CLI::App* sim =
      app.add_subcommand("sim", "Simulated partners with ground truth (demo, tests, load)");
  sim->require_subcommand(1);
  sim->fallthrough();  // --config and --json may follow the subcommand

  // The parsed values are shared by the App's callback and the command it selects, so they
  // live as long as either.
  auto config_args = std::make_shared<SimConfigArgs>();
  CLI::App* config = sim->add_subcommand(
      "config",
      "Write a config with N simulated partner slots (2 in 3 webhook partners; every third slot is "
      "a polled partner with --poll, else left empty), their mappings and their secrets");
  config->add_option("--partners", config_args->partners, "Partner slots (1..1000)")
      ->default_val(6);
  config->add_option("--out", config_args->out_dir, "Directory for firehose.toml and secrets/")
      ->required();
  config->add_option("--seed", config_args->seed, "Seed for the secrets")->default_val(1);
  config->add_option("--port", config_args->port, "Port the server listens on (127.0.0.1)")
      ->default_val(8080)
      ->check(CLI::Range(1, 65535));
  config
      ->add_option("--data-dir", config_args->data_dir,
                   "data_dir in the config (relative: to the config's directory)")
      ->default_val("data");
  config->add_flag("--poll", config_args->poll,
                   "Fill every third slot with a polled partner (its API is served by `sim run`)");
  config
      ->add_option("--poll-port", config_args->poll_port,
                   "Port of the simulator's poll server (default: --port + 1)")
      ->check(CLI::Range(0, 65535));
  config->callback([&context, config_args] {
    context.run = [&context, config_args] { return RunSimConfig(context, *config_args); };
  });

  auto run_args = std::make_shared<SimRunArgs>();
  CLI::App* run = sim->add_subcommand(
      "run",
      "Send a day of signed webhooks from the simulated partners of --config (the file `sim "
      "config` wrote), retrying like real partners, and write the ground truth. Exit 1 if "
      "anything could not be delivered or was answered unexpectedly");
  run->add_option("--target", run_args->target, "Base URL of the edge, e.g. http://127.0.0.1:8080")
      ->required();
  run->add_option("--events", run_args->events, "Transactions to generate")
      ->default_val(1000)
      ->check(CLI::Range(std::int64_t{1}, sim::kTransactionsMax));
  run->add_option("--day", run_args->day, "Business day YYYY-MM-DD (event times spread over it)")
      ->required();
  run->add_option("--seed", run_args->seed, "Everything but send-time signatures derives from it")
      ->default_val(1);
  run->add_option("--concurrency", run_args->concurrency, "Concurrent senders (connections)")
      ->default_val(8)
      ->check(CLI::Range(1, sim::kConcurrencyMax));
  run->add_option("--rate", run_args->rate, "Requests per second over all senders (0: unpaced)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  run->add_option("--truth", run_args->truth_dir, "Directory for truth.json and statements.csv");
  run->add_option("--acks", run_args->acks_path,
                  "File with one line per 2xx: arrival_id, partner, body SHA-256");
  run->add_option("--faults", run_args->faults,
                  "none | default | name[=rate],... of duplicate, late, conflict, update, "
                  "midnight, malformed, bad_signature")
      ->default_val("default");
  run->add_option("--batch-max", run_args->batch_max, "Most events in one batched body")
      ->default_val(sim::kBatchEventsDefault)
      ->check(CLI::Range(1, 100000));
  run->add_option("--timeout-ms", run_args->timeout_ms, "Time one attempt may take")
      ->default_val(10'000)
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  run->add_option("--give-up-s", run_args->give_up_s,
                  "Stop retrying a send after this long (it is then failed)")
      ->default_val(600)
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{7 * 86'400}));
  run->add_option("--poll-faults", run_args->poll_faults,
                  "Fault schedule of the poll APIs: none | default (429, 503, hangs, malformed "
                  "and silent periods) | KIND:BEGIN_MS-END_MS[:N],... for every polled partner "
                  "(outage and throttle: N = Retry-After s; slow: N = delay ms; malformed; "
                  "silent)")
      ->default_val("none");
  run->add_option("--only-partners", run_args->only_partners,
                  "Send only these partners' part of the day (comma list of ids), e.g. the "
                  "replay of a partner that was offline; the truth covers only them")
      ->delimiter(',');
  run->add_option("--skip-partners", run_args->skip_partners,
                  "Send the day without these partners (comma list of ids): they are offline; "
                  "the truth covers only the others")
      ->delimiter(',');
  run->add_option("--poll-wait-s", run_args->poll_wait_s,
                  "Longest wait for the platform to poll every item after the webhooks are sent")
      ->default_val(120)
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86'400}));
  run->add_option("--poll-linger-s", run_args->poll_linger_s,
                  "Keep answering polls this long after everything was served")
      ->default_val(2)
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3600}));
  run->callback([&context, run_args] {
    context.run = [&context, run_args] { return RunSimRun(context, *run_args); };
  });

  auto lake_args = std::make_shared<SimLakeArgs>();
  CLI::App* lake = sim->add_subcommand(
      "lake",
      "Write a large synthetic lake straight to disk (the simulator's sends landed by the real "
      "lake writer, no HTTP), with a config and the ground truth, for the ledger's tests and "
      "benchmarks");
  lake->add_option("--day", lake_args->day, "Business day YYYY-MM-DD")->required();
  lake->add_option("--events", lake_args->events, "Transactions to generate")
      ->default_val(1'000'000)
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100'000'000'000}));
  lake->add_option("--partners", lake_args->partners, "Partner slots (1..1000)")->default_val(6);
  lake->add_option("--seed", lake_args->seed, "The lake and truth derive from it")->default_val(1);
  lake->add_option("--out", lake_args->out_dir,
                   "Data directory to create: firehose.toml, secrets/, lake/, truth/")
      ->default_val("sim-lake");
  lake->add_option("--faults", lake_args->faults, "As for `sim run`")->default_val("default");
  lake->add_option("--threads", lake_args->threads, "Writer threads (default: cores)");
  lake->callback([&context, lake_args] {
    context.run = [&context, lake_args] { return RunSimLake(context, *lake_args); };
  });
}

}  // namespace firehose::cli
