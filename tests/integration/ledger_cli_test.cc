// `firehose ledger ...` and `firehose reconcile` as an operator runs them: the real binary on a
// lake from `firehose sim lake`, checking output, exit codes, late data and crashes; every test
// runs with the default SQLite warehouse and with `[ledger] warehouse_url` naming a real
// PostgreSQL server (kill -9 mid-run and mid-commit leave the old day intact on both).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/allocator.h"
#include "core/config.h"
#include "core/file.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/money.h"
#include "lake/lake_line.h"
#include "lake/lake_reader.h"
#include "lake/lake_test_util.h"
#include "lake/lake_writer.h"
#include "sim/fleet.h"
#include "sim/payloads.h"
#include "warehouse/postgres_test_server.h"
#include "warehouse/warehouse.h"

namespace firehose {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kDay = "2025-11-27";

struct CommandRun {
  int exit_code = -1;
  std::string out;
};

// Runs the real binary through the shell; `env` is prepended (VAR=value ...); its standard error
// goes to `errors`.
CommandRun Firehose(const std::string& args, const std::string& env = "",
                    const std::string& errors = "/dev/null") {
  const std::string command =
      env + " " + std::string(FIREHOSE_TEST_BIN_DIR) + "/firehose " + args + " 2>" + errors;
  CommandRun run;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[65536];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, got);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

json Json(const CommandRun& run) {
  json parsed = json::parse(run.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << run.out;
  return parsed;
}

class LedgerCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  // `faults`: the simulator's fault list (`sim lake --faults`), its default when empty.
  void MakeLake(std::int64_t events, const std::string& faults = "") {
    const CommandRun run =
        Firehose("sim lake --day " + std::string(kDay) + " --events " + std::to_string(events) +
                 " --partners 6 --seed 5 --json --out " + dir_.path().string() +
                 (faults.empty() ? "" : " --faults " + faults));
    ASSERT_EQ(run.exit_code, 0) << run.out;
    if (GetParam() != "postgresql") return;
    Result<warehouse::testing::PostgresTestServer*> server =
        warehouse::testing::PostgresTestServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    Result<std::string> url = (*server)->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    std::ofstream config(dir_.path() / "firehose.toml", std::ios::app);
    config << "\n[ledger]\nwarehouse_url = \"" << *url << "\"\n";
    ASSERT_TRUE(config.good());
  }
  std::string ConfigArg() const { return " --config " + (dir_.path() / "firehose.toml").string(); }
  std::string Ledger(const std::string& args) const { return "ledger " + args + ConfigArg(); }

  json Show() {
    const CommandRun run =
        Firehose(Ledger("show --json --transactions 0 --day " + std::string(kDay)));
    EXPECT_EQ(run.exit_code, 0) << run.out;
    return Json(run);
  }

  // A late lake file for the day: `count` transactions of the first partner the ledger has
  // not seen.
  void LandLateTransactions(int count) {
    Result<firehose::Config> config = LoadConfigOrStatus(dir_.path() / "firehose.toml");
    ASSERT_TRUE(config.ok());
    Result<sim::Fleet> fleet = sim::FleetFromConfig(*config);
    ASSERT_TRUE(fleet.ok());
    const sim::SimPartner& partner = fleet->partners[0];
    const TimestampUs received = *ParseRfc3339("2025-11-28T02:00:00Z");
    std::vector<QueueRecord> late;
    for (int i = 0; i < count; ++i) {
      sim::SimEvent event;
      event.txn_id = "ch_late" + std::to_string(i);
      event.amount = AmountMinor(500 + i);
      event.currency = partner.currencies[0];
      event.status = TxnStatus::kSucceeded;
      event.event_time = TimestampUs(ParseRfc3339("2025-11-27T16:00:00Z")->value() + i);
      event.delivery_id = "evt_late" + std::to_string(i);
      late.push_back(lake::testing::MakeRecord(
          partner.id.view(), sim::WrapBody(partner.shape, {sim::RenderEvent(partner.shape, event)}),
          received));
    }
    lake::LakeWriterOptions options = lake::LakeWriterOptions::FromConfig(*config);
    options.writer_id = "w8";
    auto writer = lake::LakeWriter::Open(*config, options);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(lake::testing::Deliveries(late)).ok());
    ASSERT_TRUE((*writer)->Flush().ok());
  }

  // Runs `firehose ledger <subcommand> --json --day kDay --memory-max <bound>` as a child and
  // returns its JSON answer and its peak RSS (the child's ru_maxrss, which starts at this
  // process's size when forked: fork before reading much back).
  struct MeasuredRun {
    json answer;
    std::int64_t peak_bytes = 0;
  };
  void RunMeasured(const char* subcommand, std::int64_t bound, MeasuredRun* run) {
    const std::string out = (dir_.path() / (std::string(subcommand) + ".json")).string();
    const std::string binary = std::string(FIREHOSE_TEST_BIN_DIR) + "/firehose";
    const std::string config = (dir_.path() / "firehose.toml").string();
    const std::string bound_text = std::to_string(bound);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const int file = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(file, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      ::execl(binary.c_str(), binary.c_str(), "ledger", subcommand, "--json", "--day",
              kDay.data(), "--memory-max", bound_text.c_str(), "--config", config.c_str(),
              nullptr);
      ::_exit(127);
    }
    int status = 0;
    struct rusage usage {};
    ASSERT_EQ(::wait4(pid, &status, 0, &usage), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    std::ifstream in(out);
    run->answer = json::parse(in, nullptr, false);
    ASSERT_FALSE(run->answer.is_discarded());
    run->peak_bytes = static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
  }

  // The day's rows as the warehouse returns them (in its primary keys' order), every field of
  // its transactions, totals and conflicts: their counts and a SHA-256, so that two ledgers
  // compare without holding both (`ledger show` prints every conflict). The memory it took is
  // returned to the kernel: a child forked later starts its ru_maxrss at this process's size.
  struct Fingerprint {
    std::size_t transactions = 0;
    std::size_t conflicts = 0;
    std::string sha256;
    bool operator==(const Fingerprint&) const = default;
  };
  Fingerprint DayFingerprint() {
    Fingerprint print = ReadDayFingerprint();
    ReturnFreedMemory();
    return print;
  }
  Fingerprint ReadDayFingerprint() {
    Fingerprint print;
    Result<firehose::Config> config = LoadConfigOrStatus(dir_.path() / "firehose.toml");
    EXPECT_TRUE(config.ok());
    if (!config.ok()) return print;
    Result<std::unique_ptr<warehouse::Warehouse>> opened = warehouse::OpenWarehouse(*config);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) return print;
    const BusinessDate day = *BusinessDate::Parse(kDay);
    std::string fields;
    const auto add = [&fields](const auto&... values) {
      ((fields += ToText(values), fields += '\t'), ...);
      fields.back() = '\n';
    };
    EXPECT_TRUE((*opened)
                    ->ForEachTransaction(day,
                                         [&](const warehouse::TransactionRow& row) {
                                           ++print.transactions;
                                           add(row.partner_id, row.txn_id, row.amount.value(),
                                               row.currency, TxnStatusName(row.status),
                                               row.event_time.value(), row.version.value_or(-1),
                                               row.versions, row.conflict, row.source_file,
                                               row.source_line);
                                           return true;
                                         })
                    .ok());
    Result<std::vector<warehouse::TotalRow>> totals = (*opened)->ReadTotals(day);
    EXPECT_TRUE(totals.ok());
    if (!totals.ok()) return print;
    for (const warehouse::TotalRow& row : *totals) {
      add(row.partner_id, row.currency, TxnStatusName(row.status), row.txn_count,
          row.amount.value());
    }
    Result<std::vector<warehouse::ConflictRow>> conflicts = (*opened)->ReadConflicts(day);
    EXPECT_TRUE(conflicts.ok());
    if (!conflicts.ok()) return print;
    for (const warehouse::ConflictRow& row : *conflicts) {
      add(row.partner_id, row.txn_id, row.versions, row.amount.value(), row.currency,
          TxnStatusName(row.status), row.other_amount.value(), row.other_currency,
          TxnStatusName(row.other_status), row.other_versions);
    }
    print.conflicts = conflicts->size();
    print.sha256 = Sha256Hex(fields);
    return print;
  }
  static std::string ToText(std::string_view text) { return std::string(text); }
  static std::string ToText(std::int64_t value) { return std::to_string(value); }

  lake::testing::TempDir dir_;
};

TEST_P(LedgerCliTest, RunShowStatusAndReconcile) {
  MakeLake(20'000);
  const CommandRun first = Firehose(Ledger("run --json --day " + std::string(kDay)));
  ASSERT_EQ(first.exit_code, 0) << first.out;
  const json run = Json(first);
  const std::string digest = run["run"]["digest"];
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_GT(run["run"]["keys_booked"].get<std::int64_t>(), 19'000);
  EXPECT_GT(run["run"]["duplicates"].get<std::int64_t>(), 0);
  EXPECT_GT(run["run"]["conflicts"].get<std::int64_t>(), 0);
  EXPECT_GT(run["run"]["quarantined"].get<std::int64_t>(), 0);

  // Re-running gives the same digest, with other threads and partitions too.
  const CommandRun again =
      Firehose(Ledger("run --json --threads 1 --partitions 7 --day " + std::string(kDay)));
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(Json(again)["run"]["digest"], digest);

  const json shown = Show();
  EXPECT_EQ(shown["run"]["digest"], digest);
  EXPECT_EQ(shown["totals"], run["totals"]);
  const CommandRun human = Firehose(Ledger("show --day " + std::string(kDay)));
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find(digest), std::string::npos);

  const CommandRun status = Firehose(Ledger("status --json"));
  EXPECT_EQ(status.exit_code, 0) << status.out;
  bool day_ok = false;
  for (const json& day : Json(status)) {
    if (day["business_date"] == kDay) day_ok = day["state"] == "ok";
  }
  EXPECT_TRUE(day_ok) << status.out;

  // The partners' statements match to the minor unit.
  const fs::path statements = dir_.path() / "truth" / "statements.csv";
  const CommandRun matched = Firehose("reconcile --json --day " + std::string(kDay) +
                                      " --statements " + statements.string() + ConfigArg());
  ASSERT_EQ(matched.exit_code, 0) << matched.out;
  EXPECT_TRUE(Json(matched)["ok"].get<bool>());
  EXPECT_GT(Json(matched)["matched"].get<int>(), 3);

  // One statement off by one minor unit: that cell, and only it, is reported.
  std::string text = *ReadFile(statements, 1 << 30);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  std::size_t target = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].starts_with(kDay)) target = i;
  }
  ASSERT_GT(target, 0u);
  std::vector<std::string> fields;
  for (std::size_t at = 0; at <= lines[target].size();) {
    const std::size_t end = std::min(lines[target].find(',', at), lines[target].size());
    fields.push_back(lines[target].substr(at, end - at));
    at = end + 1;
  }
  ASSERT_EQ(fields.size(), 5u);
  const int exponent = Currency::FromCode(fields[2])->exponent();
  const MoneyParse total = ParseDecimalAmount(fields[4], exponent);
  ASSERT_TRUE(total.ok);
  fields[4] = FormatAmount(AmountMinor(total.amount.value() + 1), exponent);
  lines[target] = fields[0] + "," + fields[1] + "," + fields[2] + "," + fields[3] + "," + fields[4];
  std::string changed;
  for (const std::string& line : lines) changed += line + "\n";
  const fs::path off = dir_.path() / "off_by_one.csv";
  ASSERT_TRUE(WriteFileAtomically(off, changed).ok());
  const CommandRun mismatch = Firehose("reconcile --json --day " + std::string(kDay) +
                                       " --statements " + off.string() + ConfigArg());
  EXPECT_EQ(mismatch.exit_code, 1) << mismatch.out;
  const json report = Json(mismatch);
  ASSERT_EQ(report["mismatches"].size(), 1u) << mismatch.out;
  EXPECT_EQ(report["mismatches"][0]["kind"], "total_differs");
  EXPECT_EQ(report["mismatches"][0]["partner_id"], fields[1]);
  EXPECT_EQ(report["mismatches"][0]["currency"], fields[2]);
  EXPECT_EQ(report["mismatches"][0]["statement_total"], fields[4]);
  const CommandRun mismatch_human = Firehose("reconcile --day " + std::string(kDay) +
                                             " --statements " + off.string() + ConfigArg());
  EXPECT_EQ(mismatch_human.exit_code, 1);
  EXPECT_NE(mismatch_human.out.find("total_differs"), std::string::npos) << mismatch_human.out;

  // A malformed statements file cannot be reconciled: exit 3.
  ASSERT_TRUE(WriteFileAtomically(dir_.path() / "bad.csv", "business_date,partner_id\n").ok());
  EXPECT_EQ(Firehose("reconcile --day " + std::string(kDay) + " --statements " +
                     (dir_.path() / "bad.csv").string() + ConfigArg())
                .exit_code,
            3);
  EXPECT_EQ(Firehose(Ledger("run --day 2025-13-01")).exit_code, 2);
}

// Lines of `partner` in the day's partition, as the partner sent them (`raw`).
std::vector<std::string> RawBodiesOf(const fs::path& lake_root, std::string_view partner,
                                     std::size_t count) {
  std::vector<std::string> bodies;
  auto listing = lake::ListLake(lake_root);
  EXPECT_TRUE(listing.ok());
  lake::RawLineParser parser;
  for (const lake::LakeFile& file : listing->Files(lake::Zone::kRaw, *BusinessDate::Parse(kDay))) {
    auto reader = lake::LineReader::Open(lake_root / file.file.path);
    std::string_view line;
    while (bodies.size() < count) {
      Result<bool> more = (*reader)->Next(&line);
      if (!more.ok() || !*more) break;
      lake::RawLineView view;
      EXPECT_TRUE(parser.ParsePadded(line, &view).ok());
      if (view.partner_id == partner) bodies.emplace_back(view.raw);
    }
  }
  return bodies;
}

TEST_P(LedgerCliTest, ABacklogAfterBookingMakesTheDayStaleUntilReprocessed) {
  // Once per process (every parameter's test may run in one process).
  static const bool logging = [] {
    InitLogging("error");
    return true;
  }();
  (void)logging;
  MakeLake(20'000);
  ASSERT_EQ(Firehose(Ledger("run --day " + std::string(kDay))).exit_code, 0);
  const json before = Show();

  // A partner replays its backlog for the day after the ledger ran: 40 resends of booked
  // transactions (exact duplicates) and 25 transactions the ledger has not seen.
  Result<firehose::Config> config = LoadConfigOrStatus(dir_.path() / "firehose.toml");
  ASSERT_TRUE(config.ok());
  Result<sim::Fleet> fleet = sim::FleetFromConfig(*config);
  ASSERT_TRUE(fleet.ok());
  const sim::SimPartner& partner = fleet->partners[0];
  ASSERT_EQ(partner.shape, sim::Shape::kStripe);  // one event per body: raw is the body
  const std::vector<std::string> resends =
      RawBodiesOf(lake::LakeRoot(dir_.path()), partner.id.view(), 40);
  ASSERT_EQ(resends.size(), 40u);
  std::vector<QueueRecord> backlog;
  const TimestampUs received = *ParseRfc3339("2025-11-28T02:00:00Z");
  for (const std::string& body : resends) {
    backlog.push_back(lake::testing::MakeRecord(partner.id.view(), body, received));
  }
  std::int64_t new_amount = 0;
  for (int i = 0; i < 25; ++i) {
    sim::SimEvent event;
    event.txn_id = "ch_backlog" + std::to_string(i);
    event.amount = AmountMinor(1000 + i);
    event.currency = partner.currencies[0];
    event.status = TxnStatus::kSucceeded;
    event.event_time = TimestampUs(ParseRfc3339("2025-11-27T15:00:00Z")->value() + i * 1'000'000);
    event.delivery_id = "evt_backlog" + std::to_string(i);
    new_amount += 1000 + i;
    backlog.push_back(lake::testing::MakeRecord(
        partner.id.view(), sim::WrapBody(partner.shape, {sim::RenderEvent(partner.shape, event)}),
        received));
  }
  {
    lake::LakeWriterOptions options = lake::LakeWriterOptions::FromConfig(*config);
    options.writer_id = "w9";
    auto writer = lake::LakeWriter::Open(*config, options);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(lake::testing::Deliveries(backlog)).ok());
    ASSERT_TRUE((*writer)->Flush().ok());
  }

  const CommandRun stale = Firehose(Ledger("status --json --day " + std::string(kDay)));
  EXPECT_EQ(stale.exit_code, 1) << "a stale day is a problem found";
  const json state = Json(stale)[0];
  EXPECT_EQ(state["state"], "stale");
  EXPECT_EQ(state["new_events"], 65);
  EXPECT_EQ(state["new_files"].size(), 1u);
  const CommandRun stale_human = Firehose(Ledger("status"));
  EXPECT_NE(stale_human.out.find("1 new file(s) with 65 event(s)"), std::string::npos)
      << stale_human.out;

  // A reprocess that dies just before its commit: the old ledger is intact and readable.
  const CommandRun crashed =
      Firehose(Ledger("reprocess --stale"), "FIREHOSE_FAULTS=ledger.before_commit=crash");
  EXPECT_EQ(crashed.exit_code, 137);
  const json intact = Show();
  EXPECT_EQ(intact["run"], before["run"]);
  EXPECT_EQ(intact["totals"], before["totals"]);
  EXPECT_EQ(Firehose(Ledger("status --day " + std::string(kDay))).exit_code, 1) << "still stale";

  const CommandRun reprocessed = Firehose(Ledger("reprocess --stale --json"));
  ASSERT_EQ(reprocessed.exit_code, 0) << reprocessed.out;
  const json runs = Json(reprocessed);
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_EQ(runs[0]["changes"].size(), 1u) << runs[0]["changes"].dump();
  const json& change = runs[0]["changes"][0];
  EXPECT_EQ(change["partner_id"], partner.id.str());
  EXPECT_EQ(change["status"], "succeeded");
  EXPECT_EQ(change["new_count"].get<std::int64_t>() - change["old_count"].get<std::int64_t>(), 25);
  EXPECT_EQ(change["new_amount_minor"].get<std::int64_t>() -
                change["old_amount_minor"].get<std::int64_t>(),
            new_amount);
  EXPECT_EQ(runs[0]["run"]["duplicates"].get<std::int64_t>() -
                before["run"]["duplicates"].get<std::int64_t>(),
            40);

  // The ledger is the truth plus the backlog's new transactions, to the cent.
  const json after = Show();
  json expected = before["totals"];
  for (json& total : expected) {
    if (total["partner_id"] == partner.id.str() && total["currency"] == change["currency"] &&
        total["status"] == "succeeded") {
      total["txn_count"] = total["txn_count"].get<std::int64_t>() + 25;
      total["amount_minor"] = total["amount_minor"].get<std::int64_t>() + new_amount;
      total["amount"] =
          FormatAmount(AmountMinor(total["amount_minor"].get<std::int64_t>()),
                       Currency::FromCode(total["currency"].get<std::string>())->exponent());
    }
  }
  EXPECT_EQ(after["totals"], expected);
  EXPECT_EQ(Firehose(Ledger("status --day " + std::string(kDay))).exit_code, 0);
}

// A versioned resend that moves a booked transaction across midnight makes the next day stale;
// that day's re-run finds the key still booked on the first day, which becomes stale in turn.
// One round of `reprocess --stale` leaves it stale and says so (exit 1); the default settles
// both days, the transaction booked once, on its canonical version's day.
TEST_P(LedgerCliTest, ReprocessSaysWhichDaysAreStillStaleAfterItsLastRound) {
  MakeLake(2'000);
  constexpr std::string_view kNextDay = "2025-11-28";
  Result<firehose::Config> config = LoadConfigOrStatus(dir_.path() / "firehose.toml");
  ASSERT_TRUE(config.ok());
  Result<sim::Fleet> fleet = sim::FleetFromConfig(*config);
  ASSERT_TRUE(fleet.ok());
  const auto versioned = std::find_if(fleet->partners.begin(), fleet->partners.end(),
                                      [](const sim::SimPartner& p) {
                                        return p.shape == sim::Shape::kAdyen;
                                      });
  ASSERT_NE(versioned, fleet->partners.end()) << "the fleet has a partner with versions";
  const sim::SimPartner& partner = *versioned;
  const auto land = [&](const std::vector<sim::SimEvent>& events, const std::string& writer) {
    std::vector<QueueRecord> records;
    for (const sim::SimEvent& event : events) {
      records.push_back(lake::testing::MakeRecord(
          partner.id.view(),
          sim::WrapBody(partner.shape, {sim::RenderEvent(partner.shape, event)}),
          *ParseRfc3339("2025-11-28T03:00:00Z")));
    }
    lake::LakeWriterOptions options = lake::LakeWriterOptions::FromConfig(*config);
    options.writer_id = writer;
    auto lake_writer = lake::LakeWriter::Open(*config, options);
    ASSERT_TRUE(lake_writer.ok());
    ASSERT_TRUE((*lake_writer)->Write(lake::testing::Deliveries(records)).ok());
    ASSERT_TRUE((*lake_writer)->Flush().ok());
  };
  sim::SimEvent moved;
  moved.txn_id = "9900000000000001";  // Adyen's pspReference is a 16-digit number
  moved.amount = AmountMinor(4321);
  moved.currency = partner.currencies[0];
  moved.status = TxnStatus::kSucceeded;
  moved.event_time = *ParseRfc3339("2025-11-27T23:59:00Z");
  moved.version = 1;
  moved.delivery_id = "WH-moved-1";
  sim::SimEvent next_day = moved;
  next_day.txn_id = "9900000000000002";
  next_day.event_time = *ParseRfc3339("2025-11-28T10:00:00Z");
  next_day.delivery_id = "WH-next-1";
  land({moved, next_day}, "w8");
  ASSERT_EQ(Firehose(Ledger("run --day " + std::string(kDay))).exit_code, 0);
  ASSERT_EQ(Firehose(Ledger("run --day " + std::string(kNextDay))).exit_code, 0);
  ASSERT_EQ(Firehose(Ledger("status")).exit_code, 0);

  // Version 2 of the transaction, a minute after midnight: the next day's partition.
  moved.version = 2;
  moved.event_time = *ParseRfc3339("2025-11-28T00:01:00Z");
  moved.delivery_id = "WH-moved-2";
  land({moved}, "w9");
  EXPECT_EQ(Firehose(Ledger("status --day " + std::string(kDay))).exit_code, 0);
  EXPECT_EQ(Firehose(Ledger("status --day " + std::string(kNextDay))).exit_code, 1);

  const auto changes_of = [&](const json& run) {
    std::int64_t count = 0;
    std::int64_t amount = 0;
    for (const json& change : run["changes"]) {
      if (change["partner_id"] != partner.id.str() || change["status"] != "succeeded") continue;
      count += change["new_count"].get<std::int64_t>() - change["old_count"].get<std::int64_t>();
      amount += change["new_amount_minor"].get<std::int64_t>() -
                change["old_amount_minor"].get<std::int64_t>();
    }
    return std::make_pair(count, amount);
  };
  // One round re-runs the next day only (which now books the transaction); its finding makes
  // the first day stale, and the command says so.
  const fs::path errors = dir_.path() / "reprocess.err";
  const CommandRun one_round =
      Firehose(Ledger("reprocess --stale --rounds 1 --json"), "", errors.string());
  EXPECT_EQ(one_round.exit_code, 1) << one_round.out;
  const Result<std::string> said = ReadFile(errors, 1 << 20);
  ASSERT_TRUE(said.ok());
  EXPECT_NE(said->find("1 day(s) still stale after 1 round(s)"), std::string::npos) << *said;
  EXPECT_NE(said->find(std::string(kDay)), std::string::npos) << *said;
  const json first_runs = Json(one_round);
  ASSERT_EQ(first_runs.size(), 1u) << one_round.out;
  EXPECT_EQ(first_runs[0]["run"]["business_date"], kNextDay);
  EXPECT_EQ(changes_of(first_runs[0]), std::make_pair(std::int64_t{1}, std::int64_t{4321}));
  const CommandRun first_day = Firehose(Ledger("status --json --day " + std::string(kDay)));
  EXPECT_EQ(first_day.exit_code, 1);
  EXPECT_EQ(Json(first_day)[0]["state"], "stale") << first_day.out;

  // The default rounds settle it: the first day no longer books the transaction.
  const CommandRun settled = Firehose(Ledger("reprocess --stale --json"));
  ASSERT_EQ(settled.exit_code, 0) << settled.out;
  const json runs = Json(settled);
  ASSERT_EQ(runs.size(), 1u) << settled.out;
  EXPECT_EQ(runs[0]["run"]["business_date"], kDay);
  EXPECT_EQ(changes_of(runs[0]), std::make_pair(std::int64_t{-1}, std::int64_t{-4321}));
  EXPECT_EQ(Firehose(Ledger("status")).exit_code, 0);
}

// Keys whose versions span more than the one-day window: a chain (versions on the 27th, the
// 28th and the 29th, the middle one the lowest) and a gap (the 27th and the 29th only). The
// runs, in the order that used to hide the chain (27th, 29th, then 28th, the 29th as two shards
// and a commit), book each key on the 27th and on the 29th. `status` names both days and keys
// and fails; `reprocess --stale` re-runs nothing (re-running cannot fix it) and fails saying so;
// a two-day window and re-runs of the named days book each key once, and every day is ok.
TEST_P(LedgerCliTest, KeysBookedOnTwoDaysAreReportedUntilAWiderWindowSettlesThem) {
  MakeLake(2'000);
  constexpr std::string_view kNextDay = "2025-11-28";
  constexpr std::string_view kLastDay = "2025-11-29";
  Result<firehose::Config> config = LoadConfigOrStatus(dir_.path() / "firehose.toml");
  ASSERT_TRUE(config.ok());
  Result<sim::Fleet> fleet = sim::FleetFromConfig(*config);
  ASSERT_TRUE(fleet.ok());
  const auto versioned =
      std::find_if(fleet->partners.begin(), fleet->partners.end(),
                   [](const sim::SimPartner& p) { return p.shape == sim::Shape::kAdyen; });
  ASSERT_NE(versioned, fleet->partners.end()) << "the fleet has a partner with versions";
  const sim::SimPartner& partner = *versioned;
  const std::string chain = "9900000000000011";
  const std::string gap = "9900000000000012";
  std::vector<QueueRecord> records;
  const auto version = [&](const std::string& txn, std::int64_t number, std::string_view time) {
    sim::SimEvent event;
    event.txn_id = txn;
    event.amount = AmountMinor(1000 + number);
    event.currency = partner.currencies[0];
    event.status = TxnStatus::kSucceeded;
    event.event_time = *ParseRfc3339(time);
    event.version = number;
    event.delivery_id = "WH-" + txn + "-" + std::to_string(number);
    records.push_back(lake::testing::MakeRecord(
        partner.id.view(), sim::WrapBody(partner.shape, {sim::RenderEvent(partner.shape, event)}),
        event.event_time));
  };
  version(chain, 5, "2025-11-27T12:00:00Z");
  version(chain, 3, "2025-11-28T12:00:00Z");
  version(chain, 7, "2025-11-29T12:00:00Z");
  version(gap, 1, "2025-11-27T13:00:00Z");
  version(gap, 2, "2025-11-29T13:00:00Z");
  {
    lake::LakeWriterOptions options = lake::LakeWriterOptions::FromConfig(*config);
    options.writer_id = "w7";
    auto writer = lake::LakeWriter::Open(*config, options);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(lake::testing::Deliveries(records)).ok());
    ASSERT_TRUE((*writer)->Flush().ok());
  }
  ASSERT_EQ(Firehose(Ledger("run --day " + std::string(kDay))).exit_code, 0);
  for (const char* shard : {"0/2", "1/2"}) {
    ASSERT_EQ(
        Firehose(Ledger("run --day " + std::string(kLastDay) + " --shard " + shard)).exit_code, 0);
  }
  const CommandRun committed = Firehose(Ledger("commit --json --day " + std::string(kLastDay)));
  ASSERT_EQ(committed.exit_code, 0) << committed.out;
  const json commit_answer = Json(committed);
  ASSERT_EQ(commit_answer["findings"].size(), 1u) << committed.out;
  for (const json& finding : commit_answer["findings"]) {
    EXPECT_EQ(finding["kind"], "double_booked") << finding.dump();
    EXPECT_EQ(finding["business_date"], kDay);
    EXPECT_EQ(finding["other_date"], kLastDay);
    EXPECT_EQ(finding["keys"], 2) << "both keys, from whichever shard books each";
  }
  const CommandRun middle = Firehose(Ledger("run --json --day " + std::string(kNextDay)));
  ASSERT_EQ(middle.exit_code, 0) << middle.out;
  ASSERT_EQ(Json(middle)["findings"].size(), 1u) << middle.out;
  EXPECT_EQ(Json(middle)["findings"][0]["kind"], "beyond_window");

  const auto booked_on = [&](std::string_view day, const std::string& txn) {
    const CommandRun shown =
        Firehose(Ledger("show --json --transactions 100000 --day " + std::string(day)));
    EXPECT_EQ(shown.exit_code, 0);
    const json answer = Json(shown);
    for (const json& row : answer["transactions"]) {
      if (row["partner_id"] == partner.id.str() && row["txn_id"] == txn) return true;
    }
    return false;
  };
  for (const std::string& txn : {chain, gap}) {
    EXPECT_TRUE(booked_on(kDay, txn)) << txn;
    EXPECT_TRUE(booked_on(kLastDay, txn)) << txn;
  }

  // Status: exit 1, both days double booked (neither stale), the keys and the fix named.
  const CommandRun status = Firehose(Ledger("status --json"));
  EXPECT_EQ(status.exit_code, 1) << status.out;
  int involved_days = 0;
  for (const json& day : Json(status)) {
    const bool involved = day["business_date"] == kDay || day["business_date"] == kLastDay;
    involved_days += involved ? 1 : 0;
    EXPECT_EQ(day["state"] == "double_booked", involved) << day.dump();
    EXPECT_EQ(day["double_booked"].get<bool>(), involved) << day.dump();
    EXPECT_FALSE(day["stale"].get<bool>()) << day.dump();
  }
  EXPECT_EQ(involved_days, 2) << status.out;
  const CommandRun human = Firehose(Ledger("status"));
  EXPECT_EQ(human.exit_code, 1);
  EXPECT_NE(human.out.find("double booked across days: versions span more than the dedup window"),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("2 key(s) booked on both 2025-11-27 and 2025-11-29"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find(partner.id.str() + "/" + chain), std::string::npos) << human.out;
  EXPECT_NE(human.out.find(partner.id.str() + "/" + gap), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("ledger_dedup_window_days to at least 2"), std::string::npos)
      << human.out;

  // Nothing to re-run: reprocess runs no day, says why, and fails.
  const fs::path errors = dir_.path() / "reprocess.err";
  const CommandRun reprocess = Firehose(Ledger("reprocess --stale --json"), "", errors.string());
  EXPECT_EQ(reprocess.exit_code, 1) << reprocess.out;
  EXPECT_TRUE(Json(reprocess).empty()) << reprocess.out;
  const Result<std::string> said = ReadFile(errors, 1 << 20);
  ASSERT_TRUE(said.ok());
  EXPECT_NE(said->find("double booked across days"), std::string::npos) << *said;
  EXPECT_NE(said->find("re-running cannot fix it"), std::string::npos) << *said;

  // The fix: a two-day window, the named days re-run, then whatever that makes stale.
  {
    std::ofstream append(dir_.path() / "firehose.toml", std::ios::app);
    append << "\n[limits]\nledger_dedup_window_days = 2\n";
  }
  for (const std::string_view day : {kDay, kLastDay}) {
    EXPECT_EQ(Firehose(Ledger("reprocess --day " + std::string(day))).exit_code, 0) << day;
  }
  EXPECT_EQ(Firehose(Ledger("reprocess --stale")).exit_code, 0);
  const CommandRun clean = Firehose(Ledger("status"));
  EXPECT_EQ(clean.exit_code, 0) << clean.out;
  for (const std::string& txn : {chain, gap}) {
    EXPECT_FALSE(booked_on(kDay, txn)) << txn;
    EXPECT_FALSE(booked_on(kNextDay, txn)) << txn;
    EXPECT_TRUE(booked_on(kLastDay, txn)) << txn << ": booked once, on its canonical version's day";
  }
}

pid_t Spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

TEST_P(LedgerCliTest, KillNineDuringARunLeavesThePreviousLedger) {
  MakeLake(60'000);
  ASSERT_EQ(Firehose(Ledger("run --day " + std::string(kDay))).exit_code, 0);
  const json before = Show();
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(Firehose(Ledger("run --day " + std::string(kDay))).exit_code, 0);
  const auto run_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  std::mt19937 random(static_cast<unsigned>(::getpid()));
  int killed_mid_run = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    const pid_t pid = Spawn({std::string(FIREHOSE_TEST_BIN_DIR) + "/firehose", "ledger", "run",
                             "--day", std::string(kDay), "--partitions", "5", "--memory-max",
                             "1048576", "--config", (dir_.path() / "firehose.toml").string()});
    // Within the first 80% of a run's time: mostly mid-run, at a different point each time.
    const auto delay = std::chrono::milliseconds(
        10 + random() % static_cast<unsigned>(std::max<std::int64_t>(20, run_ms * 8 / 10)));
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++killed_mid_run;
    const json now = Show();
    // Killed before its commit: the previous run; after it: a new run of the same lake.
    EXPECT_EQ(now["run"]["digest"], before["run"]["digest"]) << "after " << delay.count() << " ms";
    EXPECT_EQ(now["totals"], before["totals"]);
  }
  EXPECT_GE(killed_mid_run, 3) << "most kills should land mid-run";
  const CommandRun next = Firehose(Ledger("run --json --day " + std::string(kDay)));
  ASSERT_EQ(next.exit_code, 0);
  EXPECT_EQ(Json(next)["run"]["digest"], before["run"]["digest"]);
  // The killed runs' spill directories are gone (the next run removes abandoned ones).
  std::size_t leftovers = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir_.path() / "ledger" / "spill", error)) {
    (void)entry;
    ++leftovers;
  }
  EXPECT_EQ(leftovers, 0u);
}

// The sharded ledger: 4 processes each compute a shard at the same time, `ledger commit`
// publishes the day; the digest, totals and partition sizes are a single run's.
TEST_P(LedgerCliTest, AFourShardRunGivesTheSameDigestAsASingleRun) {
  MakeLake(20'000);
  const CommandRun single =
      Firehose(Ledger("run --json --partitions 16 --day " + std::string(kDay)));
  ASSERT_EQ(single.exit_code, 0) << single.out;
  const json expected = Json(single);
  const json before = Show();

  EXPECT_EQ(Firehose(Ledger("commit --day " + std::string(kDay))).exit_code, 3) << "no shards yet";
  const std::string config = (dir_.path() / "firehose.toml").string();
  std::vector<pid_t> children;
  for (int i = 0; i < 3; ++i) {
    children.push_back(Spawn({std::string(FIREHOSE_TEST_BIN_DIR) + "/firehose", "ledger", "run",
                              "--day", std::string(kDay), "--partitions", "16", "--threads", "1",
                              "--shard", std::to_string(i) + "/4", "--config", config}));
  }
  for (const pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "shard exit status " << status;
  }
  EXPECT_EQ(Firehose(Ledger("commit --day " + std::string(kDay))).exit_code, 3)
      << "shard 3 of 4 is missing";
  EXPECT_EQ(Show()["run"], before["run"]) << "nothing was published";

  const CommandRun last =
      Firehose(Ledger("run --json --partitions 16 --shard 3/4 --day " + std::string(kDay)));
  ASSERT_EQ(last.exit_code, 0) << last.out;
  EXPECT_EQ(Json(last)["shards"], 4);
  const CommandRun commit = Firehose(Ledger("commit --json --day " + std::string(kDay)));
  ASSERT_EQ(commit.exit_code, 0) << commit.out;
  const json committed = Json(commit);
  EXPECT_EQ(committed["shards"], 4);
  EXPECT_EQ(committed["run"]["digest"], expected["run"]["digest"]);
  EXPECT_EQ(committed["run"]["keys_booked"], expected["run"]["keys_booked"]);
  EXPECT_EQ(committed["run"]["duplicates"], expected["run"]["duplicates"]);
  EXPECT_EQ(committed["run"]["conflicts"], expected["run"]["conflicts"]);
  EXPECT_EQ(committed["run"]["partition_sizes"], expected["run"]["partition_sizes"]);
  EXPECT_EQ(committed["totals"], expected["totals"]);
  const json after = Show();
  EXPECT_EQ(after["run"]["digest"], expected["run"]["digest"]);
  EXPECT_EQ(after["totals"], before["totals"]);
  EXPECT_EQ(after["conflicts"], before["conflicts"]);
  EXPECT_TRUE(fs::is_empty(dir_.path() / "ledger" / "shards" / std::string(kDay)))
      << "the published shards are removed";
}

// The memory bound is the process's: a day larger than the bound spills, the run's peak RSS
// (the kernel's ru_maxrss of the child, which counts everything: heap, stacks, SQLite's or libpq's
// buffers, the allocator's own, the binary) stays under it, and the ledger is the one an
// unbounded run books. 48 MiB: about what the job itself plans for. Besides the partitions it
// sets aside the process as it starts, a 4 MiB line reader per thread, the warehouse's cache,
// 8 MiB of slack and the write pipeline (ReserveMemory; measured: 36 MiB on glibc, leaving the
// partitions 11 MiB; 40 MiB on tcmalloc, leaving their 8 MiB minimum with a warning that the
// plan reaches the bound). Those are upper bounds: the runs peak at 31-35 MiB.
TEST_P(LedgerCliTest, PeakMemoryStaysUnderTheBoundWhileSpilling) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine count in RSS; release only";
#endif
  MakeLake(450'000);
  const CommandRun unbounded = Firehose(Ledger("run --json --day " + std::string(kDay)));
  ASSERT_EQ(unbounded.exit_code, 0) << unbounded.out;
  const json expected = Json(unbounded);

  constexpr std::int64_t kBound = 48 << 20;
  MeasuredRun run;
  ASSERT_NO_FATAL_FAILURE(RunMeasured("run", kBound, &run));
  const json& bounded = run.answer;

  EXPECT_GT(bounded["run"]["spilled_bytes"].get<std::int64_t>(), kBound)
      << "the day should be larger than the bound";
  EXPECT_LT(run.peak_bytes, kBound)
      << "peak RSS " << (run.peak_bytes >> 10) << " KiB over the bound";
  EXPECT_EQ(bounded["run"]["digest"], expected["run"]["digest"]);
  EXPECT_EQ(bounded["totals"], expected["totals"]);
}

// A shard killed while writing its files: the re-run had already replaced the rows file (the
// crash point is between the rows file and the manifest) and a late lake file had changed what
// the shard books. The killed shard is simply absent: `ledger commit` refuses, rather than
// pairing the new rows with the manifest of the shard's previous run (which agrees with the
// other shard's input set). Re-running the shards then publishes what a single run books.
TEST_P(LedgerCliTest, AShardKilledMidCommitIsAbsentUntilReRun) {
  MakeLake(20'000);
  const std::string shard_run = "run --json --partitions 16 --threads 1 --day " + std::string(kDay);
  for (const char* shard : {"0/2", "1/2"}) {
    ASSERT_EQ(Firehose(Ledger(shard_run + " --shard " + shard)).exit_code, 0) << shard;
  }
  LandLateTransactions(11);
  const CommandRun single =
      Firehose(Ledger("run --json --partitions 16 --day " + std::string(kDay)));
  ASSERT_EQ(single.exit_code, 0) << single.out;
  const json expected = Json(single);
  const json before = Show();
  const Fingerprint single_run = DayFingerprint();

  const CommandRun killed =
      Firehose(Ledger(shard_run + " --shard 1/2"), "FIREHOSE_FAULTS=ledger.before_commit=crash");
  ASSERT_EQ(killed.exit_code, 137) << "the shard dies between its rows file and its manifest";
  const std::string errors = (dir_.path() / "commit.err").string();
  const CommandRun refused =
      Firehose(Ledger("commit --json --day " + std::string(kDay)), "", errors);
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  Result<std::string> message = ReadFile(errors, 1 << 20);
  ASSERT_TRUE(message.ok());
  EXPECT_NE(message->find("shard(s) 1 of 2"), std::string::npos) << *message;
  EXPECT_EQ(Show()["run"], before["run"]) << "nothing was published";

  // Re-run, shard 1 is back; shard 0 read the lake before the late file and is refused until
  // it is re-run too.
  ASSERT_EQ(Firehose(Ledger(shard_run + " --shard 1/2")).exit_code, 0);
  EXPECT_EQ(Firehose(Ledger("commit --day " + std::string(kDay))).exit_code, 3);
  ASSERT_EQ(Firehose(Ledger(shard_run + " --shard 0/2")).exit_code, 0);
  const CommandRun commit = Firehose(Ledger("commit --json --day " + std::string(kDay)));
  ASSERT_EQ(commit.exit_code, 0) << commit.out;
  const json committed = Json(commit);
  EXPECT_EQ(committed["run"]["digest"], expected["run"]["digest"]);
  EXPECT_EQ(committed["run"]["keys_booked"], expected["run"]["keys_booked"]);
  EXPECT_EQ(committed["run"]["lines_read"], expected["run"]["lines_read"]);
  EXPECT_EQ(committed["run"]["files_read"], expected["run"]["files_read"]);
  EXPECT_EQ(committed["totals"], expected["totals"]);
  EXPECT_EQ(DayFingerprint(), single_run);
}

// A manifest and a rows file that were not written together (two runs of one shard at once,
// or a damaged file) are refused by name, whatever the rows say: here one digit of an amount
// changed, the file's size the same. Nothing is published; the intact file commits.
TEST_P(LedgerCliTest, ARowsFileThatIsNotItsManifestsIsRefused) {
  MakeLake(5'000);
  const CommandRun single =
      Firehose(Ledger("run --json --partitions 16 --day " + std::string(kDay)));
  ASSERT_EQ(single.exit_code, 0) << single.out;
  const json expected = Json(single);
  for (const char* shard : {"0/2", "1/2"}) {
    ASSERT_EQ(
        Firehose(Ledger("run --partitions 16 --day " + std::string(kDay) + " --shard " + shard))
            .exit_code,
        0);
  }
  const fs::path rows = dir_.path() / "ledger" / "shards" / std::string(kDay) / "shard-1-of-2.rows";
  Result<std::string> intact = ReadFile(rows, 1 << 30);
  ASSERT_TRUE(intact.ok());
  // The amount of the first transaction (the fourth field of the first line), one digit off.
  std::size_t at = 0;
  for (int tab = 0; tab < 3; ++tab) at = intact->find('\t', at) + 1;
  if ((*intact)[at] == '-') ++at;
  std::string damaged = *intact;
  damaged[at] = damaged[at] == '9' ? '8' : static_cast<char>(damaged[at] + 1);
  ASSERT_TRUE(WriteFileAtomically(rows, damaged).ok());

  const std::string errors = (dir_.path() / "commit.err").string();
  const CommandRun refused =
      Firehose(Ledger("commit --json --day " + std::string(kDay)), "", errors);
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  Result<std::string> message = ReadFile(errors, 1 << 20);
  ASSERT_TRUE(message.ok());
  EXPECT_NE(message->find("is not the rows file of that manifest"), std::string::npos) << *message;
  EXPECT_NE(message->find("re-run shard 1 of 2"), std::string::npos) << *message;
  EXPECT_EQ(Show()["run"]["run_id"], expected["run"]["run_id"]) << "nothing was published";

  ASSERT_TRUE(WriteFileAtomically(rows, *intact).ok());
  const CommandRun commit = Firehose(Ledger("commit --json --day " + std::string(kDay)));
  ASSERT_EQ(commit.exit_code, 0) << commit.out;
  EXPECT_EQ(Json(commit)["run"]["digest"], expected["run"]["digest"]);
}

// `ledger commit` streams each shard's conflicts into the warehouse instead of holding them:
// over a day where every transaction conflicts (200 000 conflict rows) its peak RSS (the
// child's ru_maxrss, as for a run) stays under the memory bound a run of the day keeps, and
// the warehouse then holds exactly what a single run writes. Before, the commit held every
// shard's conflicts and a sorted copy: 189 MiB for this day. (A forked child's ru_maxrss starts
// at this process's resident set when it forks: the commit is forked before this process reads
// a whole day back.)
TEST_P(LedgerCliTest, ACommitOfManyConflictsStaysUnderTheMemoryBound) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's shadow memory and quarantine count in RSS; release only";
#endif
  MakeLake(200'000, "conflict=100%,update=100%");
  constexpr std::int64_t kBound = 48 << 20;
  const std::string bound = std::to_string(kBound);
  for (const char* shard : {"0/2", "1/2"}) {
    ASSERT_EQ(Firehose(Ledger("run --partitions 16 --threads 1 --memory-max " + bound + " --day " +
                              std::string(kDay) + " --shard " + shard))
                  .exit_code,
              0)
        << shard;
  }

  MeasuredRun run;
  ASSERT_NO_FATAL_FAILURE(RunMeasured("commit", kBound, &run));
  const json& committed = run.answer;

  EXPECT_LT(run.peak_bytes, kBound)
      << "peak RSS " << (run.peak_bytes >> 10) << " KiB over the bound";
  const Fingerprint sharded = DayFingerprint();

  const CommandRun single = Firehose(
      Ledger("run --json --partitions 16 --memory-max " + bound + " --day " + std::string(kDay)));
  ASSERT_EQ(single.exit_code, 0) << single.out;
  const json expected = Json(single);
  EXPECT_GE(expected["run"]["conflicts"].get<std::int64_t>(), 190'000);
  EXPECT_EQ(committed["run"]["digest"], expected["run"]["digest"]);
  EXPECT_EQ(committed["run"]["conflicts"], expected["run"]["conflicts"]);
  EXPECT_EQ(committed["totals"], expected["totals"]);
  const Fingerprint single_run = DayFingerprint();
  EXPECT_GE(single_run.conflicts, 190'000u);
  EXPECT_EQ(sharded.transactions, single_run.transactions);
  EXPECT_EQ(sharded.conflicts, single_run.conflicts);
  EXPECT_EQ(sharded.sha256, single_run.sha256) << "the warehouse holds what a single run writes";
}

INSTANTIATE_TEST_SUITE_P(Warehouses, LedgerCliTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& test_info) { return test_info.param; });

}  // namespace
}  // namespace firehose
