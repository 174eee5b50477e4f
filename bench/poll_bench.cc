// Poll throughput against the simulator's poll server, next to an anchor measured in the same run
// (BASELINES.md: the machine is shared and noisy, so only ratios are claims).
//
//   BM_CurlPages   the anchor: one libcurl easy handle (keep-alive) fetching the same pages in
//                  sequence, following next_cursor, doing nothing with them: what plain curl does.
//   BM_PollPages   the poller over the same feed into the real embedded log: every page parsed,
//                  appended durably (fsync), then its cursor file saved (fsync, rename, fsync).
//   BM_DurableFloor the durability a committed page needs and nothing else: one 4 KiB write +
//                  fdatasync (the queue append) and one WriteFileAtomically (the cursor: write,
//                  fsync, rename, directory fsync), in a loop: the floor the poller's pages/s
//                  cannot pass while it saves a cursor per page.
// All report pages/s of wall time; ratios = poll / curl and poll / floor. Items are ~200-byte JSON objects;
// `page_size` items per page (the argument), one partner (a poller's pages for one partner are
// sequential by design: the next cursor comes from the previous page).
//
// Run: build/release/bin/poll_bench --benchmark_min_time=1 (bench/RESULTS.md "## Poller").
#include <benchmark/benchmark.h>
#include <curl/curl.h>

#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "core/file.h"
#include "poll/poller.h"
#include "queue/open_queue.h"
#include "sim/poll_server.h"
#include "support/poll_harness.h"
#include "support/process.h"

namespace firehose {
namespace {

constexpr std::size_t kItems = 20'000;

std::size_t Discard(char*, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(size * count, '\0');
  return size * count;
}

testing::PollPartnerSpec Spec(std::int64_t page_size) {
  testing::PollPartnerSpec spec;
  spec.id = "bench";
  spec.items = kItems;
  spec.page_size = page_size;
  spec.auth = PollAuthKind::kBearer;
  return spec;
}

void BM_CurlPages(benchmark::State& state) {
  const std::int64_t page_size = state.range(0);
  sim::PollServer server(testing::MakeFeeds({Spec(page_size)}), {});
  if (!server.Start().ok()) state.SkipWithError("server");
  CURL* easy = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Authorization: Bearer secret-bench");
  std::string body;
  std::int64_t pages = 0;
  for (auto _ : state) {
    for (std::size_t position = 0; position < kItems;
         position += static_cast<std::size_t>(page_size)) {
      const std::string url = server.UrlFor(*PartnerId::Parse("bench")) +
                              "?limit=" + std::to_string(page_size) + "&cursor=c" +
                              std::to_string(position);
      body.clear();
      curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, Discard);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
      if (curl_easy_perform(easy) != CURLE_OK) state.SkipWithError("curl");
      ++pages;
    }
  }
  state.counters["pages_per_s"] =
      benchmark::Counter(static_cast<double>(pages), benchmark::Counter::kIsRate);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
}

void BM_PollPages(benchmark::State& state) {
  const std::int64_t page_size = state.range(0);
  std::int64_t pages = 0;
  for (auto _ : state) {
    state.PauseTiming();
    testing::TempDir dir;
    sim::PollServer server(testing::MakeFeeds({Spec(page_size)}), {});
    if (!server.Start().ok()) state.SkipWithError("server");
    auto load = ParseConfig(
        testing::PollConfigText({Spec(page_size)}, server.port(), dir.path() / "data"), dir.path());
    if (!load.config) state.SkipWithError("config");
    auto queue = OpenQueue(*load.config);
    if (!queue.ok()) state.SkipWithError("queue");
    poll::Poller poller(*load.config, **queue);
    state.ResumeTiming();
    if (!poller.Start().ok()) state.SkipWithError("poller");
    for (;;) {
      const auto states = poller.States();
      if (states.front().caught_up && states.front().items_appended >= kItems) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    state.PauseTiming();
    pages += static_cast<std::int64_t>(poller.States().front().pages_committed);
    poller.Stop();
    (*queue)->Shutdown();
    state.ResumeTiming();
  }
  state.counters["pages_per_s"] =
      benchmark::Counter(static_cast<double>(pages), benchmark::Counter::kIsRate);
}

void BM_DurableFloor(benchmark::State& state) {
  testing::TempDir dir;
  auto log = OpenFile(dir.path() / "log", O_WRONLY | O_CREAT | O_APPEND);
  if (!log.ok()) state.SkipWithError("open");
  const std::string record(4096, 'x');
  std::int64_t pages = 0;
  for (auto _ : state) {
    if (!WriteAll(log->get(), record).ok() || !SyncData(log->get()).ok()) state.SkipWithError("log");
    if (!WriteFileAtomically(dir.path() / "bench.cursor", "{\"cursor\":\"c1\"}\n").ok()) {
      state.SkipWithError("cursor");
    }
    ++pages;
  }
  state.counters["pages_per_s"] = benchmark::Counter(static_cast<double>(pages), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_DurableFloor)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CurlPages)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PollPages)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace firehose

BENCHMARK_MAIN();
