// `firehose demo`: the platform on the embedded defaults with a fleet of simulated partners,
// in one command and with no config file. It writes a simulator config (webhook and poll
// partners, alert rules) into a fresh data directory, serves the poll partners' APIs from the
// simulator's poll server (with 429s, an outage, hangs and malformed pages), starts every role
// in-process, sends yesterday's business day of signed webhooks (duplicates, late resends,
// conflicts, malformed bodies and bad signatures included) while the poller reads the feeds,
// waits until the lake holds every acknowledged or polled event, then books the closed day's
// ledger and reconciles it against the partners' settlement statements (written from the
// simulator's truth), waits for the alerts the faults fired to resolve, and reports all of it.
// Then it keeps serving the dashboard until Ctrl-C, or until --duration seconds from its start.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/platform.h"
#include "cli/signals.h"
#include "core/event.h"
#include "core/money.h"
#include "core/time.h"
#include "lake/lake_reader.h"
#include "ledger/ledger_job.h"
#include "ledger/reconcile.h"
#include "ops/ops_service.h"
#include "sim/fleet.h"
#include "sim/generator.h"
#include "sim/poll_feeds.h"
#include "sim/poll_server.h"
#include "sim/sender.h"
#include "sim/truth.h"
#include "warehouse/warehouse.h"

namespace firehose::cli {

namespace {

struct DemoArgs {
  std::string data_dir;  // empty: a fresh directory under $TMPDIR
  int partners = 60;
  std::int64_t events = 5000;
  std::uint64_t seed = 1;
  std::uint16_t port = 0;  // 0: any free port
  int duration_s = -1;     // -1: until Ctrl-C; else the whole run's seconds (at least the report)
};

constexpr std::int64_t kDemoRollAgeMs = 1000;  // publish lake files within a second
// How long the poller may take to read every poll partner's feed (their fault windows, 429s, 503s
// and 3 s hangs, all end within the first seconds).
constexpr auto kPollTimeout = std::chrono::seconds(120);
// How long the report waits for the alerts the traffic fired to resolve.
constexpr auto kAlertsResolveTimeout = std::chrono::seconds(45);

// Alert rules the demo's traffic exercises: the simulator sends bursts of forged signatures and
// duplicates, so these fire while it sends and resolve once it has finished.
constexpr std::string_view kDemoAlertRules = R"(
[[ops.alerts]]
name = "signature-failures"
kind = "signature_failures"
threshold = 3
resolve_threshold = 1
window_s = 10
for_s = 1
resolve_hold_s = 5

[[ops.alerts]]
name = "duplicate-flood"
kind = "duplicate_rate"
threshold = 8
resolve_threshold = 4
window_s = 10
min_events = 50
for_s = 1
resolve_hold_s = 5
)";

// The closed day's ledger, and the statements reconciled against it.
struct Booked {
  warehouse::RunRecord run;
  std::vector<warehouse::TotalRow> totals;
  ledger::Reconciliation reconciliation;
};

Result<Booked> BookAndReconcile(const Config& config, BusinessDate day, const sim::Truth& truth) {
  FH_ASSIGN_OR_RETURN(std::unique_ptr<warehouse::Warehouse> warehouse,
                      warehouse::OpenWarehouse(config));
  FH_ASSIGN_OR_RETURN(
      ledger::JobResult job,
      ledger::RunLedgerDay(ledger::JobOptions::FromConfig(config, day), warehouse.get()));
  FH_ASSIGN_OR_RETURN(std::vector<ledger::StatementRow> statements,
                      ledger::ParseStatements(sim::StatementsCsv(truth)));
  Booked booked;
  booked.reconciliation = ledger::Reconcile(day, statements, job.totals);
  booked.run = std::move(job.run);
  booked.totals = std::move(job.totals);
  return booked;
}

nlohmann::json LedgerJson(const Booked& booked) {
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> by_currency;  // succeeded
  for (const warehouse::TotalRow& row : booked.totals) {
    if (row.status != TxnStatus::kSucceeded) continue;
    by_currency[row.currency].first += row.txn_count;
    by_currency[row.currency].second += row.amount.value();
  }
  nlohmann::json totals = nlohmann::json::object();
  for (const auto& [code, sums] : by_currency) {
    const auto currency = Currency::FromCode(code);
    totals[code] = {
        {"transactions", sums.first},
        {"total", currency.ok() ? FormatAmount(AmountMinor(sums.second), currency->exponent())
                           : std::to_string(sums.second)}};
  }
  const ledger::Reconciliation& reconciliation = booked.reconciliation;
  nlohmann::json mismatches = nlohmann::json::array();
  for (const ledger::Mismatch& mismatch : reconciliation.mismatches) {
    mismatches.push_back({{"kind", mismatch.kind},
                          {"partner_id", mismatch.partner_id},
                          {"currency", mismatch.currency}});
  }
  return {{"business_date", booked.run.business_date.ToString()},
          {"digest", booked.run.digest},
          {"events_read", booked.run.versions_read},
          {"transactions", booked.run.keys_booked},
          {"duplicates_removed", booked.run.duplicates},
          {"conflicts", booked.run.conflicts},
          {"quarantined", booked.run.quarantined},
          {"succeeded_by_currency", totals},
          {"reconciliation",
           {{"statement_rows", reconciliation.statement_rows},
            {"matched", reconciliation.matched},
            {"mismatches", mismatches},
            {"ok", reconciliation.ok()}}}};
}
constexpr auto kLandingTimeout = std::chrono::seconds(120);

// The simulator's config (webhook and poll partners) with the demo's alert rules.
Status WriteDemoConfig(const sim::Fleet& fleet, const sim::ConfigFileOptions& options,
                       const std::filesystem::path& dir) {
  FH_RETURN_IF_ERROR(sim::WriteConfigDirectory(fleet, options, dir));
  std::ofstream config_file(dir / "firehose.toml", std::ios::app);
  config_file << kDemoAlertRules;
  config_file.close();
  if (!config_file) return Internal("cannot append the alert rules to " + dir.string());
  return Status::Ok();
}

// The poll partners' APIs: the simulator's poll server on a free port, serving each polled
// partner's planned sends as a feed, with the default fault schedule (429s, a 503 outage, hangs
// longer than the poller's timeout, malformed pages, a silent stretch).
Result<std::unique_ptr<sim::PollServer>> StartPollServer(const sim::PollOffer& offer) {
  FH_ASSIGN_OR_RETURN(auto schedule, sim::ParsePollFaults("default", offer.feeds.size()));
  std::vector<sim::PollFeed> feeds = offer.feeds;
  for (std::size_t f = 0; f < feeds.size(); ++f) {
    // Shifted to begin at once: the demo's feeds are short, and a window that opened after a
    // feed was read would show nothing.
    std::vector<sim::PollFaultWindow>& windows = feeds[f].faults = schedule[f];
    if (windows.empty()) continue;
    const auto shift = windows.front().begin;
    for (sim::PollFaultWindow& window : windows) {
      window.begin -= shift;
      window.end -= shift;
    }
  }
  auto server = std::make_unique<sim::PollServer>(std::move(feeds), sim::PollServerOptions{});
  FH_RETURN_IF_ERROR(server->Start().WithContext("starting the simulated poll APIs"));
  return server;
}

nlohmann::json PollJson(const sim::PollDelivery& delivery) {
  std::map<std::string, std::int64_t> answers;
  std::int64_t pages = 0;
  for (const sim::PollFeedStats& stats : delivery.stats) {
    pages += stats.pages;
    for (const auto& [answer, count] : stats.answers) answers[answer] += count;
  }
  return {{"partners", delivery.stats.size()},
          {"pages", pages},
          {"answers", answers},
          {"all_served", delivery.all_served}};
}

// Waits (bounded) until no alert is pending or firing, then lists every alert that fired.
nlohmann::json AlertsJson(ops::OpsService* ops) {
  nlohmann::json out = {{"fired", nlohmann::json::array()}, {"still_firing", 0}};
  if (ops == nullptr) return out;
  const auto deadline = std::chrono::steady_clock::now() + kAlertsResolveTimeout;
  while (!ops->alerts().Active().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::vector<ops::Alert> alerts = ops->alerts().Recent();
  int still_firing = 0;
  for (const ops::Alert& alert : ops->alerts().Active()) {
    if (alert.state == ops::AlertState::kFiring) ++still_firing;
    alerts.push_back(alert);
  }
  for (const ops::Alert& alert : alerts) {
    if (alert.fired_at.value() == 0) continue;  // cleared while pending: never fired
    out["fired"].push_back({{"rule", alert.rule},
                            {"subject", alert.subject},
                            {"resolved", alert.state == ops::AlertState::kResolved},
                            {"message", alert.message}});
  }
  out["still_firing"] = still_firing;
  return out;
}

Result<std::filesystem::path> MakeDataDir(const DemoArgs& args) {
  if (!args.data_dir.empty()) {
    std::filesystem::path dir = std::filesystem::absolute(args.data_dir);
    std::error_code error;
    if (std::filesystem::exists(dir / "firehose.toml", error)) {
      return AlreadyExists(dir.string() + " already holds a demo; pass a new --data-dir");
    }
    std::filesystem::create_directories(dir, error);
    if (error) return Internal("cannot create " + dir.string() + ": " + error.message());
    return dir;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/firehose-demo-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return ErrnoStatus("mkdtemp", errno);
  return std::filesystem::path(pattern);
}

struct Landed {
  std::int64_t raw_events = 0;
  std::int64_t quarantined = 0;
  std::map<std::string, std::int64_t> events_by_date;
};

Result<Landed> ReadLanded(const std::filesystem::path& data_dir) {
  FH_ASSIGN_OR_RETURN(lake::LakeListing listing, lake::ListLake(lake::LakeRoot(data_dir)));
  Landed landed;
  for (const lake::LakeFile& file : listing.Files(lake::Zone::kRaw)) {
    landed.raw_events += static_cast<std::int64_t>(file.file.lines);
    landed.events_by_date[file.file.date.ToString()] += static_cast<std::int64_t>(file.file.lines);
  }
  for (const lake::LakeFile& file : listing.Files(lake::Zone::kQuarantine)) {
    landed.quarantined += static_cast<std::int64_t>(file.file.lines);
  }
  return landed;
}

// Waits until the lake holds every acknowledged event and quarantined part.
Result<Landed> WaitForLanding(const std::filesystem::path& data_dir, const sim::Truth& truth) {
  const auto deadline = std::chrono::steady_clock::now() + kLandingTimeout;
  while (true) {
    FH_ASSIGN_OR_RETURN(Landed landed, ReadLanded(data_dir));
    if (landed.raw_events >= truth.counts.events_acked &&
        landed.quarantined >= truth.counts.quarantined) {
      return landed;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Unavailable("the lake did not receive every acknowledged event within 120 s (" +
                         std::to_string(landed.raw_events) + " of " +
                         std::to_string(truth.counts.events_acked) + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

nlohmann::json Report(const std::filesystem::path& data_dir, std::uint16_t port,
                      const sim::SendReport& sent, const sim::PollDelivery& polled,
                      const sim::Truth& truth, const Landed& landed) {
  nlohmann::json out;
  out["data_dir"] = data_dir.string();
  out["url"] = "http://127.0.0.1:" + std::to_string(port);
  out["sent"] = {{"requests", sent.attempts},
                 {"acknowledged", sent.acknowledged},
                 {"rejected_401", sent.rejected},
                 {"retries", sent.retries},
                 {"failed", sent.failed}};
  out["polled"] = PollJson(polled);
  out["expected"] = {{"events", truth.counts.events_acked},
                     {"transactions", truth.counts.transactions},
                     {"duplicate_events", truth.counts.duplicate_events},
                     {"conflicts", truth.counts.conflicts},
                     {"quarantined", truth.counts.quarantined}};
  out["landed"] = {{"events", landed.raw_events},
                   {"quarantined", landed.quarantined},
                   {"events_by_date", landed.events_by_date}};
  out["quarantined_by_reason"] = truth.quarantined_by_reason;
  out["lake_matches_truth"] = landed.raw_events == truth.counts.events_acked &&
                              landed.quarantined == truth.counts.quarantined;
  return out;
}

void PrintReport(const nlohmann::json& report) {
  std::printf("\nFirehose demo: %s (data in %s)\n", report["url"].get<std::string>().c_str(),
              report["data_dir"].get<std::string>().c_str());
  const auto& sent = report["sent"];
  std::printf(
      "  webhooks sent      %lld requests, %lld acknowledged, %lld rejected (bad signature), "
      "%lld retried\n",
      sent["requests"].get<long long>(), sent["acknowledged"].get<long long>(),
      sent["rejected_401"].get<long long>(), sent["retries"].get<long long>());
  const auto& polled = report["polled"];
  std::printf("  partner APIs polled %lld partners, %lld pages;", polled["partners"].get<long long>(),
              polled["pages"].get<long long>());
  for (const auto& [answer, count] : polled["answers"].items()) {
    std::printf(" %s x%lld", answer.c_str(), count.get<long long>());
  }
  std::printf("%s\n", polled["all_served"].get<bool>() ? "" : " (NOT every feed read)");
  const auto& expected = report["expected"];
  const auto& landed = report["landed"];
  std::printf("  events in the lake %lld (expected %lld: %lld transactions + %lld duplicates)\n",
              landed["events"].get<long long>(), expected["events"].get<long long>(),
              expected["transactions"].get<long long>(),
              expected["duplicate_events"].get<long long>());
  for (const auto& [date, count] : landed["events_by_date"].items()) {
    std::printf("    event_date=%s  %lld events\n", date.c_str(), count.get<long long>());
  }
  std::printf("  quarantined        %lld (expected %lld)\n", landed["quarantined"].get<long long>(),
              expected["quarantined"].get<long long>());
  for (const auto& [reason, count] : report["quarantined_by_reason"].items()) {
    std::printf("    %-34s %lld\n", reason.c_str(), count.get<long long>());
  }
  std::printf("  lake == truth      %s\n", report["lake_matches_truth"].get<bool>() ? "yes" : "NO");
  const auto& booked = report["ledger"];
  std::printf("\nLedger of %s (digest %s)\n", booked["business_date"].get<std::string>().c_str(),
              booked["digest"].get<std::string>().substr(0, 16).c_str());
  std::printf(
      "  %lld events read, %lld duplicates removed, %lld transactions booked, "
      "%lld conflicts, %lld quarantined\n",
      booked["events_read"].get<long long>(), booked["duplicates_removed"].get<long long>(),
      booked["transactions"].get<long long>(), booked["conflicts"].get<long long>(),
      booked["quarantined"].get<long long>());
  for (const auto& [code, sums] : booked["succeeded_by_currency"].items()) {
    std::printf("    %s  %8lld succeeded  %20s\n", code.c_str(),
                sums["transactions"].get<long long>(), sums["total"].get<std::string>().c_str());
  }
  const auto& reconciliation = booked["reconciliation"];
  std::printf("  reconciliation     %lld of %lld statement rows matched to the minor unit: %s\n",
              reconciliation["matched"].get<long long>(),
              reconciliation["statement_rows"].get<long long>(),
              reconciliation["ok"].get<bool>() ? "MATCHED" : "MISMATCH");
  for (const auto& mismatch : reconciliation["mismatches"]) {
    std::printf("    %s %s %s\n", mismatch["kind"].get<std::string>().c_str(),
                mismatch["partner_id"].get<std::string>().c_str(),
                mismatch["currency"].get<std::string>().c_str());
  }
  const auto& alerts = report["alerts"];
  std::printf("\nAlerts fired by the fault schedule: %zu (%lld still firing)\n",
              alerts["fired"].size(), alerts["still_firing"].get<long long>());
  for (const auto& alert : alerts["fired"]) {
    std::printf("  %-20s %-18s %s\n", alert["rule"].get<std::string>().c_str(),
                alert["subject"].get<std::string>().c_str(),
                alert["resolved"].get<bool>() ? "fired, then resolved" : "FIRING");
  }
  const std::string dir = report["data_dir"];
  std::printf(
      "\nExplore: firehose lake ls --data-dir %s\n"
      "         firehose quarantine ls --data-dir %s\n"
      "         zstdcat %s/lake/raw/*/*.jsonl.zst | head -1 | jq .\n"
      "         firehose ledger show --day %s --config %s/firehose.toml\n",
      dir.c_str(), dir.c_str(), dir.c_str(), booked["business_date"].get<std::string>().c_str(),
      report["config_dir"].get<std::string>().c_str());
}

int RunDemo(const Context& context, const DemoArgs& args) {
  const auto started = std::chrono::steady_clock::now();
  auto data_dir = MakeDataDir(args);
  if (!data_dir.ok()) return Fail(data_dir.status());
  // Two slots in three push webhooks, every third is polled (sim/fleet.h).
  auto fleet = sim::MakeFleet({args.partners, args.seed, /*poll_partners=*/true});
  if (!fleet.ok()) return Fail(fleet.status());
  sim::ConfigFileOptions file_options;
  file_options.port = args.port;
  file_options.data_dir = "data";
  file_options.seed = args.seed;
  // Written once to read the calendar the plan needs, and again below with the poll APIs' port.
  if (Status written = WriteDemoConfig(*fleet, file_options, *data_dir); !written.ok()) {
    return Fail(written);
  }
  auto config = LoadConfigOrStatus(*data_dir / "firehose.toml");
  if (!config.ok()) return Fail(config.status());

  sim::GeneratorOptions generator;
  generator.seed = args.seed;
  generator.transactions = args.events;
  // Yesterday: a closed business day, so that its ledger can be booked at once.
  generator.day = config->lake.calendar.DateOf(NowUs()).AddDays(-1);
  generator.calendar = config->lake.calendar;
  generator.batch_events_max =
      static_cast<int>(std::min<std::int64_t>(20, config->limits.batch_events_max));
  auto plan = sim::GeneratePlan(*fleet, generator);
  if (!plan.ok()) return Fail(plan.status());
  const sim::PollOffer offer = sim::OfferPolls(*fleet, *plan);
  auto poll_server = StartPollServer(offer);
  if (!poll_server.ok()) return Fail(poll_server.status());

  file_options.poll_port = (*poll_server)->port();
  if (Status written = WriteDemoConfig(*fleet, file_options, *data_dir); !written.ok()) {
    return Fail(written);
  }
  config = LoadConfigOrStatus(*data_dir / "firehose.toml");
  if (!config.ok()) return Fail(config.status());
  config->limits.lake_roll_age_ms = kDemoRollAgeMs;

  BlockStopSignals();
  // The demo books its day itself once the day has landed (below), not on the scheduler's clock.
  auto platform = Platform::Start(*config, Roles{.ledger = false});
  if (!platform.ok()) return Fail(platform.status());
  const std::uint16_t port = (*platform)->port();
  spdlog::info(
      "demo: {} simulated partners ({} polled) sending {} transactions for {} to "
      "http://127.0.0.1:{}",
      fleet->partners.size(), offer.feeds.size(), args.events, generator.day.ToString(), port);

  sim::SenderOptions sender;
  sender.target = "http://127.0.0.1:" + std::to_string(port);
  sender.concurrency = 8;
  sender.progress = ::isatty(STDERR_FILENO) == 1;
  sender.seed = args.seed;
  auto sent = sim::SendPlan(*fleet, *plan, sender);
  if (!sent.ok()) return Fail(sent.status());
  const sim::PollDelivery polled = sim::AwaitPolls(**poll_server, offer, kPollTimeout);
  std::vector<bool> delivered = sent->Acknowledged();
  for (std::size_t i = 0; i < delivered.size(); ++i) {
    delivered[i] = delivered[i] || polled.delivered[i];
  }
  auto truth = sim::ComputeTruth(*fleet, *plan, delivered, config->lake.calendar);
  if (!truth.ok()) return Fail(truth.status());
  truth->complete = sent->ok() && polled.all_served;
  if (Status written = sim::WriteTruthDirectory(*truth, *data_dir / "truth"); !written.ok()) {
    return Fail(written);
  }
  auto landed = WaitForLanding(config->data_dir, *truth);
  if (!landed.ok()) return Fail(landed.status());

  auto booked = BookAndReconcile(*config, generator.day, *truth);
  if (!booked.ok()) return Fail(booked.status().WithContext("booking the demo's day"));
  nlohmann::json report = Report(config->data_dir, port, *sent, polled, *truth, *landed);
  report["config_dir"] = data_dir->string();
  report["ledger"] = LedgerJson(*booked);
  report["alerts"] = AlertsJson((*platform)->ops());
  if (context.json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    PrintReport(report);
  }
  std::fflush(stdout);

  const auto left = std::chrono::seconds(args.duration_s) - (std::chrono::steady_clock::now() - started);
  if (args.duration_s < 0 || left > std::chrono::steady_clock::duration::zero()) {
    if (!context.json) std::printf("\nServing on http://127.0.0.1:%u — Ctrl-C to stop.\n", port);
    std::fflush(stdout);
    const auto limit = args.duration_s < 0 ? std::chrono::steady_clock::duration::zero() : left;
    WaitForStop(limit, [&] { return (*platform)->failed(); });
  }
  InstallHardExit();
  (*platform)->Stop();
  (*poll_server)->Stop();
  const bool ok = truth->complete && report["lake_matches_truth"].get<bool>() &&
                  booked->reconciliation.ok() && !(*platform)->failed();
  return ok ? kExitOk : kExitCheckFailed;
}

}  // namespace

void AddDemoCommand(CLI::App& app, Context& context) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* demo = app.add_subcommand(
      "demo", "Run the whole platform with simulated partners on the embedded defaults");
  demo->fallthrough();
  demo->add_option("--data-dir", args->data_dir,
                   "Where to keep the demo's data (default: a new temp dir)");
  demo->add_option("--partners", args->partners, "Simulated partner slots")->default_val(60);
  demo->add_option("--events", args->events, "Transactions to send")->default_val(5000);
  demo->add_option("--seed", args->seed, "Simulator seed")->default_val(1);
  demo->add_option("--port", args->port, "Port to serve on (0: any free port)")->default_val(0);
  demo->add_option("--duration", args->duration_s,
                   "Seconds the whole demo runs (default: until Ctrl-C; it always finishes its report)");
  demo->callback(
      [&context, args] { context.run = [&context, args] { return RunDemo(context, *args); }; });
}

}  // namespace firehose::cli
