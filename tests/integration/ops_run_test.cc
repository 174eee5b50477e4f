// The ops path through the real binaries as an operator starts them: a config file with alert
// rules and a webhook destination, `firehose run` (then `firehose land` and `firehose ops`),
// signed webhooks over HTTP on 127.0.0.1, a real local HTTP receiver for the alerts, promtool
// on the real /metrics.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "queue/embedded_log.h"
#include "support/alert_receiver.h"
#include "support/ops_fixtures.h"
#include "support/process.h"
#include "support/raw_http.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

using testing::AlertReceiver;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class OpsRunTest : public ::testing::Test {
 protected:
  // Writes the config: partners p000..p00<n-1>, `extra_toml` appended, `edit` applied to the
  // text (per-partner keys), listening on a fixed free port, data under the temp dir.
  void WriteConfig(int partners, const std::string& extra_toml,
                   const std::function<void(std::string&)>& edit = {}) {
    port_ = testing::FreePort();
    std::string text = testing::OpsConfigText(partners, extra_toml);
    text.replace(text.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(port_));
    if (edit) edit(text);
    text = "data_dir = \"" + (dir_.path() / "data").string() + "\"\n" + text;
    config_path_ = dir_.path() / "firehose.toml";
    std::ofstream(config_path_) << text;
    ::chmod(config_path_.c_str(), 0600);
  }

  // Starts `firehose <command>` and waits for its HTTP server.
  void StartFirehose(testing::ChildProcess& process, const std::string& command) {
    ASSERT_TRUE(process.Start({FIREHOSE_BINARY, "--config", config_path_.string(), command}, {},
                              dir_.path() / "firehose.log"));
    ASSERT_TRUE(testing::WaitForHttp(port_, "/healthz", 200, seconds(20))) << LogText();
  }

  std::string LogText() const {
    std::ifstream log(dir_.path() / "firehose.log");
    return std::string((std::istreambuf_iterator<char>(log)), {});
  }

  int Post(std::string_view partner, std::string_view txn, std::string_view status = "succeeded") {
    auto response =
        testing::RoundTrip(port_, testing::SignedPost(partner, testing::StripeBody(txn, status)));
    return response ? response->status : 0;
  }

  json GetJson(const std::string& target) {
    const testing::HttpAnswer answer = testing::HttpGet(port_, target);
    EXPECT_EQ(answer.status, 200) << target << ": " << answer.body;
    return answer.status == 200 ? json::parse(answer.body) : json();
  }

  // The partner's row in /api/ops/partners.
  json PartnerRow(std::string_view partner) {
    const json partners = GetJson("/api/ops/partners?q=" + std::string(partner));
    for (const json& row : partners["partners"]) {
      if (row["id"] == partner) return row;
    }
    return json();
  }

  // The sum of one ingest-error kind over the partner's last minute of 1 s buckets.
  std::uint64_t ErrorsInLastMinute(std::string_view partner, std::string_view kind) {
    const json series = GetJson("/api/ops/series?partner=" + std::string(partner) + "&window=60");
    std::uint64_t total = 0;
    for (const json& count : series["errors"][std::string(kind)])
      total += count.get<std::uint64_t>();
    return total;
  }

  // The ops consumer's durable cursor in the stopped data dir (nullopt: no such consumer).
  std::optional<ConsumerStats> OpsCursor() {
    Limits limits;
    auto queue = EmbeddedLog::Open(dir_.path() / "data" / "queue", limits);
    EXPECT_TRUE(queue.ok()) << queue.status().ToString();
    if (!queue.ok()) return std::nullopt;
    for (const ConsumerStats& consumer : (*queue)->Stats().consumers) {
      if (consumer.name == "ops") return consumer;
    }
    return std::nullopt;
  }

  testing::TempDir dir_;
  std::filesystem::path config_path_;
  std::uint16_t port_ = 0;
};

// An arrival shows within 1 s of its 2xx; 401, 413 and 429 refused at the edge count in the
// partner's series; /metrics passes promtool; the dashboard is served. Then the data dir goes
// through `firehose land` (which releases the ops cursor: nothing would advance it) and
// `firehose ops` (the ops view alone, rebuilt from the queue).
TEST_F(OpsRunTest, ArrivalsRejectionsMetricsAndTheRolesThroughTheRealBinary) {
  WriteConfig(3, "", [](std::string& text) {
    text.replace(text.find("[limits]\n"), 9, "[limits]\nbody_bytes_max = 2048\n");
    // p002 may send one request per 100 s.
    const std::size_t p002 = text.find("id = \"p002\"");
    const std::size_t rate = text.find("rate_limit_rps = 0", p002);
    text.replace(rate, 18, "rate_limit_rps = 0.01\nrate_limit_burst = 1");
  });
  testing::ChildProcess firehose;
  StartFirehose(firehose, "run");

  // Freshness: visible in /api/ops/partners within 1 s of the 202.
  ASSERT_EQ(Post("p001", "ch_1"), 202);
  const auto acknowledged = Clock::now();
  json row;
  while (Clock::now() - acknowledged < seconds(3)) {
    row = PartnerRow("p001");
    if (row.is_object() && row["events_total"] == 1) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  const double visible_after_s = SecondsSince(acknowledged);
  ASSERT_TRUE(row.is_object());
  EXPECT_EQ(row["events_total"], 1);
  EXPECT_LT(visible_after_s, 1.0) << "visible " << visible_after_s << " s after its 202";
  EXPECT_FALSE(row["last_seen"].is_null());

  // Refused before the queue, counted in the partner's series through the edge's hook.
  std::string forged = testing::SignedPost("p000", testing::StripeBody("ch_forged"));
  forged.replace(forged.find("v1=") + 3, 4, "0000");
  auto unauthorized = testing::RoundTrip(port_, forged);
  ASSERT_TRUE(unauthorized);
  EXPECT_EQ(unauthorized->status, 401);
  const std::string big_body = testing::StripeBody("ch_big" + std::string(4000, 'x'));
  auto too_large =
      testing::RoundTrip(port_, testing::BuildRequest("POST", "/v1/webhooks/p000",
                                                      testing::StripeHeaders(big_body), big_body));
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  ASSERT_EQ(Post("p002", "ch_a"), 202);  // the burst of one
  EXPECT_EQ(Post("p002", "ch_b"), 429);
  EXPECT_EQ(Post("p002", "ch_c"), 429);
  EXPECT_EQ(ErrorsInLastMinute("p000", "bad_signature"), 1u);
  EXPECT_EQ(ErrorsInLastMinute("p000", "oversize"), 1u);
  EXPECT_EQ(ErrorsInLastMinute("p002", "rate_limited"), 2u);
  EXPECT_EQ(ErrorsInLastMinute("p001", "rate_limited"), 0u);
  const json p000 = PartnerRow("p000");
  EXPECT_EQ(p000["events_total"], 0);  // nothing of p000 reached the queue

  EXPECT_EQ(testing::HttpGet(port_, "/").status, 200);
  const testing::HttpAnswer dashboard_js = testing::HttpGet(port_, "/dashboard/chart.min.js");
  EXPECT_EQ(dashboard_js.status, 200);

  // /metrics, as Prometheus scrapes it, judged by promtool (Debian's prometheus package).
  std::this_thread::sleep_for(milliseconds(1100));  // one ops tick sets the per-partner gauges
  const testing::HttpAnswer metrics = testing::HttpGet(port_, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (std::string_view series :
       {"firehose_received_total{stage=\"ops\",partner=\"p001\"} 1",
        "firehose_rejected_total{stage=\"edge\",partner=\"p002\",reason=\"rate_limited\"} 2",
        "firehose_edge_request_seconds_bucket{", "firehose_consumer_lag_records{consumer=\"ops\"}",
        "firehose_consumer_lag_records{consumer=\"lake\"}", "firehose_queue_bytes",
        "firehose_ops_partner_events_per_second{partner=\"p001\"}"}) {
    EXPECT_NE(metrics.body.find(series), std::string::npos) << series;
  }
  if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
    std::ofstream(dir_.path() / "metrics.txt") << metrics.body;
    const std::string command = "promtool check metrics < " +
                                (dir_.path() / "metrics.txt").string() + " > " +
                                (dir_.path() / "promtool.txt").string() + " 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream report_file(dir_.path() / "promtool.txt");
    const std::string report((std::istreambuf_iterator<char>(report_file)), {});
    EXPECT_EQ(WEXITSTATUS(status), 0) << report;
  } else {
    ADD_FAILURE() << "promtool is missing (Debian package prometheus; scripts/deps.sh)";
  }

  firehose.Kill(SIGTERM);
  ASSERT_EQ(firehose.Wait(seconds(20)), 0) << LogText();
  EXPECT_NE(LogText().find("ops dashboard on http://"), std::string::npos);
  // The ops consumer committed everything it read before exiting (p001's and p002's arrivals).
  auto cursor = OpsCursor();
  ASSERT_TRUE(cursor) << "no durable ops consumer";
  EXPECT_EQ(cursor->committed_next.value(), 2u);
  EXPECT_EQ(cursor->lag_records, 0u);

  // `firehose land` hosts no ops: it releases the ops cursor, which nothing would advance.
  testing::ChildProcess land;
  ASSERT_TRUE(land.Start({FIREHOSE_BINARY, "--config", config_path_.string(), "land"}, {},
                         dir_.path() / "firehose.log"));
  const auto land_deadline = Clock::now() + seconds(20);
  while (LogText().find("firehose land running") == std::string::npos &&
         Clock::now() < land_deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  land.Kill(SIGTERM);
  ASSERT_EQ(land.Wait(seconds(20)), 0) << LogText();
  EXPECT_NE(LogText().find("queue: dropped consumer ops"), std::string::npos) << LogText();
  EXPECT_FALSE(OpsCursor()) << "the ops cursor still holds retention";

  // `firehose ops`: the ops view alone (no webhook route), rebuilt from the stored queue.
  testing::ChildProcess ops_only;
  StartFirehose(ops_only, "ops");
  const auto ops_deadline = Clock::now() + seconds(5);
  while (PartnerRow("p001")["events_total"] != 1 && Clock::now() < ops_deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(PartnerRow("p001")["events_total"], 1);
  EXPECT_EQ(GetJson("/api/ops/partners")["partners_total"], 3);
  EXPECT_EQ(Post("p001", "ch_2"), 404) << "the ops role serves no webhooks";
  EXPECT_EQ(testing::HttpGet(port_, "/").status, 200);
  ops_only.Kill(SIGTERM);
  EXPECT_EQ(ops_only.Wait(seconds(20)), 0) << LogText();
}

// An error-rate alert reaches a real local HTTP receiver within 5 s of the first failure, stays
// firing (no flapping) while the rate oscillates around its threshold, and resolves after
// recovery; a partner expected every 2 s that sends nothing raises its silence alert.
TEST_F(OpsRunTest, AlertsReachARealReceiverWithoutFlappingThroughTheRealBinary) {
  AlertReceiver receiver;
  WriteConfig(2,
              R"(
[[ops.alerts]]
name = "p000-errors"
kind = "error_rate"
partners = ["p000"]
threshold = 50
resolve_threshold = 25
window_s = 3
min_events = 10
for_s = 1
resolve_hold_s = 2

[[ops.destinations]]
url = ")" + receiver.url() +
                  R"("
backoff_initial_ms = 100
)",
              [](std::string& text) {
                const std::size_t p001 = text.find("id = \"p001\"");
                const std::size_t rate = text.find("rate_limit_rps = 0", p001);
                text.insert(rate, "silence_alert_s = 2\n");
              });
  testing::ChildProcess firehose;
  const auto started = Clock::now();
  StartFirehose(firehose, "run");

  // p000 sends about 40 webhooks a second; failure_per_mille_ of them fail.
  std::atomic<int> failure_per_mille{0};
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::thread sender([&] {
    for (int i = 0; !stop.load(); ++i) {
      const bool fail = (i * 37 % 1000) < failure_per_mille.load();
      if (Post("p000", "ch_" + std::to_string(i), fail ? "failed" : "succeeded") != 202) ++refused;
      std::this_thread::sleep_for(milliseconds(25));
    }
  });
  auto phase = [&](int per_mille, milliseconds duration) {
    failure_per_mille.store(per_mille);
    std::this_thread::sleep_for(duration);
  };

  phase(0, seconds(3));
  EXPECT_EQ(receiver.Count("firing", "p000-errors", "p000"), 0) << "no alert while all succeed";

  // The silent partner: p001 has sent nothing for longer than its silence_alert_s.
  const auto silent = receiver.WaitFor("firing", "partner_silent", "p001", seconds(5));
  ASSERT_TRUE(silent) << "no silence alert";
  EXPECT_LT(std::chrono::duration<double>(*silent - started).count(), 10.0);

  // Breach: every transaction fails.
  failure_per_mille.store(1000);
  const auto breach = Clock::now();
  const auto fired = receiver.WaitFor("firing", "p000-errors", "p000", seconds(10));
  ASSERT_TRUE(fired) << "no firing notification";
  const double alert_latency_s = std::chrono::duration<double>(*fired - breach).count();
  EXPECT_LT(alert_latency_s, 5.0) << "fired " << alert_latency_s << " s after the breach";
  json alerts = GetJson("/api/ops/alerts");
  bool active = false;
  for (const json& alert : alerts["active"]) {
    active |= alert["rule"] == "p000-errors" && alert["state"] == "firing";
  }
  EXPECT_TRUE(active) << alerts.dump();

  // Oscillating around the threshold (40% / 60% every 0.5 s, never below the resolve
  // threshold): it stays firing, nothing resolves, nothing fires again.
  for (int i = 0; i < 10; ++i) phase(i % 2 == 0 ? 400 : 600, milliseconds(500));
  EXPECT_EQ(receiver.Count("resolved", "p000-errors", "p000"), 0) << "flapped";

  // Recovery: resolves after the window empties of failures and the hold time.
  failure_per_mille.store(0);
  EXPECT_TRUE(receiver.WaitFor("resolved", "p000-errors", "p000", seconds(12))) << "never resolved";
  EXPECT_EQ(receiver.Count("firing", "p000-errors", "p000"), 1);

  // The silent partner sends: its alert resolves.
  ASSERT_EQ(Post("p001", "ch_back"), 202);
  EXPECT_TRUE(receiver.WaitFor("resolved", "partner_silent", "p001", seconds(5)));

  stop.store(true);
  sender.join();
  EXPECT_EQ(refused.load(), 0);
  alerts = GetJson("/api/ops/alerts");
  EXPECT_TRUE(alerts["active"].empty()) << alerts.dump();
  firehose.Kill(SIGTERM);
  EXPECT_EQ(firehose.Wait(seconds(20)), 0) << LogText();
}

}  // namespace
}  // namespace firehose
