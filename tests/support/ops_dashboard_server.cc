// A self-contained ops server for browser tests and for looking at the dashboard: the embedded
// log in a temp dir, the ops service and the edge on 127.0.0.1, and a synthetic traffic mix
// appended straight to the queue (so the real consumer path counts it) plus edge-style
// rejections through the webhook observer.
//
//   ops_dashboard_server [--partners N] [--seconds S] [--rate EVENTS_PER_S]
// Prints "listening on http://127.0.0.1:<port>" once serving, stops after S seconds (default
// 120) or when its stdin closes. Partner p000 fails 40% of its transactions, p001 replays
// duplicates, p002 has bad signatures, p003 is silent (expected every 3 s: "down").
//
// Which partner each arrival goes to is random (seeded); which arrivals fail is counted per
// partner, so that every error rate stays where the browser test expects it at every moment:
// p000 at 40% or more, p002 at most a third rejected plus 2% failed, every other partner at
// most 2%. Drawn at random, a tail partner with two arrivals, one of them failed, outranked
// p000 on the error-rate sort (the test failed one run in three).
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "edge/edge_server.h"
#include "ops/ops_service.h"
#include "queue/embedded_log.h"
#include "support/ops_fixtures.h"

namespace {

using namespace firehose;

int Flag(int argc, char** argv, std::string_view name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

bool StdinClosed() {
  pollfd fd{STDIN_FILENO, POLLIN, 0};
  if (poll(&fd, 1, 0) <= 0) return false;
  char byte;
  return (fd.revents & (POLLHUP | POLLERR)) != 0 || read(STDIN_FILENO, &byte, 1) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int partners = std::max(4, Flag(argc, argv, "--partners", 60));
  const int seconds = Flag(argc, argv, "--seconds", 120);
  const int rate = std::max(1, Flag(argc, argv, "--rate", 400));

  char pattern[] = "/tmp/firehose-ops-dashboard-XXXXXX";
  if (mkdtemp(pattern) == nullptr) return 3;
  const std::filesystem::path dir = pattern;
  Config config = testing::OpsTestConfig(
      partners,
      "\n[[ops.alerts]]\nname = \"high-error-rate\"\nkind = \"error_rate\"\n"
      "threshold = 20\nwindow_s = 30\nmin_events = 20\nfor_s = 2\n"
      "\n[[ops.alerts]]\nname = \"replay-flood\"\nkind = \"duplicate_rate\"\n"
      "threshold = 30\nwindow_s = 30\nmin_events = 20\n");
  config.data_dir = dir;
  config.partners[3].silence_alert_s = 3;
  auto log = EmbeddedLog::Open(dir / "queue", config.limits);
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    return 3;
  }
  ops::OpsService ops(config, **log);
  edge::EdgeServer edge(config, **log, ops.webhook_observer());
  ops.AddRoutes(edge.http());
  if (!edge.Start().ok() || !ops.Start().ok()) return 3;
  std::printf("listening on http://127.0.0.1:%u\n", edge.port());
  std::fflush(stdout);

  std::mt19937_64 random(42);
  std::atomic<int> outstanding{0};
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t serial = 0;
  std::vector<std::uint64_t> arrivals(static_cast<std::size_t>(partners), 0);  // per partner
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(seconds) &&
         !StdinClosed()) {
    // One tick of 100 ms: rate/10 arrivals, Zipf-like over partners (p003 stays silent).
    for (int i = 0; i < rate / 10; ++i) {
      int partner = static_cast<int>(std::pow(random() % 10000 / 10000.0, 2.5) * partners);
      if (partner == 3) partner = 4;
      const std::string id = testing::OpsPartnerId(partner);
      const std::uint64_t nth = arrivals[static_cast<std::size_t>(partner)]++;
      // p000: its 1st-4th of every 10 (at least 40% at any moment); others: every 50th.
      const bool fail = partner == 0 ? nth % 10 < 4 : nth % 50 == 49;
      const std::string txn = partner == 1 && random() % 2 == 0
                                  ? "ch_replay_" + std::to_string(random() % 50)
                                  : "ch_" + std::to_string(++serial);
      if (partner == 2 && nth % 3 == 2) {  // every 3rd: at most a third at any moment
        ops.webhook_observer()->OnRejected(id, "signature_no_match");
        continue;
      }
      outstanding.fetch_add(1);
      (*log)->Append(
          testing::MakeRecord(id,
                              testing::StripeBody(txn, fail ? "failed" : "succeeded",
                                                  static_cast<std::int64_t>(random() % 50000)),
                              NowUs()),
          [&outstanding](Result<QueueOffset>) { outstanding.fetch_sub(1); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  edge.Stop(std::chrono::milliseconds(200));
  ops.Stop();
  (*log)->Shutdown();
  while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
