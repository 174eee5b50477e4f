// lake_land_child: the lake consumer over the real embedded log, as its own process, so that a
// test can SIGKILL it anywhere.
//
//   lake_land_child CONFIG [--exit-when-caught-up]
//
// Opens <data_dir>/queue and runs the lake consumer loop. SIGTERM stops it cleanly (publishes
// the open range, commits). With --exit-when-caught-up it stops by itself once the "lake"
// consumer has no lag left, i.e. every durable record is published and committed.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/config.h"
#include "core/log.h"
#include "lake/lake_consumer.h"
#include "queue/embedded_log.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

std::uint64_t LakeLag(const firehose::Queue& queue) {
  for (const firehose::ConsumerStats& consumer : queue.Stats().consumers) {
    if (consumer.name == "lake") return consumer.lag_records;
  }
  return UINT64_MAX;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace firehose;
  if (argc < 2) {
    std::fprintf(stderr, "usage: lake_land_child CONFIG [--exit-when-caught-up]\n");
    return 2;
  }
  const bool exit_when_caught_up = argc > 2 && std::strcmp(argv[2], "--exit-when-caught-up") == 0;
  InitLogging("error");
  ::signal(SIGTERM, OnSignal);
  Result<Config> config = LoadConfigOrStatus(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "lake_land_child: %s\n", config.status().ToString().c_str());
    return 3;
  }
  auto log = EmbeddedLog::Open(config->data_dir / "queue", config->limits);
  if (!log.ok()) {
    std::fprintf(stderr, "lake_land_child: %s\n", log.status().ToString().c_str());
    return 3;
  }
  auto consumer = (*log)->OpenConsumer("lake");
  if (!consumer.ok()) {
    std::fprintf(stderr, "lake_land_child: %s\n", consumer.status().ToString().c_str());
    return 3;
  }
  std::thread watcher;
  if (exit_when_caught_up) {
    watcher = std::thread([&log] {
      while (!g_stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (LakeLag(**log) == 0) g_stop.store(true);
      }
    });
  }
  lake::LakeConsumerOptions options;
  options.idle_wait = std::chrono::milliseconds(20);
  const Status status = lake::RunLakeConsumer(*config, **consumer, g_stop, options);
  g_stop.store(true);
  if (watcher.joinable()) watcher.join();
  if (!status.ok()) {
    std::fprintf(stderr, "lake_land_child: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
