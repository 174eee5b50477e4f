// `firehose ledger run|status|reprocess|show` and `firehose reconcile`: the exact daily ledger
// (docs/ledger.md). Wiring only: the job, the day states and reconciliation live in src/ledger/,
// the tables in src/warehouse/.
//
// Exit codes: 0 ok; 1 the command found a problem (a stale or double-booked day for `status`, or
// one left after `reprocess`; a mismatch for `reconcile`; bad data in the lake or a total that
// overflows for `run`); 2 usage; 3 could not run (config, warehouse, I/O, a lake publication in
// progress).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "cli/commands.h"
#include "core/allocator.h"
#include "core/file.h"
#include "lake/lake_format.h"
#include "ledger/ledger_days.h"
#include "ledger/ledger_job.h"
#include "ledger/ledger_records.h"
#include "ledger/reconcile.h"
#include "ledger/shards.h"
#include "warehouse/warehouse.h"

namespace firehose::cli {

namespace {

using ledger::DayState;
using ledger::TotalChange;
using warehouse::RunRecord;
using warehouse::TotalRow;

struct LedgerArgs {
  std::string day;
  bool stale = false;
  int rounds = 8;  // reprocess --stale: rounds of re-running the stale days
  int threads = 0;
  int partitions = 0;
  std::int64_t memory_bytes_max = 0;
  std::int64_t transactions = 20;
  std::string statements;
  std::string shard;  // "i/N" for a sharded run
};

int ExitFor(const Status& status) {
  std::fprintf(stderr, "firehose: %s\n", status.message().c_str());
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kDataLoss:
    case StatusCode::kOutOfRange:
      return kExitCheckFailed;
    default:
      return kExitError;
  }
}

Result<BusinessDate> ParseDay(const std::string& text) {
  if (text.empty()) return InvalidArgument("--day YYYY-MM-DD is required");
  Result<BusinessDate> day = BusinessDate::Parse(text);
  if (!day.ok()) return InvalidArgument("--day '" + text + "' is not YYYY-MM-DD");
  return *day;
}

struct Opened {
  Config config;
  std::unique_ptr<warehouse::Warehouse> warehouse;
};

Result<Opened> Open(const Context& context) {
  Result<Config> config = LoadConfig(context);
  if (!config.ok()) {
    // A config that does not load is "could not run" (exit 3), not a usage error.
    return Status(
        config.status().code() == StatusCode::kInvalidArgument && context.config_path.empty()
            ? StatusCode::kInvalidArgument
            : StatusCode::kFailedPrecondition,
        config.status().message());
  }
  Opened opened;
  opened.config = std::move(*config);
  FH_ASSIGN_OR_RETURN(opened.warehouse, warehouse::OpenWarehouse(opened.config));
  return opened;
}

std::string Count(std::uint64_t value) {
  if (value >= 10'000'000) return std::to_string(value / 1'000'000) + "M";
  if (value >= 10'000) return std::to_string(value / 1000) + "k";
  return std::to_string(value);
}

// Progress on stderr when it is a terminal: one line rewritten in place.
std::function<void(const ledger::Progress&)> TerminalProgress(std::string label) {
  if (!::isatty(STDERR_FILENO)) return nullptr;
  return [label](const ledger::Progress& progress) {
    if (progress.total > 0) {
      std::fprintf(stderr, "\r%s: %.*s %s/%s (%llu%%)\x1b[K", label.c_str(),
                   static_cast<int>(progress.phase.size()), progress.phase.data(),
                   Count(progress.done).c_str(), Count(progress.total).c_str(),
                   static_cast<unsigned long long>(progress.done * 100 / progress.total));
    } else {
      std::fprintf(stderr, "\r%s: %.*s %s\x1b[K", label.c_str(),
                   static_cast<int>(progress.phase.size()), progress.phase.data(),
                   Count(progress.done).c_str());
    }
  };
}

void ClearProgress() {
  if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\x1b[K");
}

nlohmann::json TotalJson(const TotalRow& row) {
  return {{"partner_id", row.partner_id},
          {"currency", row.currency},
          {"status", TxnStatusName(row.status)},
          {"txn_count", row.txn_count},
          {"amount_minor", row.amount.value()},
          {"amount", ledger::FormatMoney(row.amount, row.currency)}};
}

nlohmann::json ChangeJson(const TotalChange& change) {
  return {{"partner_id", change.partner_id},
          {"currency", change.currency},
          {"status", TxnStatusName(change.status)},
          {"old_count", change.old_count},
          {"new_count", change.new_count},
          {"old_amount_minor", change.old_amount.value()},
          {"new_amount_minor", change.new_amount.value()}};
}

nlohmann::json RunJson(const RunRecord& run) {
  return {{"run_id", run.run_id},
          {"business_date", run.business_date.ToString()},
          {"started_at", FormatRfc3339Micros(run.started_at)},
          {"finished_at", FormatRfc3339Micros(run.finished_at)},
          {"dedup_window_days", run.dedup_window_days},
          {"timezone", run.timezone},
          {"partitions", run.partitions},
          {"threads", run.threads},
          {"memory_bytes_max", run.memory_bytes_max},
          {"files_read", run.files_read},
          {"bytes_read", run.bytes_read},
          {"lines_read", run.lines_read},
          {"lines_in_day", run.lines_in_day},
          {"versions_read", run.versions_read},
          {"keys_booked", run.keys_booked},
          {"duplicates", run.duplicates},
          {"conflicts", run.conflicts},
          {"quarantined", run.quarantined},
          {"spilled_bytes", run.spilled_bytes},
          {"partition_sizes", run.partition_sizes},
          {"digest", run.digest},
          {"timings", nlohmann::json::parse(run.timings_json, nullptr, false)}};
}

void PrintRun(const RunRecord& run) {
  std::printf(
      "ledger %s: run %lld, %lld keys booked from %lld lines in %lld files (%lld in the day)\n",
      run.business_date.ToString().c_str(), static_cast<long long>(run.run_id),
      static_cast<long long>(run.keys_booked), static_cast<long long>(run.lines_read),
      static_cast<long long>(run.files_read), static_cast<long long>(run.lines_in_day));
  std::printf(
      "  duplicates %lld, conflicts %lld, quarantined (arrival date) %lld, spilled %lld bytes\n",
      static_cast<long long>(run.duplicates), static_cast<long long>(run.conflicts),
      static_cast<long long>(run.quarantined), static_cast<long long>(run.spilled_bytes));
  std::printf("  digest %s\n", run.digest.c_str());
  std::printf("  took %.1f s (%s)\n",
              static_cast<double>(run.finished_at.value() - run.started_at.value()) / 1e6,
              run.timings_json.c_str());
}

void PrintTotals(const std::vector<TotalRow>& totals) {
  std::printf("  %-20s %-8s %-10s %12s %24s\n", "partner", "currency", "status", "txn_count",
              "amount");
  for (const TotalRow& row : totals) {
    std::printf("  %-20s %-8s %-10.*s %12lld %24s\n", row.partner_id.c_str(), row.currency.c_str(),
                static_cast<int>(TxnStatusName(row.status).size()),
                TxnStatusName(row.status).data(), static_cast<long long>(row.txn_count),
                ledger::FormatMoney(row.amount, row.currency).c_str());
  }
}

void PrintChanges(const ledger::DayRun& run) {
  if (!run.had_ledger) return;
  if (run.changes.empty()) {
    std::printf("  totals unchanged\n");
    return;
  }
  std::printf("  totals changed:\n");
  for (const TotalChange& change : run.changes) {
    std::printf("    %s\n", ledger::DescribeChange(change).c_str());
  }
}

std::function<void(ledger::JobOptions*)> Overrides(const LedgerArgs& args, std::string label) {
  auto progress = TerminalProgress(std::move(label));
  return [&args, progress](ledger::JobOptions* options) {
    if (args.threads > 0) options->threads = args.threads;
    if (args.partitions > 0) options->partitions = args.partitions;
    if (args.memory_bytes_max > 0) options->memory_bytes_max = args.memory_bytes_max;
    options->on_progress = progress;
  };
}

Result<ledger::DayRun> RunOne(const Opened& opened, BusinessDate day, const LedgerArgs& args) {
  Result<ledger::DayRun> run =
      ledger::RunDay(opened.config, day, opened.warehouse.get(), Overrides(args, day.ToString()));
  ClearProgress();
  return run;
}

nlohmann::json FindingJson(const warehouse::Finding& finding) {
  nlohmann::json out = {{"kind", warehouse::FindingKindName(finding.kind)},
                        {"business_date", finding.business_date.ToString()},
                        {"keys", finding.keys},
                        {"examples", nlohmann::json::parse(finding.examples, nullptr, false)}};
  if (finding.kind != warehouse::FindingKind::kStale) {
    out["other_date"] = finding.other_date.ToString();
  }
  return out;
}

nlohmann::json DoubleBookingJson(const warehouse::DoubleBooking& booking) {
  const warehouse::Finding& finding = booking.finding;
  nlohmann::json examples = nlohmann::json::array();
  for (const warehouse::Key& key : booking.still_booked_examples) {
    examples.push_back({key.first, key.second});
  }
  const auto [first, last] = ledger::DaysOf(booking);
  return {{"kind", warehouse::FindingKindName(finding.kind)},
          {"business_date", finding.business_date.ToString()},
          {"other_date", finding.other_date.ToString()},
          {"found_by_date", finding.found_by_date.ToString()},
          {"found_by_run", finding.found_by_run},
          {"keys_found", finding.keys},
          {"keys_listed", booking.keys_listed},
          {"keys_still_booked", booking.keys_still_booked},
          {"examples", std::move(examples)},
          {"window_days_needed", last.days_since_epoch() - first.days_since_epoch()},
          {"description", ledger::DescribeDoubleBooking(booking)}};
}

nlohmann::json DayRunJson(const ledger::DayRun& run) {
  nlohmann::json out = {
      {"run", RunJson(run.result.run)},      {"had_ledger", run.had_ledger},
      {"totals", nlohmann::json::array()},   {"changes", nlohmann::json::array()},
      {"findings", nlohmann::json::array()}, {"peak_memory_bytes", run.result.peak_memory_bytes}};
  for (const TotalRow& row : run.result.totals) out["totals"].push_back(TotalJson(row));
  for (const TotalChange& change : run.changes) out["changes"].push_back(ChangeJson(change));
  for (const warehouse::Finding& finding : run.result.findings)
    out["findings"].push_back(FindingJson(finding));
  return out;
}

void PrintFindings(const ledger::DayRun& run) {
  for (const warehouse::Finding& finding : run.result.findings) {
    const std::string day = finding.business_date.ToString();
    const std::string other = finding.other_date.ToString();
    const auto keys = static_cast<long long>(finding.keys);
    switch (finding.kind) {
      case warehouse::FindingKind::kStale:
        std::printf(
            "  found %lld key(s) whose booking on %s no longer matches the lake: %s is stale "
            "(e.g. %s)\n",
            keys, day.c_str(), day.c_str(), finding.examples.c_str());
        break;
      case warehouse::FindingKind::kDoubleBooked:
        std::printf(
            "  double booked across days: versions span more than the dedup window: %lld key(s) "
            "booked here are booked on %s too (e.g. %s); see `firehose ledger status`\n",
            keys, day.c_str(), finding.examples.c_str());
        break;
      case warehouse::FindingKind::kBeyondWindow:
        std::printf(
            "  double booked across days: versions span more than the dedup window: %s books "
            "%lld key(s) whose canonical version lies on %s, beyond its window (e.g. %s); see "
            "`firehose ledger status`\n",
            day.c_str(), keys, other.c_str(), finding.examples.c_str());
        break;
    }
  }
}

int LedgerRunShard(const Opened& opened, BusinessDate day, const LedgerArgs& args,
                   const Context& context);

// A ledger run is its own process with a memory bound (ledger_memory_bytes_max or --memory-max)
// that counts its resident set, freed memory the allocator keeps included: that may keep at
// most an eighth of the bound (and no more than heap_retain_bytes), so that what the budget no
// longer counts stays small next to it.
std::int64_t MemoryBound(const Opened& opened, const LedgerArgs& args) {
  return args.memory_bytes_max > 0 ? args.memory_bytes_max
                                   : opened.config.limits.ledger_memory_bytes_max;
}

void BoundFreedHeap(const Opened& opened, const LedgerArgs& args) {
  const std::int64_t bound = MemoryBound(opened, args);
  const std::int64_t retain = std::min(opened.config.limits.heap_retain_bytes, bound / 8);
  if (Status retained = RetainFreedHeap(retain); !retained.ok()) {
    spdlog::warn("heap retention of the ledger run not applied: {}", retained.ToString());
  }
}

// --- ledger run ---------------------------------------------------------------------------

int LedgerRun(const Context& context, const LedgerArgs& args) {
  Result<BusinessDate> day = ParseDay(args.day);
  if (!day.ok()) return ExitFor(day.status());
  Result<Opened> opened = Open(context);
  if (!opened.ok()) return ExitFor(opened.status());
  BoundFreedHeap(*opened, args);
  if (!args.shard.empty()) return LedgerRunShard(*opened, *day, args, context);
  Result<ledger::DayRun> run = RunOne(*opened, *day, args);
  if (!run.ok()) return ExitFor(run.status());
  if (context.json) {
    std::printf("%s\n", DayRunJson(*run).dump(2).c_str());
    return kExitOk;
  }
  PrintRun(run->result.run);
  PrintTotals(run->result.totals);
  PrintChanges(*run);
  PrintFindings(*run);
  return kExitOk;
}

// --- ledger run --shard i/N, ledger commit (docs/ledger.md, "Running it sharded") -----------

int LedgerRunShard(const Opened& opened, BusinessDate day, const LedgerArgs& args,
                   const Context& context) {
  Result<ledger::ShardSpec> shard = ledger::ParseShard(args.shard);
  if (!shard.ok()) return ExitFor(shard.status());
  ledger::JobOptions options = ledger::JobOptions::FromConfig(opened.config, day);
  Overrides(args, day.ToString() + " shard " + args.shard)(&options);
  options.shard_index = shard->index;
  options.shard_count = shard->count;
  // Its own spill directory: shards of one day may run on several machines sharing data_dir,
  // and a run removes the abandoned spill directories it finds in its own.
  options.spill_dir /=
      "shard-" + std::to_string(shard->index) + "-of-" + std::to_string(shard->count);
  const std::unique_ptr<warehouse::Warehouse> output =
      ledger::ShardOutput(opened.warehouse.get(), ledger::ShardDir(opened.config, day), *shard);
  Result<ledger::JobResult> result = ledger::RunLedgerDay(options, output.get());
  ClearProgress();
  if (!result.ok()) return ExitFor(result.status());
  if (context.json) {
    nlohmann::json out = {{"business_date", day.ToString()},
                          {"shard", shard->index},
                          {"shards", shard->count},
                          {"dir", ledger::ShardDir(opened.config, day).string()},
                          {"run", RunJson(result->run)}};
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf("shard %d/%d of %s written to %s: %lld keys from %lld versions\n", shard->index,
              shard->count, day.ToString().c_str(), ledger::ShardDir(opened.config, day).c_str(),
              static_cast<long long>(result->run.keys_booked),
              static_cast<long long>(result->run.versions_read));
  std::printf(
      "publish the day with `firehose ledger commit --day %s` once all %d shards are "
      "written\n",
      day.ToString().c_str(), shard->count);
  return kExitOk;
}

int LedgerCommit(const Context& context, const LedgerArgs& args) {
  Result<BusinessDate> day = ParseDay(args.day);
  if (!day.ok()) return ExitFor(day.status());
  Result<Opened> opened = Open(context);
  if (!opened.ok()) return ExitFor(opened.status());
  BoundFreedHeap(*opened, args);
  Result<std::optional<RunRecord>> previous = opened->warehouse->LatestRun(*day);
  if (!previous.ok()) return ExitFor(previous.status());
  std::vector<TotalRow> before;
  if (previous->has_value()) {
    Result<std::vector<TotalRow>> totals = opened->warehouse->ReadTotals(*day);
    if (!totals.ok()) return ExitFor(totals.status());
    before = std::move(*totals);
  }
  Result<ledger::CommitResult> committed =
      ledger::CommitShards(ledger::ShardDir(opened->config, *day), *day, opened->warehouse.get(),
                           MemoryBound(*opened, args));
  if (!committed.ok()) return ExitFor(committed.status());
  ledger::DayRun run;
  run.had_ledger = previous->has_value();
  run.result.run = committed->run;
  run.result.totals = committed->totals;
  run.result.findings = committed->findings;
  run.changes = ledger::DiffTotals(before, committed->totals);
  if (context.json) {
    nlohmann::json out = DayRunJson(run);
    out["shards"] = committed->shards;
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf("committed %d shards of %s\n", committed->shards, day->ToString().c_str());
  PrintRun(run.result.run);
  PrintTotals(run.result.totals);
  PrintChanges(run);
  PrintFindings(run);
  return kExitOk;
}

// --- ledger status ------------------------------------------------------------------------

nlohmann::json StateJson(const DayState& state) {
  nlohmann::json out = {{"business_date", state.day.ToString()},
                        {"state", state.state_name()},
                        {"stale", state.stale()},
                        {"lake_files", state.lake_files},
                        {"lake_events", state.lake_events},
                        {"new_files", state.new_files},
                        {"new_events", state.new_events},
                        {"new_bytes", state.new_bytes},
                        {"findings", nlohmann::json::array()},
                        {"double_booked", state.double_booked()},
                        {"double_bookings", nlohmann::json::array()}};
  for (const warehouse::DoubleBooking& booking : state.double_bookings) {
    out["double_bookings"].push_back(DoubleBookingJson(booking));
  }
  if (state.latest_run) {
    out["run_id"] = state.latest_run->run_id;
    out["finished_at"] = FormatRfc3339Micros(state.latest_run->finished_at);
    out["keys_booked"] = state.latest_run->keys_booked;
    out["digest"] = state.latest_run->digest;
  }
  for (const warehouse::Finding& finding : state.findings) {
    out["findings"].push_back(
        {{"found_by_run", finding.found_by_run},
         {"found_by_date", finding.found_by_date.ToString()},
         {"keys", finding.keys},
         {"examples", nlohmann::json::parse(finding.examples, nullptr, false)}});
  }
  return out;
}

// Each open double booking once, however many of the days' states list it.
std::vector<warehouse::DoubleBooking> DistinctDoubleBookings(const std::vector<DayState>& states) {
  std::vector<warehouse::DoubleBooking> out;
  std::set<std::tuple<std::int64_t, BusinessDate, BusinessDate>> seen;
  for (const DayState& state : states) {
    for (const warehouse::DoubleBooking& booking : state.double_bookings) {
      const warehouse::Finding& finding = booking.finding;
      if (seen.emplace(finding.found_by_run, finding.business_date, finding.other_date).second) {
        out.push_back(booking);
      }
    }
  }
  return out;
}

// The double bookings and what settles them: a re-run alone does not (docs/ledger.md, "Keys
// booked on two days").
void PrintDoubleBookings(const std::vector<warehouse::DoubleBooking>& bookings, std::FILE* out) {
  if (bookings.empty()) return;
  std::fprintf(out, "%zu double booking(s) across days:\n", bookings.size());
  for (const warehouse::DoubleBooking& booking : bookings) {
    std::fprintf(out, "  %s\n", ledger::DescribeDoubleBooking(booking).c_str());
  }
  std::fprintf(out, "  %s\n", ledger::DoubleBookingAdvice(bookings).c_str());
}

int LedgerStatus(const Context& context, const LedgerArgs& args) {
  std::optional<BusinessDate> only;
  if (!args.day.empty()) {
    Result<BusinessDate> day = ParseDay(args.day);
    if (!day.ok()) return ExitFor(day.status());
    only = *day;
  }
  Result<Opened> opened = Open(context);
  if (!opened.ok()) return ExitFor(opened.status());
  Result<std::vector<DayState>> states = ledger::ComputeDayStates(
      lake::LakeRoot(opened->config.data_dir), opened->warehouse.get(), only);
  if (!states.ok()) return ExitFor(states.status());
  bool any_stale = false;
  const std::vector<warehouse::DoubleBooking> double_bookings = DistinctDoubleBookings(*states);
  for (const DayState& state : *states) any_stale |= state.stale();
  const bool problem = any_stale || !double_bookings.empty();
  if (context.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const DayState& state : *states) out.push_back(StateJson(state));
    std::printf("%s\n", out.dump(2).c_str());
    return problem ? kExitCheckFailed : kExitOk;
  }
  std::printf("%-10s  %-13s  %6s %10s  %-20s  %s\n", "day", "state", "run", "keys", "booked at",
              "why");
  for (const DayState& state : *states) {
    std::string why;
    if (!state.new_files.empty()) {
      why = std::to_string(state.new_files.size()) + " new file(s) with " +
            std::to_string(state.new_events) + " event(s) in its partition";
    }
    for (const warehouse::Finding& finding : state.findings) {
      if (!why.empty()) why += "; ";
      why += "the run of " + finding.found_by_date.ToString() + " found " +
             std::to_string(finding.keys) + " key(s) booked differently";
    }
    // Per other day, the most keys any finding still sees booked twice (findings by several
    // runs overlap); "+" when a finding found more than it lists.
    std::map<BusinessDate, std::pair<std::int64_t, bool>> double_booked_with;
    for (const warehouse::DoubleBooking& booking : state.double_bookings) {
      const BusinessDate other = booking.finding.business_date == state.day
                                     ? booking.finding.other_date
                                     : booking.finding.business_date;
      auto& [keys, more] = double_booked_with[other];
      keys = std::max(keys, booking.keys_still_booked);
      more = more || booking.finding.keys > booking.keys_listed;
    }
    for (const auto& [other, keys] : double_booked_with) {
      if (!why.empty()) why += "; ";
      why += std::to_string(keys.first) + (keys.second ? "+" : "") + " key(s) double booked with " +
             other.ToString();
    }
    if (!state.booked()) {
      why = std::to_string(state.lake_events) + " event(s) in " + std::to_string(state.lake_files) +
            " file(s), no ledger yet";
    }
    const std::string run_id = state.latest_run ? std::to_string(state.latest_run->run_id) : "-";
    const std::string keys = state.latest_run ? std::to_string(state.latest_run->keys_booked) : "-";
    const std::string at =
        state.latest_run ? FormatRfc3339Micros(state.latest_run->finished_at).substr(0, 19) : "-";
    std::printf("%-10s  %-13.*s  %6s %10s  %-20s  %s\n", state.day.ToString().c_str(),
                static_cast<int>(state.state_name().size()), state.state_name().data(),
                run_id.c_str(), keys.c_str(), at.c_str(), why.c_str());
  }
  if (any_stale) std::printf("stale days: run `firehose ledger reprocess --stale`\n");
  PrintDoubleBookings(double_bookings, stdout);
  return problem ? kExitCheckFailed : kExitOk;
}

// --- ledger reprocess ---------------------------------------------------------------------

int LedgerReprocess(const Context& context, const LedgerArgs& args) {
  if (args.stale == !args.day.empty()) return ExitFor(InvalidArgument("give --stale or --day D"));
  Result<Opened> opened = Open(context);
  if (!opened.ok()) return ExitFor(opened.status());
  BoundFreedHeap(*opened, args);
  std::vector<BusinessDate> days;
  if (!args.day.empty()) {
    Result<BusinessDate> day = ParseDay(args.day);
    if (!day.ok()) return ExitFor(day.status());
    days.push_back(*day);
  }
  nlohmann::json out = nlohmann::json::array();
  std::set<BusinessDate> done;
  // Runs the days in turn and reports each; the first failure ends the command.
  auto run_days = [&](const std::vector<BusinessDate>& to_run) -> Status {
    for (const BusinessDate day : to_run) {
      FH_ASSIGN_OR_RETURN(const ledger::DayRun run, RunOne(*opened, day, args));
      done.insert(day);
      if (context.json) {
        out.push_back(DayRunJson(run));
      } else {
        PrintRun(run.result.run);
        PrintChanges(run);
        PrintFindings(run);
      }
    }
    return Status::Ok();
  };
  if (!args.stale) {
    if (Status status = run_days(days); !status.ok()) return ExitFor(status);
  }
  // Re-running one day can make a neighbour stale (its findings): go round until none is, at
  // most --rounds times; days still stale then are reported, and the command fails.
  const auto stale_days = [&]() -> Result<std::vector<BusinessDate>> {
    FH_ASSIGN_OR_RETURN(
        const std::vector<DayState> states,
        ledger::ComputeDayStates(lake::LakeRoot(opened->config.data_dir), opened->warehouse.get()));
    std::vector<BusinessDate> stale;
    for (const DayState& state : states) {
      if (state.stale()) stale.push_back(state.day);
    }
    return stale;
  };
  std::vector<BusinessDate> still_stale;
  for (int round = 0; args.stale; ++round) {
    Result<std::vector<BusinessDate>> stale = stale_days();
    if (!stale.ok()) return ExitFor(stale.status());
    if (round == args.rounds) {
      still_stale = std::move(stale).value();
      break;
    }
    if (stale->empty()) break;
    if (Status status = run_days(*stale); !status.ok()) return ExitFor(status);
  }
  if (context.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else if (done.empty()) {
    std::printf("no stale day\n");
  }
  // Re-running settles no double booking: say so, and fail, rather than loop on them.
  Result<std::vector<warehouse::DoubleBooking>> double_bookings =
      ledger::OpenDoubleBookings(opened->warehouse.get());
  if (!double_bookings.ok()) return ExitFor(double_bookings.status());
  if (!double_bookings->empty()) {
    std::fputs("firehose: ", stderr);
    PrintDoubleBookings(*double_bookings, stderr);
  }
  if (!still_stale.empty()) {
    std::string listed;
    for (const BusinessDate day : still_stale)
      listed += (listed.empty() ? "" : ", ") + day.ToString();
    std::fprintf(stderr,
                 "firehose: %zu day(s) still stale after %d round(s) of re-runs (each re-run can "
                 "make a neighbouring day stale): %s; run `firehose ledger reprocess --stale` "
                 "again\n",
                 still_stale.size(), args.rounds, listed.c_str());
    return kExitCheckFailed;
  }
  return double_bookings->empty() ? kExitOk : kExitCheckFailed;
}

// --- ledger show --------------------------------------------------------------------------

int LedgerShow(const Context& context, const LedgerArgs& args) {
  Result<BusinessDate> day = ParseDay(args.day);
  if (!day.ok()) return ExitFor(day.status());
  Result<Opened> opened = Open(context);
  if (!opened.ok()) return ExitFor(opened.status());
  warehouse::Warehouse& warehouse = *opened->warehouse;
  Result<std::optional<RunRecord>> run = warehouse.LatestRun(*day);
  if (!run.ok()) return ExitFor(run.status());
  if (!run->has_value()) {
    std::fprintf(stderr, "firehose: no ledger for %s (run `firehose ledger run --day %s`)\n",
                 day->ToString().c_str(), day->ToString().c_str());
    return kExitCheckFailed;
  }
  Result<std::vector<TotalRow>> totals = warehouse.ReadTotals(*day);
  if (!totals.ok()) return ExitFor(totals.status());
  Result<std::vector<warehouse::ConflictRow>> conflicts = warehouse.ReadConflicts(*day);
  if (!conflicts.ok()) return ExitFor(conflicts.status());
  std::vector<warehouse::TransactionRow> transactions;
  if (args.transactions > 0) {
    const Status status = warehouse.ForEachTransaction(*day, [&](const auto& row) {
      transactions.push_back(row);
      return static_cast<std::int64_t>(transactions.size()) < args.transactions;
    });
    if (!status.ok()) return ExitFor(status);
  }
  if (context.json) {
    nlohmann::json out = {{"run", RunJson(**run)},
                          {"totals", nlohmann::json::array()},
                          {"conflicts", nlohmann::json::array()},
                          {"transactions", nlohmann::json::array()}};
    for (const TotalRow& row : *totals) out["totals"].push_back(TotalJson(row));
    for (const auto& row : *conflicts) {
      out["conflicts"].push_back({{"partner_id", row.partner_id},
                                  {"txn_id", row.txn_id},
                                  {"versions", row.versions},
                                  {"amount_minor", row.amount.value()},
                                  {"currency", row.currency},
                                  {"status", TxnStatusName(row.status)},
                                  {"other_amount_minor", row.other_amount.value()},
                                  {"other_currency", row.other_currency},
                                  {"other_status", TxnStatusName(row.other_status)},
                                  {"other_versions", row.other_versions}});
    }
    for (const auto& row : transactions) {
      out["transactions"].push_back(
          {{"partner_id", row.partner_id},
           {"txn_id", row.txn_id},
           {"amount_minor", row.amount.value()},
           {"currency", row.currency},
           {"status", TxnStatusName(row.status)},
           {"event_time_us", row.event_time.value()},
           {"version", row.version ? nlohmann::json(*row.version) : nlohmann::json(nullptr)},
           {"versions", row.versions},
           {"conflict", row.conflict}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  PrintRun(**run);
  PrintTotals(*totals);
  if (!conflicts->empty()) {
    std::printf("  %zu conflicting value(s) (booked value <- other value x versions):\n",
                conflicts->size());
    for (const auto& row : *conflicts) {
      std::printf(
          "    %s %s: %s %s %.*s <- %s %s %.*s x%lld\n", row.partner_id.c_str(), row.txn_id.c_str(),
          ledger::FormatMoney(row.amount, row.currency).c_str(), row.currency.c_str(),
          static_cast<int>(TxnStatusName(row.status).size()), TxnStatusName(row.status).data(),
          ledger::FormatMoney(row.other_amount, row.other_currency).c_str(),
          row.other_currency.c_str(), static_cast<int>(TxnStatusName(row.other_status).size()),
          TxnStatusName(row.other_status).data(), static_cast<long long>(row.other_versions));
    }
  }
  for (const auto& row : transactions) {
    std::printf("  %s %s %s %s %.*s %s\n", row.partner_id.c_str(), row.txn_id.c_str(),
                ledger::FormatMoney(row.amount, row.currency).c_str(), row.currency.c_str(),
                static_cast<int>(TxnStatusName(row.status).size()),
                TxnStatusName(row.status).data(), FormatRfc3339Micros(row.event_time).c_str());
  }
  return kExitOk;
}

// --- reconcile ----------------------------------------------------------------------------

nlohmann::json OptionalCount(const std::optional<std::int64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json OptionalAmount(const std::optional<AmountMinor>& value,
                              const std::string& currency) {
  return value ? nlohmann::json(ledger::FormatMoney(*value, currency)) : nlohmann::json(nullptr);
}

int Reconcile(const Context& context, const LedgerArgs& args) {
  Result<BusinessDate> day = ParseDay(args.day);
  if (!day.ok()) return ExitFor(day.status());
  if (args.statements.empty()) return ExitFor(InvalidArgument("--statements PATH is required"));
  Result<Opened> opened = Open(context);
  if (!opened.ok()) return ExitFor(opened.status());
  Result<std::string> text = ReadFile(args.statements, ledger::kStatementsBytesMax);
  if (!text.ok()) return Fail(text.status());
  Result<std::vector<ledger::StatementRow>> statements = ledger::ParseStatements(*text);
  if (!statements.ok()) return Fail(statements.status().WithContext(args.statements));
  Result<std::optional<RunRecord>> run = opened->warehouse->LatestRun(*day);
  if (!run.ok()) return ExitFor(run.status());
  if (!run->has_value()) {
    return Fail(FailedPrecondition("no ledger for " + day->ToString() +
                                   " (run `firehose ledger run --day " + day->ToString() + "`)"));
  }
  Result<std::vector<TotalRow>> totals = opened->warehouse->ReadTotals(*day);
  if (!totals.ok()) return ExitFor(totals.status());
  const ledger::Reconciliation result = ledger::Reconcile(*day, *statements, *totals);
  if (context.json) {
    nlohmann::json out = {{"business_date", day->ToString()},
                          {"ok", result.ok()},
                          {"statement_rows", result.statement_rows},
                          {"other_day_rows", result.other_day_rows},
                          {"ledger_rows", result.ledger_rows},
                          {"matched", result.matched},
                          {"run_id", (*run)->run_id},
                          {"digest", (*run)->digest},
                          {"mismatches", nlohmann::json::array()}};
    for (const ledger::Mismatch& mismatch : result.mismatches) {
      out["mismatches"].push_back(
          {{"kind", mismatch.kind},
           {"partner_id", mismatch.partner_id},
           {"currency", mismatch.currency},
           {"line", mismatch.line},
           {"statement_count", OptionalCount(mismatch.statement_count)},
           {"statement_total", OptionalAmount(mismatch.statement_total, mismatch.currency)},
           {"ledger_count", OptionalCount(mismatch.ledger_count)},
           {"ledger_total", OptionalAmount(mismatch.ledger_total, mismatch.currency)}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return result.ok() ? kExitOk : kExitCheckFailed;
  }
  std::printf("reconcile %s: %lld statement row(s), %lld ledger succeeded total(s), %lld matched",
              day->ToString().c_str(), static_cast<long long>(result.statement_rows),
              static_cast<long long>(result.ledger_rows), static_cast<long long>(result.matched));
  if (result.other_day_rows > 0) {
    std::printf(" (%lld row(s) of other days ignored)",
                static_cast<long long>(result.other_day_rows));
  }
  std::printf("\n");
  for (const ledger::Mismatch& mismatch : result.mismatches) {
    const auto count = [](const std::optional<std::int64_t>& value) {
      return value ? std::to_string(*value) : std::string("-");
    };
    const auto amount = [&mismatch](const std::optional<AmountMinor>& value) {
      return value ? ledger::FormatMoney(*value, mismatch.currency) : std::string("-");
    };
    std::string difference;
    if (mismatch.statement_total && mismatch.ledger_total) {
      const ledger::Int128 delta =
          ledger::Int128(mismatch.ledger_total->value()) - mismatch.statement_total->value();
      if (delta <= INT64_MAX && delta >= INT64_MIN) {
        difference =
            " (ledger - statement: " +
            ledger::FormatMoney(AmountMinor(static_cast<std::int64_t>(delta)), mismatch.currency) +
            ")";
      }
    }
    std::printf("  %-22s %-20s %-3s statement %s txns %s, ledger %s txns %s%s\n",
                mismatch.kind.c_str(), mismatch.partner_id.c_str(), mismatch.currency.c_str(),
                count(mismatch.statement_count).c_str(), amount(mismatch.statement_total).c_str(),
                count(mismatch.ledger_count).c_str(), amount(mismatch.ledger_total).c_str(),
                difference.c_str());
  }
  std::printf("%s\n", result.ok() ? "ok: the statements match the ledger"
                                  : "MISMATCH: the statements do not match the ledger");
  return result.ok() ? kExitOk : kExitCheckFailed;
}

template <typename Command>
void OnRun(CLI::App* command, Context& context, const LedgerArgs* args, Command run) {
  command->callback([&context, args, run] {
    context.run = [&context, args, run] { return run(context, *args); };
  });
}

void AddCommon(CLI::App* command, Context& context) {
  command->add_flag("--json", context.json, "Machine-readable JSON output on stdout");
}

void AddTuning(CLI::App* command, LedgerArgs* args) {
  command->add_option("--threads", args->threads, "Threads (default: [ledger] threads, or cores)");
  command->add_option("--partitions", args->partitions,
                      "Hash partitions of the dedup key (default: [ledger] partitions)");
  command->add_option("--memory-max", args->memory_bytes_max,
                      "Bytes of memory before partitions spill (default: ledger_memory_bytes_max)");
}

}  // namespace

void AddLedgerCommands(CLI::App& app, Context& context) {
  static LedgerArgs storage;  // lives as long as the process, like the App
  LedgerArgs* args = &storage;
  CLI::App* ledger_command = app.add_subcommand(
      "ledger",
      "The exact daily ledger: dedup on (partner, txn_id), booked per business day, in the "
      "warehouse.\nExit codes: 0 ok, 1 a problem found (stale day, bad lake data, overflow), "
      "2 usage, 3 could not run.");
  ledger_command->require_subcommand(1);
  ledger_command->fallthrough();  // --config may follow the subcommand

  CLI::App* run = ledger_command->add_subcommand(
      "run", "Compute the ledger of one day from the lake and replace it in the warehouse");
  run->add_option("--day", args->day, "Business day (YYYY-MM-DD)")->required();
  run->add_option("--shard", args->shard,
                  "i/N: compute only shard i of N into <data_dir>/ledger/shards/<day>; "
                  "`ledger commit` publishes the day");
  AddTuning(run, args);
  AddCommon(run, context);
  OnRun(run, context, args, LedgerRun);

  CLI::App* commit = ledger_command->add_subcommand(
      "commit",
      "Publish a sharded day: once all N shards of `ledger run --shard i/N` are written and "
      "consistent, replace the day in the warehouse in one transaction");
  commit->add_option("--day", args->day, "Business day (YYYY-MM-DD)")->required();
  commit->add_option("--memory-max", args->memory_bytes_max,
                     "Bytes of memory the commit may use; sizes its warehouse cache (default: "
                     "ledger_memory_bytes_max)");
  AddCommon(commit, context);
  OnRun(commit, context, args, LedgerCommit);

  CLI::App* status = ledger_command->add_subcommand(
      "status",
      "Days with a ledger or lake data: ok, stale (new files in its partition, or a neighbour's "
      "finding), double_booked (a key booked on two days further apart than the dedup window) "
      "or not booked; exit 1 when a day is stale or double booked");
  status->add_option("--day", args->day, "Only this day");
  AddCommon(status, context);
  OnRun(status, context, args, LedgerStatus);

  CLI::App* reprocess = ledger_command->add_subcommand(
      "reprocess",
      "Re-run every stale day (--stale) or one day (--day D); prints what changed; exit 1 when a "
      "day is still stale or double booked (which a re-run alone cannot fix)");
  reprocess->add_flag("--stale", args->stale, "Every stale day, until none is");
  reprocess->add_option("--rounds", args->rounds,
                        "With --stale: re-run the stale days at most this many times (a re-run "
                        "can make a neighbouring day stale); days still stale then fail the "
                        "command (exit 1)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  reprocess->add_option("--day", args->day, "This day");
  AddTuning(reprocess, args);
  AddCommon(reprocess, context);
  OnRun(reprocess, context, args, LedgerReprocess);

  CLI::App* show = ledger_command->add_subcommand(
      "show", "A day's latest run, totals, conflicts (and --transactions N of its rows)");
  show->add_option("--day", args->day, "Business day (YYYY-MM-DD)")->required();
  show->add_option("--transactions", args->transactions,
                   "Also list the first N booked transactions (default 20; 0: none)");
  AddCommon(show, context);
  OnRun(show, context, args, LedgerShow);
}

void AddReconcileCommand(CLI::App& app, Context& context) {
  static LedgerArgs storage;
  LedgerArgs* args = &storage;
  CLI::App* reconcile = app.add_subcommand(
      "reconcile",
      "Compare partner settlement statements (CSV business_date,partner_id,currency,txn_count,"
      "total) with the ledger's succeeded totals, to the minor unit.\nExit codes: 0 match, 1 a "
      "mismatch, 2 usage, 3 could not run (no ledger, unreadable or malformed statements).");
  reconcile->fallthrough();
  reconcile->add_option("--day", args->day, "Business day (YYYY-MM-DD)")->required();
  reconcile->add_option("--statements", args->statements, "The statements CSV")->required();
  AddCommon(reconcile, context);
  OnRun(reconcile, context, args, Reconcile);
}

}  // namespace firehose::cli
