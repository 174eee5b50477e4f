// The fault scenarios of issue 5, each with the real binaries as an operator runs them: `firehose
// run` on a config from `firehose sim config`, `firehose sim run` as the partners (writing the
// ground truth), and `firehose ledger run|status|reprocess|show` and `firehose reconcile`. Every
// scenario ends with the ledger equal to the simulator's truth to the cent: for every business day
// the truth covers, the partners' statements reconcile and the ledger's totals per (partner,
// currency, status) are the truth's. Volumes are scaled down to seconds; the checks are not.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <map>
#include <thread>

#include "poll/cursor_store.h"
#include "scenarios/scenario_fixture.h"
#include "sim/fleet.h"
#include "sim/sender.h"
#include "support/alert_receiver.h"

// Platform options name only the fields a scenario cares about (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace firehose::scenarios {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;

// Items on the partner's poll feed (each transaction report, each malformed item).
std::int64_t FeedSize(const OfferedItems& offered, const std::string& partner) {
  const auto malformed = offered.malformed.find(partner);
  return static_cast<std::int64_t>(offered.txn_ids.at(partner).size()) +
         (malformed == offered.malformed.end() ? 0 : malformed->second);
}

bool Ready(const std::future<Command>& future) {
  return future.wait_for(milliseconds(0)) == std::future_status::ready;
}

// Smaller poll pages and a quicker breaker than `sim config` writes: a feed of a few hundred
// items takes many pages (so faults and kills land between them), and the poller starts paging
// within a second of the simulator's poll server coming up.
void SmallPollPages(std::string& config) {
  for (std::size_t at = config.find("page_size = 50"); at != std::string::npos;
       at = config.find("page_size = 50", at)) {
    config.replace(at, 14, "page_size = 5");
  }
  for (std::size_t at = config.find("breaker_open_ms = 2000"); at != std::string::npos;
       at = config.find("breaker_open_ms = 2000", at)) {
    config.replace(at, 22, "breaker_open_ms = 500");
  }
}

// --- (a) ------------------------------------------------------------------------------------

// A partner is offline all day; the day is booked without it; at "2 am" it replays its whole day
// (its own duplicate and late resends included). The booked day turns stale with exactly the
// replay's events as its delta, the old ledger stays readable until `ledger reprocess --stale`,
// and then the ledger is the truth of the whole day.
TEST(Scenario, A_OfflinePartnerReplaysItsDayAfterTheLedgerRan) {
  TempDir dir;
  Platform platform(dir.path(), {.partner_slots = 6});
  const std::string offline = platform.partner_id(1);
  ASSERT_TRUE(platform.Start());

  const std::vector<std::string> day_args = {"--events", "2000", "--seed", "21"};
  std::vector<std::string> without = day_args;
  without.insert(without.end(), {"--skip-partners", offline});
  const Command sent = platform.SimRun(dir.path() / "truth-day", without);
  ASSERT_EQ(sent.exit_code, 0) << sent.out;
  const sim::Truth day_truth = ReadTruth(dir.path() / "truth-day");
  ASSERT_TRUE(day_truth.complete);
  for (const sim::TruthTotal& total : day_truth.totals) ASSERT_NE(total.partner_id, offline);
  WaitForLakeToHold(platform.data_dir(), day_truth);
  BookDays(platform, day_truth);
  ExpectLedgerEqualsTruth(platform, day_truth, dir.path() / "truth-day" / "statements.csv");
  const json booked = ShowDay(platform, std::string(kDay));
  EXPECT_EQ(platform.Firehose({"ledger", "status"}).exit_code, 0) << "nothing is stale yet";

  // 2 am: the partner comes back and replays its whole day, as it would have sent it.
  std::vector<std::string> replay_args = day_args;
  replay_args.insert(replay_args.end(), {"--only-partners", offline});
  const Command replayed = platform.SimRun(dir.path() / "truth-replay", replay_args);
  ASSERT_EQ(replayed.exit_code, 0) << replayed.out;
  const sim::Truth replay_truth = ReadTruth(dir.path() / "truth-replay");
  ASSERT_TRUE(replay_truth.complete);
  EXPECT_GT(replay_truth.counts.duplicate_events, 0) << "the replay repeats some of its sends";
  for (const sim::TruthTotal& total : replay_truth.totals) EXPECT_EQ(total.partner_id, offline);
  const testing::LakeContents lake = WaitForLake(
      platform.data_dir(), day_truth.counts.events_acked + replay_truth.counts.events_acked,
      day_truth.counts.quarantined + replay_truth.counts.quarantined);
  const auto replayed_lines = lake.raw_lines_by_date_partner.find({std::string(kDay), offline});
  ASSERT_NE(replayed_lines, lake.raw_lines_by_date_partner.end());

  // The day is stale by exactly the replay's lines in its partition.
  const Command status =
      platform.Firehose({"--json", "ledger", "status", "--day", std::string(kDay)});
  EXPECT_EQ(status.exit_code, 1) << "a stale day is a problem found: " << status.out;
  const json state = status.Json().at(0);
  EXPECT_EQ(state["state"], "stale") << status.out;
  EXPECT_GT(state["new_files"].size(), 0u) << status.out;
  EXPECT_EQ(state["new_events"].get<std::int64_t>(), replayed_lines->second) << status.out;

  // Until it is reprocessed the day's old ledger is what anyone reads.
  const json before_reprocess = ShowDay(platform, std::string(kDay));
  EXPECT_EQ(before_reprocess["run"], booked["run"]);
  EXPECT_EQ(before_reprocess["totals"], booked["totals"]);

  const Command reprocessed = platform.Firehose({"--json", "ledger", "reprocess", "--stale"});
  ASSERT_EQ(reprocessed.exit_code, 0) << reprocessed.out;
  bool day_rerun = false;
  for (const json& run : reprocessed.Json()) {
    day_rerun |= run["run"]["business_date"] == kDay;
    for (const json& change : run["changes"]) EXPECT_EQ(change["partner_id"], offline) << run;
  }
  EXPECT_TRUE(day_rerun) << reprocessed.out;
  EXPECT_EQ(platform.Firehose({"ledger", "status"}).exit_code, 0) << "no stale day is left";

  const sim::Truth whole_day = MergeTruths({day_truth, replay_truth});
  const auto statements = WriteTruth(whole_day, dir.path() / "truth-whole-day");
  ExpectLedgerEqualsTruth(platform, whole_day, statements);
  EXPECT_EQ(platform.Stop(), 0);
}

// --- (b) ------------------------------------------------------------------------------------

// A polled partner answers 429 (Retry-After 1) for 2 s and then 503 (Retry-After 2) for 2.5 s, in
// the middle of its feed: the poller backs off as told, and afterwards every item of the feed is
// in the lake exactly once (no page skipped, none re-read), and the ledger is the truth.
TEST(Scenario, B_PollPartnerThrottledAndDownLosesNothing) {
  TempDir dir;
  Platform platform(dir.path(), {.partner_slots = 3, .poll = true, .edit = SmallPollPages});
  ASSERT_EQ(platform.poll_partner_ids().size(), 1u);
  const std::string polled = platform.poll_partner_ids()[0];
  ASSERT_TRUE(platform.Start());

  // Every answer takes 80 ms, so at most 62 items a second are served: the feed (~190 items)
  // cannot be through before the 429s start at 2 s. Windows are timed from the poll server's
  // start; the first one listed applies where they overlap.
  const std::string faults = "throttle:2000-4000:1,outage:4000-6500:2,slow:0-600000:80";
  const Command sent = platform.SimRun(
      dir.path() / "truth",
      {"--events", "1500", "--seed", "22", "--poll-faults", faults, "--poll-linger-s", "1"});
  ASSERT_EQ(sent.exit_code, 0) << sent.out;
  const json summary = sent.Json();
  const json& feed = summary["poll"]["by_partner"][polled];
  const json& answers = feed["answers"];
  // Backed off: with Retry-After honoured, requests in a 429 window of 2 s are >= 1 s apart and
  // in a 503 window of 2.5 s >= 2 s apart (an impatient poller would have sent dozens).
  std::printf("%s's poll API answered %s\n", polled.c_str(), answers.dump().c_str());
  EXPECT_GE(answers.value("429", 0), 1) << feed;
  EXPECT_LE(answers.value("429", 0), 3) << feed;
  EXPECT_GE(answers.value("503", 0), 1) << feed;
  EXPECT_LE(answers.value("503", 0), 2) << feed;
  EXPECT_TRUE(summary["poll"]["all_served"].get<bool>());

  const sim::Truth truth = ReadTruth(dir.path() / "truth");
  ASSERT_TRUE(truth.complete);
  const testing::LakeContents lake = WaitForLakeToHold(platform.data_dir(), truth);
  EXPECT_EQ(lake.raw_lines, truth.counts.events_acked) << "nothing landed twice";

  // Exactly the feed's items: each txn_id as often as the partner itself offered it.
  auto fleet = sim::FleetFromConfig(platform.config());
  ASSERT_TRUE(fleet.ok());
  const OfferedItems offered = OfferedPollItems(*fleet, platform.PlanOf(22, 1500));
  ASSERT_GT(offered.txn_ids.at(polled).size(), 150u);
  EXPECT_TRUE(lake.txn_ids_by_partner.at(polled) == offered.txn_ids.at(polled))
      << "the lake holds " << lake.txn_ids_by_partner.at(polled).size() << " items of " << polled
      << ", the feed " << offered.txn_ids.at(polled).size();
  const auto malformed = offered.malformed.find(polled);
  const auto quarantined = lake.quarantine_lines_by_partner.find(polled);
  EXPECT_EQ(quarantined == lake.quarantine_lines_by_partner.end() ? 0 : quarantined->second,
            malformed == offered.malformed.end() ? 0 : malformed->second);

  BookDays(platform, truth);
  ExpectLedgerEqualsTruth(platform, truth, dir.path() / "truth" / "statements.csv");
  EXPECT_EQ(platform.Stop(), 0);
}

// --- (c) ------------------------------------------------------------------------------------

std::int64_t AckedCount(const std::filesystem::path& acks) {
  if (!std::filesystem::exists(acks)) return 0;
  auto lines = sim::ReadAckFile(acks);
  return lines.ok() ? static_cast<std::int64_t>(lines->size()) : 0;
}

// Where each polled partner's saved cursor points in its feed: the simulator's cursors are
// "c<position>" and its since values the position itself (sim/poll_server.h).
std::map<std::string, std::int64_t> PollPositions(const Platform& platform,
                                                  const std::vector<std::string>& partners) {
  std::map<std::string, std::int64_t> positions;
  poll::CursorStore store(platform.data_dir() / "poll");
  for (const std::string& partner : partners) {
    auto saved = store.Load(*PartnerId::Parse(partner));
    if (!saved.ok() || !saved->has_value()) continue;
    const std::string& value = (*saved)->value;
    positions[partner] = std::atoll(value.c_str() + (value.starts_with("c") ? 1 : 0));
  }
  return positions;
}

// `firehose run` dies three times while the simulator's webhooks stream in and its two polled
// partners are being paged: once by itself between a page's durable append and its cursor save,
// twice by SIGKILL from the test, each time after that life had acknowledged webhooks and
// committed pages with more of the feed still to come. The senders retry what got no 2xx; the
// poller re-reads the page whose cursor was not saved. Afterwards every acknowledged arrival and
// every served item is in the lake, and the ledger is the truth.
TEST(Scenario, C_KillNineMidPollAndMidWebhookBurstLosesNothing) {
  TempDir dir;
  Platform platform(dir.path(), {.partner_slots = 6, .poll = true, .edit = SmallPollPages});
  const std::vector<std::string> polled = platform.poll_partner_ids();
  ASSERT_EQ(polled.size(), 2u);
  auto fleet = sim::FleetFromConfig(platform.config());
  ASSERT_TRUE(fleet.ok());
  const OfferedItems offered = OfferedPollItems(*fleet, platform.PlanOf(23, 3000));
  const std::filesystem::path acks = dir.path() / "acks.txt";

  // First life: dies by itself at the 4th page's cursor save (after its durable append).
  ASSERT_TRUE(platform.Start({"FIREHOSE_FAULTS=poll.cursor_save=crash@4"}));
  // Pages take 150 ms each: paging outlasts the kills on any machine.
  std::future<Command> sending =
      platform.SimRunAsync(dir.path() / "truth", {"--events", "3000", "--seed", "23", "--rate",
                                                  "250", "--acks", acks.string(), "--poll-faults",
                                                  "slow:0-600000:150", "--give-up-s", "300"});
  ASSERT_EQ(platform.Wait(seconds(60)), 137) << "the crash probe did not fire";
  EXPECT_GT(AckedCount(acks), 0) << "webhooks were being acknowledged when it died";
  ASSERT_FALSE(Ready(sending)) << "the partners had finished before the first crash";

  for (int life = 2; life <= 3; ++life) {
    ASSERT_TRUE(platform.Start()) << "life " << life;
    const std::int64_t acked_before = AckedCount(acks);
    const auto positions_before = PollPositions(platform, polled);
    // Kill once this life has acknowledged webhooks and committed pages of a feed it has not
    // finished: mid-burst and mid-poll.
    const auto deadline = Clock::now() + seconds(60);
    bool mid_work = false;
    while (!mid_work && Clock::now() < deadline && !Ready(sending)) {
      std::this_thread::sleep_for(milliseconds(20));
      bool paging = false;
      for (const auto& [partner, position] : PollPositions(platform, polled)) {
        const auto before = positions_before.find(partner);
        const std::int64_t from = before == positions_before.end() ? 0 : before->second;
        paging |= position >= from + 10 && position < FeedSize(offered, partner);
      }
      mid_work = paging && AckedCount(acks) >= acked_before + 20;
    }
    ASSERT_TRUE(mid_work) << "life " << life << " never got mid-poll and mid-burst";
    platform.Kill(SIGKILL);
  }

  ASSERT_TRUE(platform.Start());
  const Command sent = sending.get();
  ASSERT_EQ(sent.exit_code, 0) << sent.out;
  const json summary = sent.Json();
  EXPECT_GT(summary["retries"].get<std::int64_t>(), 0) << "the kills cost the senders retries";
  EXPECT_TRUE(summary["poll"]["all_served"].get<bool>());
  const sim::Truth truth = ReadTruth(dir.path() / "truth");

  // Every acknowledged arrival is in the lake, each of its parts once.
  auto acked = sim::ReadAckFile(acks);
  ASSERT_TRUE(acked.ok());
  ASSERT_GT(acked->size(), 1000u);
  testing::LakeContents lake = WaitForLakeToHold(platform.data_dir(), truth);
  const auto deadline = Clock::now() + kLakeDeadline;
  const auto missing = [&] {
    std::size_t count = 0;
    for (const sim::AckLine& ack : *acked) {
      count += lake.raw_by_arrival.count(ack.arrival_id) == 0 &&
               lake.quarantine_by_arrival.count(ack.arrival_id) == 0;
    }
    for (const auto& [partner, ids] : offered.txn_ids) {
      const auto landed = lake.txn_ids_by_partner.find(partner);
      for (const std::string& id : ids) {
        count += landed == lake.txn_ids_by_partner.end() || landed->second.count(id) == 0;
      }
    }
    return count;
  };
  while ((missing() > 0 || !lake.problems.empty()) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(200));
    lake = testing::ScanLake(platform.data_dir());
  }
  EXPECT_EQ(missing(), 0u) << "acknowledged arrivals or served poll items missing from the lake";
  for (const std::string& problem : lake.problems) ADD_FAILURE() << "lake: " << problem;
  for (const auto& [arrival, indexes] : lake.raw_by_arrival) {
    EXPECT_EQ(std::set<std::int64_t>(indexes.begin(), indexes.end()).size(), indexes.size())
        << "arrival " << arrival << " landed twice";
  }
  std::size_t repolled = 0;
  for (const auto& [partner, ids] : offered.txn_ids) {
    repolled += lake.txn_ids_by_partner[partner].size() - ids.size();
  }
  EXPECT_GT(repolled, 0u) << "the page whose cursor save crashed was read again";

  BookDays(platform, truth);
  ExpectLedgerEqualsTruth(platform, truth, dir.path() / "truth" / "statements.csv");
  EXPECT_EQ(platform.Stop(), 0);
  EXPECT_EQ(
      platform.Firehose({"lake", "verify", "--data-dir", platform.data_dir().string()}).exit_code,
      0);
  std::printf("acknowledged %zu arrivals, %lld retries, %zu re-polled items\n", acked->size(),
              static_cast<long long>(summary["retries"].get<std::int64_t>()), repolled);
}

// --- (d) ------------------------------------------------------------------------------------

// The transactions `partner` reports in `plan` (each key once, whatever its resends).
std::int64_t TransactionsOf(Platform& platform, const sim::Plan& plan, const std::string& partner) {
  auto fleet = sim::FleetFromConfig(platform.config());
  FH_CHECK(fleet.ok(), "the scenario's config has simulated partners");
  std::int64_t count = 0;
  for (std::int64_t key = 0; key < plan.transactions; ++key) {
    count +=
        fleet->partners.at(plan.events[static_cast<std::size_t>(key)].partner).id.str() == partner;
  }
  return count;
}

// The freshness bound this scenario holds the ops view to while one partner bursts.
constexpr double kFreshnessBoundS = 5.0;

// The other partners send their usual day, paced; meanwhile the smallest partner sends 50 times
// its usual volume as fast as it can. While it bursts, every other partner's last arrival is at
// most kFreshnessBoundS old on GET /api/ops/partners and its 1 s series shows no arrival reaching
// the ops view later than that; the ledger is the truth of both sends.
TEST(Scenario, D_OnePartnerBurstsFiftyTimesOthersStayFresh) {
  TempDir dir;
  Platform platform(dir.path(), {.partner_slots = 6});
  const std::size_t partner_count = platform.partners().size();
  const std::string burster = platform.partner_id(partner_count - 1);  // the smallest volume
  std::vector<std::string> others;
  for (std::size_t p = 0; p + 1 < partner_count; ++p) others.push_back(platform.partner_id(p));
  // Its usual day, and a `sim run --only-partners` of another seed sized to give it 50 times as
  // many transactions (the first N transactions of a seed draw the same partners at any size).
  const std::int64_t usual_volume = TransactionsOf(platform, platform.PlanOf(24, 1000), burster);
  const std::int64_t burst_events =
      50 * usual_volume * 50'000 / TransactionsOf(platform, platform.PlanOf(25, 50'000), burster);
  ASSERT_TRUE(platform.Start());

  std::future<Command> usual = platform.SimRunAsync(
      dir.path() / "truth-usual", {"--events", "1000", "--seed", "24", "--rate", "100"});
  // Every other partner is flowing before the burst starts.
  const auto flowing_deadline = Clock::now() + seconds(60);
  const auto all_flowing = [&] {
    for (const std::string& partner : others) {
      const json row = platform.OpsPartner(partner);
      if (!row.is_object() || row["events_total"].get<std::int64_t>() == 0) return false;
    }
    return true;
  };
  while (!all_flowing() && Clock::now() < flowing_deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(all_flowing());

  const std::int64_t burst_started_s =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::future<Command> burst = platform.SimRunAsync(
      dir.path() / "truth-burst",
      {"--events", std::to_string(burst_events), "--seed", "25", "--only-partners", burster});
  double worst_age_s = 0;
  int samples = 0;
  while (!Ready(burst)) {
    if (Ready(usual)) break;  // the others have finished: their ages no longer measure freshness
    for (const std::string& partner : others) {
      const json row = platform.OpsPartner(partner);
      ASSERT_TRUE(row.is_object()) << partner;
      const double age = row["last_seen_age_s"].get<double>();
      worst_age_s = std::max(worst_age_s, age);
      EXPECT_LT(age, kFreshnessBoundS) << partner << " while " << burster << " bursts";
    }
    ++samples;
    std::this_thread::sleep_for(milliseconds(50));
  }
  const Command burst_sent = burst.get();
  const std::int64_t burst_ended_s =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const Command usual_sent = usual.get();
  ASSERT_EQ(burst_sent.exit_code, 0) << burst_sent.out;
  ASSERT_EQ(usual_sent.exit_code, 0) << usual_sent.out;
  EXPECT_GE(samples, 3) << "the burst was over before the others' freshness could be sampled";

  // The 1 s series over the burst: no arrival of another partner reached the ops view later
  // than the bound.
  std::uint64_t worst_lag_ms = 0;
  for (const std::string& partner : others) {
    const json series = platform.GetJson("/api/ops/series?partner=" + partner + "&window=120");
    const std::int64_t start_s = series["start_unix_s"].get<std::int64_t>();
    const std::int64_t step_s = series["step_s"].get<std::int64_t>();
    const json& lags = series["lag_max_ms"];
    for (std::size_t i = 0; i < lags.size(); ++i) {
      const std::int64_t at_s = start_s + static_cast<std::int64_t>(i) * step_s;
      if (at_s < burst_started_s || at_s > burst_ended_s) continue;
      worst_lag_ms = std::max(worst_lag_ms, lags[i].get<std::uint64_t>());
      EXPECT_LT(lags[i].get<double>(), kFreshnessBoundS * 1000) << partner << " at " << at_s;
    }
  }

  const sim::Truth usual_truth = ReadTruth(dir.path() / "truth-usual");
  const sim::Truth burst_truth = ReadTruth(dir.path() / "truth-burst");
  std::int64_t usual_booked = 0;
  for (const sim::TruthTotal& total : usual_truth.totals) {
    if (total.partner_id == burster) usual_booked += total.txn_count;
  }
  ASSERT_EQ(usual_booked, usual_volume);
  EXPECT_GE(burst_truth.counts.transactions, 45 * usual_volume) << "50 times its usual day";
  EXPECT_LE(burst_truth.counts.transactions, 55 * usual_volume) << "50 times its usual day";
  std::printf(
      "%s sent %lld transactions (usual %lld) in %lld s; worst freshness of the others: "
      "last seen %.2f s ago, ops lag %llu ms (%d samples)\n",
      burster.c_str(), static_cast<long long>(burst_truth.counts.transactions),
      static_cast<long long>(usual_volume), static_cast<long long>(burst_ended_s - burst_started_s),
      worst_age_s, static_cast<unsigned long long>(worst_lag_ms), samples);

  const sim::Truth both = MergeTruths({usual_truth, burst_truth});
  const auto statements = WriteTruth(both, dir.path() / "truth-both");
  WaitForLakeToHold(platform.data_dir(), both);
  BookDays(platform, both);
  ExpectLedgerEqualsTruth(platform, both, statements);
  EXPECT_EQ(platform.Stop(), 0);
}

// --- (e) ------------------------------------------------------------------------------------

// The day is sent and booked; then the partners send the whole day again, byte for byte: every
// event a duplicate. The duplicate_rate alert fires at a real HTTP receiver and resolves after
// the storm; the stale day is reprocessed and its ledger (totals and digest) is unchanged.
TEST(Scenario, E_DuplicateStormFiresTheAlertLedgerUnchanged) {
  TempDir dir;
  testing::AlertReceiver receiver;
  const std::string rules = R"(
[[ops.alerts]]
name = "duplicate-storm"
kind = "duplicate_rate"
threshold = 50
resolve_threshold = 20
window_s = 2
min_events = 20
for_s = 1
resolve_hold_s = 1

[[ops.destinations]]
url = ")" + receiver.url() + R"("
backoff_initial_ms = 100
)";
  Platform platform(dir.path(), {.partner_slots = 6, .extra_toml = rules});
  ASSERT_TRUE(platform.Start());

  const std::vector<std::string> day = {"--events", "1000", "--seed", "26", "--rate", "250"};
  const Command sent = platform.SimRun(dir.path() / "truth", day);
  ASSERT_EQ(sent.exit_code, 0) << sent.out;
  const sim::Truth truth = ReadTruth(dir.path() / "truth");
  ASSERT_TRUE(truth.complete);
  EXPECT_GT(truth.counts.duplicate_events, 0) << "the day has its usual few duplicates";
  WaitForLakeToHold(platform.data_dir(), truth);
  BookDays(platform, truth);
  const auto statements = dir.path() / "truth" / "statements.csv";
  ExpectLedgerEqualsTruth(platform, truth, statements);
  std::map<std::string, json> booked;
  for (const std::string& booked_day : DaysOf(truth)) {
    booked[booked_day] = ShowDay(platform, booked_day);
  }
  // Every notification, for the messages of failed expectations.
  const auto notifications = [&receiver] {
    std::string all;
    for (const json& notification : receiver.All()) all += "\n  " + notification.dump();
    return all;
  };
  EXPECT_EQ(receiver.Count("firing", "duplicate-storm", ""), 0)
      << "a normal day's duplicates stay under the threshold:" << notifications();

  // The storm: the whole day again, the same bytes.
  const auto storm_started = Clock::now();
  // Paced slower than the day was sent: the storm lasts several seconds (the same bytes at any
  // pace).
  std::vector<std::string> storm_args = day;
  storm_args.back() = "150";
  std::future<Command> storm = platform.SimRunAsync(dir.path() / "truth-storm", storm_args);
  const auto fired = receiver.WaitFor("firing", "duplicate-storm", "", seconds(60));
  ASSERT_TRUE(fired) << "no firing notification";
  const Command stormed = storm.get();
  ASSERT_EQ(stormed.exit_code, 0) << stormed.out;
  const auto storm_ended = Clock::now();
  EXPECT_LT(*fired, storm_ended) << "the alert fired while the storm lasted:" << notifications();
  // The busiest partner that fired: its duplicates fill every window until the storm ends. A
  // partner sending a few batches can fall under min_events between two of them (which counts
  // as recovering) and resolve while its storm goes on: seen with the disk slowing the acks.
  std::map<std::string, std::int64_t> volume;
  for (const sim::TruthTotal& total : truth.totals) volume[total.partner_id] += total.txn_count;
  std::string subject;
  for (const json& notification : receiver.All()) {
    if (notification["status"] != "firing") continue;
    const std::string fired_for = notification["alert"]["subject"];
    if (subject.empty() || volume[fired_for] > volume[subject]) subject = fired_for;
  }
  const auto resolved = receiver.WaitFor("resolved", "duplicate-storm", subject, seconds(60));
  ASSERT_TRUE(resolved) << "the alert for " << subject << " never resolved:" << notifications();
  EXPECT_GT(*resolved, storm_ended) << "it resolved once the storm was over:" << notifications();
  const auto seconds_between = [](Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
  };
  std::printf(
      "duplicate storm of %.1f s: the alert for %s fired after %.1f s, resolved %.1f s "
      "after the storm\n",
      seconds_between(storm_started, storm_ended), subject.c_str(),
      seconds_between(storm_started, *fired), seconds_between(storm_ended, *resolved));

  // The storm landed, the day is stale; reprocessed, it books exactly what it booked before.
  WaitForLake(platform.data_dir(), 2 * truth.counts.events_acked, 2 * truth.counts.quarantined);
  const Command status =
      platform.Firehose({"--json", "ledger", "status", "--day", std::string(kDay)});
  EXPECT_EQ(status.exit_code, 1) << status.out;
  EXPECT_EQ(status.Json().at(0)["state"], "stale") << status.out;
  const Command reprocessed = platform.Firehose({"--json", "ledger", "reprocess", "--stale"});
  ASSERT_EQ(reprocessed.exit_code, 0) << reprocessed.out;
  for (const json& run : reprocessed.Json()) {
    EXPECT_TRUE(run["changes"].empty()) << run;
    EXPECT_GT(run["run"]["duplicates"].get<std::int64_t>(), 0);
  }
  for (const auto& [booked_day, before] : booked) {
    const json after = ShowDay(platform, booked_day);
    EXPECT_EQ(after["run"]["digest"], before["run"]["digest"]) << booked_day;
    EXPECT_EQ(after["totals"], before["totals"]) << booked_day;
    EXPECT_NE(after["run"]["run_id"], before["run"]["run_id"]) << booked_day << " was re-run";
  }
  ExpectLedgerEqualsTruth(platform, truth, statements);
  EXPECT_EQ(platform.Stop(), 0);
}

// The simulator options the scenarios rely on refuse what they cannot do exactly: a partner
// name that is not in the config (a typo must not send the whole day), both selections at once,
// and a poll fault window that does not parse.
TEST(ScenarioOptions, SimRunRefusesUnknownPartnersAndBadPollWindows) {
  TempDir dir;
  Platform platform(dir.path(), {.partner_slots = 3, .poll = true});
  const auto refused = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--events", "10", "--poll-wait-s", "0", "--poll-linger-s", "0"});
    const Command run = platform.SimRun(dir.path() / "truth", args);
    EXPECT_EQ(run.exit_code, 3) << run.out;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "truth")) << "nothing was sent";
  };
  refused({"--only-partners", "p009-nobody"});
  refused({"--skip-partners", platform.partner_id(0) + ",p009-nobody"});
  refused({"--only-partners", platform.partner_id(0), "--skip-partners", platform.partner_id(1)});
  refused({"--poll-faults", "throttle:2000-1000:1"});
  refused({"--poll-faults", "throttle:1000-2000:1x"});
  refused({"--poll-faults", "hang:0-1000"});
  refused({"--poll-faults", "silent:0-1000:5"});
}

}  // namespace
}  // namespace firehose::scenarios
