// Ops freshness and alert latency under simulator load (issue #4's targets: freshness p99 <= 1 s,
// alert p99 <= 2 s), with everything `firehose run` hosts in one process: the webhook edge on
// 127.0.0.1, the embedded log (fsync'd group commit) in $FIREHOSE_BENCH_DIR or /tmp, and the ops
// service. The simulator (`firehose sim run`'s sender, libcurl) sends its fleet's signed
// webhooks at the asked events/s; meanwhile a probe partner sends one webhook every 50 ms and
//   freshness = time from the probe's 2xx until GET /api/ops/partners?q=probe shows it
// (polled every 2 ms), and every 4 s the probe sends a burst of failing transactions and
//   alert latency = time from the burst's first 2xx until the error-rate alert's "firing"
//   notification reaches a local HTTP receiver
// (the rule: 20% over 3 s, no pending time; the evaluator ticks once a second, so the latency
// is up to 1 s of tick alignment plus delivery).
//
//   ops_freshness_bench --events-per-second 20000 --seconds 20 [--partners 75] [--flood 0]
// --flood N: meanwhile partner "flooder" replays a backlog at N times an average partner's share
// (batches of 50 events over 32 connections, txn ids from a pool of 1,000: nearly all
// duplicates), and the probe
// measures whether the other partners' freshness holds. Prints one JSON line.
#include <CLI/CLI.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/log.h"
#include "edge/edge_server.h"
#include "ops/ops_service.h"
#include "queue/embedded_log.h"
#include "sim/fleet.h"
#include "sim/generator.h"
#include "sim/sender.h"
#include "support/ops_fixtures.h"
#include "support/raw_http.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kFloodBatch = 50;    // events per flood request
constexpr int kFloodThreads = 32;  // flood connections, each waiting for its 2xx

constexpr std::string_view kProbeToml = R"(
[mappings.probe_like]
txn_id = "/data/object/id"
amount = "/data/object/amount"
amount_format = "minor_units"
currency = "/data/object/currency"
status = "/data/object/status"
event_time = "/created"
event_time_format = "unix_s"
[mappings.probe_like.status_map]
succeeded = "succeeded"
failed = "failed"

[[partners]]
id = "probe"
mode = "webhook"
mapping = "probe_like"
signature = "stripe"
secrets = ["whsec_acme_test_secret"]
rate_limit_rps = 0

[mappings.flood_batch]
batch = "/events"
txn_id = "/id"
amount = "/amount"
amount_format = "minor_units"
currency = "/currency"
status = "/status"
event_time = "/at"
event_time_format = "unix_s"
[mappings.flood_batch.status_map]
succeeded = "succeeded"

[[partners]]
id = "flooder"
mode = "webhook"
mapping = "flood_batch"
signature = "stripe"
secrets = ["whsec_acme_test_secret"]
rate_limit_rps = 0

[[ops.alerts]]
name = "probe-errors"
kind = "error_rate"
partners = ["probe"]
threshold = 20
resolve_threshold = 5
window_s = 3
min_events = 5
for_s = 0
resolve_hold_s = 0
)";

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

struct Receiver {
  std::unique_ptr<edge::HttpServer> server;
  std::mutex mutex;
  std::vector<Clock::time_point> fired;
};

int Run(int argc, char** argv) {
  double events_per_second = 20000;
  int seconds = 20;
  int partner_slots = 75;
  double flood = 0;
  int batch_events_max = 100;
  CLI::App app{"ops freshness and alert latency under simulator load"};
  app.add_option("--events-per-second", events_per_second);
  app.add_option("--seconds", seconds);
  app.add_option("--partners", partner_slots, "simulator partner slots");
  app.add_option("--flood", flood, "one partner sends this many times its share");
  app.add_option("--batch-events-max", batch_events_max,
                 "batched partners send 1..this many events per request");
  CLI11_PARSE(app, argc, argv);
  InitLogging("warn");

  const char* parent = std::getenv("FIREHOSE_BENCH_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(parent ? parent : "/tmp") / ("ops-freshness-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  sim::FleetOptions fleet_options;
  fleet_options.partner_slots = partner_slots;
  auto fleet = sim::MakeFleet(fleet_options);
  if (!fleet.ok()) return 3;
  sim::ConfigFileOptions file_options;
  file_options.data_dir = (dir / "data").string();
  if (!sim::WriteConfigDirectory(*fleet, file_options, dir).ok()) return 3;
  {
    std::ofstream config(dir / "firehose.toml", std::ios::app);
    config << kProbeToml;
  }
  std::filesystem::permissions(dir / "firehose.toml", std::filesystem::perms::owner_read |
                                                         std::filesystem::perms::owner_write);
  auto config = LoadConfigOrStatus(dir / "firehose.toml");
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 3;
  }
  // The receiver of alert notifications.
  Receiver receiver;
  edge::HttpServerOptions receiver_options;
  receiver_options.name = "receiver";
  receiver.server = std::make_unique<edge::HttpServer>(receiver_options);
  receiver.server->Handle("POST", "/alerts", [&receiver](edge::HttpRequest request, edge::Responder responder) {
    if (request.body.find("\"status\":\"firing\"") != std::string::npos) {
      std::lock_guard lock(receiver.mutex);
      receiver.fired.push_back(Clock::now());
    }
    responder.Send(edge::JsonResponse(200, "{}"));
  });
  if (!receiver.server->Start().ok()) return 3;
  AlertDestination destination;
  destination.name = "bench";
  destination.url = "http://127.0.0.1:" + std::to_string(receiver.server->port()) + "/alerts";
  config->ops.destinations.push_back(destination);
  config->limits.queue_bytes_max = 64LL << 30;
  config->server.listen_port = 0;

  auto log = EmbeddedLog::Open(config->data_dir / "queue", config->limits);
  if (!log.ok()) return 3;
  ops::OpsService ops(*config, **log);
  edge::EdgeServer edge(*config, **log, ops.webhook_observer());
  ops.AddRoutes(edge.http());
  if (!edge.Start().ok() || !ops.Start().ok()) return 3;
  const std::uint16_t port = edge.port();

  // The simulator's load, in its own thread.
  auto sim_fleet = sim::FleetFromConfig(*config);
  if (!sim_fleet.ok()) return 3;
  std::atomic<bool> stop_flood{false};
  std::atomic<std::uint64_t> flood_events{0};
  std::vector<std::thread> flooders;
  if (flood > 0) {
    const double share = events_per_second / static_cast<double>(sim_fleet->partners.size());
    const double flood_requests_per_s = flood * share / kFloodBatch;
    for (int t = 0; t < kFloodThreads; ++t) {
      flooders.emplace_back([&, t] {
        const auto interval = std::chrono::duration<double>(kFloodThreads / flood_requests_per_s);
        auto next = Clock::now();
        std::uint64_t serial = static_cast<std::uint64_t>(t) * 7919;
        auto client = std::make_unique<testing::RawClient>(port);
        while (!stop_flood.load()) {
          std::string body = "{\"events\":[";
          for (int i = 0; i < kFloodBatch; ++i) {
            body += std::string(i ? "," : "") + "{\"id\":\"bk_" + std::to_string(++serial % 1000) +
                    "\",\"amount\":100,\"currency\":\"USD\",\"status\":\"succeeded\",\"at\":1764201600}";
          }
          body += "]}";
          if (!client->Send(testing::SignedPost("flooder", body)) || !client->Read()) {
            client = std::make_unique<testing::RawClient>(port);
          } else {
            flood_events.fetch_add(kFloodBatch);
          }
          next += std::chrono::duration_cast<Clock::duration>(interval);
          std::this_thread::sleep_until(next);
        }
      });
    }
  }
  sim::GeneratorOptions generator;
  generator.day = BusinessDate::FromCivil(2026, 11, 27);
  generator.transactions = static_cast<std::int64_t>(events_per_second * seconds * 0.8);
  generator.batch_events_max = batch_events_max;
  auto plan = sim::GeneratePlan(*sim_fleet, generator);
  if (!plan.ok()) return 3;
  std::uint64_t plan_events = 0;
  for (const sim::PlannedSend& send : plan->sends) plan_events += send.events.size();
  const double events_per_request =
      static_cast<double>(plan_events) / static_cast<double>(plan->sends.size());
  sim::SenderOptions sender;
  sender.target = "http://127.0.0.1:" + std::to_string(port);
  sender.concurrency = 64;
  sender.requests_per_second = events_per_second / events_per_request;
  std::atomic<bool> load_done{false};
  sim::SendReport report;
  const auto load_started = Clock::now();
  std::thread load([&] {
    auto sent = sim::SendPlan(*sim_fleet, *plan, sender);
    if (sent.ok()) report = std::move(*sent);
    load_done.store(true);
  });

  // The probe.
  std::vector<double> freshness_ms;
  std::vector<double> alert_ms;
  std::uint64_t probe_serial = 0;
  auto probe_events = [&]() -> std::int64_t {
    auto response = testing::RoundTrip(port, testing::BuildRequest("GET", "/api/ops/partners?q=probe"));
    if (!response || response->status != 200) return -1;
    const auto body = nlohmann::json::parse(response->body);
    return body["partners"].empty() ? -1 : body["partners"][0]["events_total"].get<std::int64_t>();
  };
  auto post = [&](std::string_view status) {
    auto response = testing::RoundTrip(
        port, testing::SignedPost("probe", testing::StripeBody("probe_" + std::to_string(++probe_serial), status)));
    return response && response->status == 202;
  };
  auto next_burst = Clock::now() + std::chrono::seconds(4);
  while (!load_done.load()) {
    if (Clock::now() >= next_burst) {
      std::size_t fired_before;
      {
        std::lock_guard lock(receiver.mutex);
        fired_before = receiver.fired.size();
      }
      Clock::time_point first_ok{};
      for (int i = 0; i < 10; ++i) {
        if (post("failed") && first_ok == Clock::time_point{}) first_ok = Clock::now();
      }
      const auto deadline = Clock::now() + std::chrono::seconds(5);
      while (Clock::now() < deadline) {
        std::lock_guard lock(receiver.mutex);
        if (receiver.fired.size() > fired_before) {
          alert_ms.push_back(std::chrono::duration<double, std::milli>(receiver.fired[fired_before] - first_ok).count());
          break;
        }
        receiver.mutex.unlock();
        std::this_thread::sleep_for(milliseconds(2));
        receiver.mutex.lock();
      }
      // Recover: successes until the 3 s window is clean.
      for (int i = 0; i < 60; ++i) {
        post("succeeded");
        std::this_thread::sleep_for(milliseconds(50));
      }
      next_burst = Clock::now() + std::chrono::seconds(1);
      continue;
    }
    const std::int64_t before = probe_events();
    if (!post("succeeded")) continue;
    const auto acknowledged = Clock::now();
    while (Clock::now() - acknowledged < std::chrono::seconds(5)) {
      if (probe_events() > before) break;
      std::this_thread::sleep_for(milliseconds(2));
    }
    freshness_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - acknowledged).count());
    std::this_thread::sleep_for(milliseconds(50));
  }
  load.join();
  stop_flood.store(true);
  for (std::thread& flooder : flooders) flooder.join();
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - load_started).count();
  std::uint64_t lag_max = 0;
  for (const ConsumerStats& consumer : (*log)->Stats().consumers) lag_max = std::max(lag_max, consumer.lag_records);

  nlohmann::json out;
  out["target_events_per_second"] = events_per_second;
  out["achieved_events_per_second"] = static_cast<double>(plan_events) / report.elapsed_s;
  out["achieved_requests_per_second"] = static_cast<double>(report.attempts) / report.elapsed_s;
  out["events_per_request"] = events_per_request;
  out["elapsed_s"] = elapsed_s;
  out["freshness_samples"] = freshness_ms.size();
  out["freshness_p50_ms"] = Percentile(freshness_ms, 0.5);
  out["freshness_p99_ms"] = Percentile(freshness_ms, 0.99);
  out["freshness_max_ms"] = Percentile(freshness_ms, 1.0);
  out["alert_samples"] = alert_ms.size();
  out["alert_p50_ms"] = Percentile(alert_ms, 0.5);
  out["alert_p99_ms"] = Percentile(alert_ms, 0.99);
  out["flood_factor"] = flood;
  out["flood_events_per_second"] = static_cast<double>(flood_events.load()) / elapsed_s;
  out["ops_lag_records_at_end"] = lag_max;
  out["answers"] = report.answers;
  std::printf("%s\n", out.dump().c_str());

  edge.Stop(milliseconds(500));
  ops.Stop();
  (*log)->Shutdown();
  receiver.server->Stop(milliseconds(100));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace firehose

int main(int argc, char** argv) { return firehose::Run(argc, argv); }
