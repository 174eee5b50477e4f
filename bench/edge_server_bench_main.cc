// The webhook edge for load tests (bench/ingest_vs_nginx.sh), until `firehose ingest` exists:
// an EdgeServer appending to an EmbeddedLog in a data directory, with two Stripe-signed
// partners: "acme" (one event per body) and "batcher" (events in an array under /events).
//
//   edge_bench_server serve [--port 0] [--threads 2] [--queue log|discard|jetstream]
//                           [--nats URL --stream NAME --replicas N] --data-dir DIR
//       Prints "LISTENING <port>" once it accepts; serves until SIGINT/SIGTERM, then stops
//       gracefully and prints "STATS received=.. accepted=.. rejected=..".
//   edge_bench_server requests --count N --events K --out FILE
//       Writes a Lua table of N signed requests (bodies of K ~600-byte events) for wrk. The
//       signatures are made now, so they verify for the 300 s tolerance: generate right before
//       the run. The server verifies every one for real.
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/time.h"
#include "edge/edge_server.h"
#include "edge/signature.h"
#include "queue/embedded_log.h"
#include "queue/jetstream_queue.h"

namespace firehose::bench {
namespace {

constexpr std::string_view kSecret = "whsec_bench_secret";
constexpr std::size_t kEventBytes = 600;

constexpr std::string_view kConfig = R"(
[mappings.stripe_like]
txn_id = "/data/object/id"
amount = "/data/object/amount"
amount_format = "minor_units"
currency = "/data/object/currency"
status = "/data/object/status"
event_time = "/created"
event_time_format = "unix_s"
[mappings.stripe_like.status_map]
succeeded = "succeeded"
failed = "failed"

[mappings.batch]
batch = "/events"
txn_id = "/id"
amount = "/amount"
currency = "/currency"
status = "/status"
event_time = "/at"
[mappings.batch.status_map]
ok = "succeeded"

[[partners]]
id = "acme"
mode = "webhook"
mapping = "stripe_like"
signature = "stripe"
secrets = ["whsec_bench_secret"]
rate_limit_rps = 0

[[partners]]
id = "batcher"
mode = "webhook"
mapping = "batch"
signature = "stripe"
secrets = ["whsec_bench_secret"]
rate_limit_rps = 0
)";

std::atomic<bool> g_stop{false};

// A diagnostic Queue (`--queue discard`): one thread acknowledges every append at once and
// keeps nothing, so a run measures the edge's own cost (HTTP, signature, mapping, the thread
// hop of a deferred answer) without the disk. Not durable: never for real ingest.
class DiscardQueue final : public Queue {
 public:
  DiscardQueue() : thread_([this] { Run(); }) {}
  ~DiscardQueue() override { Shutdown(); }
  void Append(QueueRecord, AppendCallback done) override {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) {
        pending_.push_back(std::move(done));
        wake_.notify_one();
        return;
      }
    }
    done(Unavailable("queue is shutting down"));
  }
  Result<std::unique_ptr<QueueConsumer>> OpenConsumer(std::string_view) override {
    return FailedPrecondition("the discard queue has no consumers");
  }
  QueueStats Stats() const override { return {}; }
  bool Full() const override { return false; }
  void Shutdown() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::uint64_t next_offset = 0;
    for (;;) {
      std::vector<AppendCallback> batch;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;
        batch.swap(pending_);
      }
      for (AppendCallback& done : batch) done(QueueOffset(next_offset++));
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<AppendCallback> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

// A Stripe-like event padded to exactly kEventBytes with its description.
std::string SingleEvent(int index, std::int64_t created_s) {
  std::string event = fmt::format(
      R"({{"id":"evt_{0:08d}","object":"event","created":{1},"type":"payment_intent.succeeded",)"
      R"("data":{{"object":{{"id":"pi_{0:08d}","amount":{2},"currency":"usd","status":"succeeded",)"
      R"("description":")",
      index, created_s, 1000 + index % 9000);
  const std::string tail = R"("}}})";
  event.append(kEventBytes - event.size() - tail.size(), 'x');
  return event + tail;
}

// A flat batch element padded to exactly kEventBytes.
std::string BatchElement(int index) {
  std::string element =
      fmt::format(R"({{"id":"txn_{:08d}","amount":"{}.{:02d}","currency":"EUR","status":"ok",)"
                  R"("at":"2026-11-27T10:00:00Z","note":")",
                  index, 10 + index % 90, index % 100);
  const std::string tail = R"("})";
  element.append(kEventBytes - element.size() - tail.size(), 'n');
  return element + tail;
}

int WriteRequests(int count, int events, const std::string& out_path) {
  const std::int64_t now_s = NowUs().value() / 1'000'000;
  std::ofstream out(out_path);
  out << "-- generated by edge_bench_server requests; signatures made at " << now_s << "\n";
  out << "return {\n  path = \"/v1/webhooks/" << (events > 1 ? "batcher" : "acme") << "\",\n";
  out << "  events = " << events << ",\n  requests = {\n";
  int next_event = 0;
  std::size_t body_bytes = 0;
  for (int i = 0; i < count; ++i) {
    std::string body;
    if (events <= 1) {
      body = SingleEvent(next_event++, now_s);
    } else {
      body = R"({"events":[)";
      for (int e = 0; e < events; ++e) {
        if (e > 0) body += ",";
        body += BatchElement(next_event++);
      }
      body += "]}";
    }
    body_bytes = body.size();
    out << "    {sig = \"" << edge::SignStripe(kSecret, now_s, body) << "\", body = [==[" << body
        << "]==]},\n";
  }
  out << "  },\n}\n";
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", out_path.c_str());
    return 3;
  }
  std::printf("wrote %d requests of %zu bytes to %s\n", count, body_bytes, out_path.c_str());
  return 0;
}

struct JetStreamOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string stream = "BENCH";
  int replicas = 1;
};

// `limits` are "name=value" lines for the config's [limits] table (A/B runs of one limit).
int Serve(std::uint16_t port, int threads, const std::string& data_dir,
          const std::string& queue_kind, const JetStreamOptions& jetstream,
          const std::vector<std::string>& limits) {
  InitLogging("warn");
  std::string text(kConfig);
  text += "\n[limits]\n";
  for (const std::string& limit : limits) text += limit + "\n";
  ConfigLoad load = ParseConfig(text, data_dir);
  if (!load.config) {
    std::fprintf(stderr, "config: %s\n", load.problems.front().message.c_str());
    return 3;
  }
  Config& config = *load.config;
  config.data_dir = data_dir;
  config.server.listen_port = port;
  config.server.io_threads = threads;
  // As `firehose run` does (cli/platform.cc).
  if (Status retained = RetainFreedHeap(config.limits.heap_retain_bytes); !retained.ok()) {
    std::fprintf(stderr, "%s\n", retained.ToString().c_str());
    return 3;
  }

  std::unique_ptr<Queue> queue;
  if (queue_kind == "discard") {
    queue = std::make_unique<DiscardQueue>();
  } else if (queue_kind == "jetstream") {
    config.queue.backend = QueueBackend::kJetStream;
    config.queue.nats_urls = {jetstream.url};
    config.queue.stream = jetstream.stream;
    config.queue.replicas = jetstream.replicas;
    config.queue.consumers = {};
    auto opened = JetStreamQueue::Open(config.queue, config.limits);
    if (!opened.ok()) {
      std::fprintf(stderr, "queue: %s\n", opened.status().ToString().c_str());
      return 3;
    }
    queue = std::move(*opened);
  } else {
    auto log = EmbeddedLog::Open(std::filesystem::path(data_dir) / "queue", config.limits);
    if (!log.ok()) {
      std::fprintf(stderr, "queue: %s\n", log.status().ToString().c_str());
      return 3;
    }
    queue = std::move(*log);
  }
  edge::EdgeServer server(config, *queue);
  if (Status started = server.Start(); !started.ok()) {
    std::fprintf(stderr, "%s\n", started.ToString().c_str());
    return 3;
  }
  std::printf("LISTENING %u\n", server.port());
  std::fflush(stdout);

  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));

  server.Stop(std::chrono::seconds(2));
  queue->Shutdown();
  const Labels edge = {{"stage", "edge"}};
  const Histogram& fsync = Metrics().HistogramFor("firehose_queue_fsync_seconds");
  // From the handler's start to the 202 handed to the io thread: the durable wait seen by the
  // server, against which wrk's latency shows the time spent outside it.
  const Histogram& accepted =
      Metrics().HistogramFor("firehose_edge_request_seconds", {{"code", "202"}});
  const std::uint64_t fsyncs = Metrics().SumCounters("firehose_queue_fsyncs_total");
  const std::uint64_t appends = Metrics().SumCounters("firehose_queue_appends_total");
  std::printf(
      "STATS received=%lu accepted=%lu rejected=%lu events=%lu fsyncs=%lu appends_per_fsync=%.1f "
      "fsync_p50_ms=%.2f fsync_p99_ms=%.2f accepted_p50_ms=%.2f accepted_p99_ms=%.2f\n",
      Metrics().SumCounters("firehose_received_total", edge),
      Metrics().SumCounters("firehose_accepted_total", edge),
      Metrics().SumCounters("firehose_rejected_total", edge),
      Metrics().SumCounters("firehose_written_events_total", edge), fsyncs,
      fsyncs > 0 ? static_cast<double>(appends) / static_cast<double>(fsyncs) : 0.0,
      fsync.Quantile(0.5) * 1e3, fsync.Quantile(0.99) * 1e3, accepted.Quantile(0.5) * 1e3,
      accepted.Quantile(0.99) * 1e3);
  return 0;
}

}  // namespace
}  // namespace firehose::bench

int main(int argc, char** argv) {
  CLI::App app{"Webhook edge for load tests"};
  app.require_subcommand(1);
  int port = 0;
  int threads = 2;
  std::string data_dir;
  CLI::App* serve = app.add_subcommand("serve", "serve webhooks until SIGINT/SIGTERM");
  serve->add_option("--port", port, "port (0: any free one)");
  serve->add_option("--threads", threads, "io threads");
  serve->add_option("--data-dir", data_dir, "where the embedded log lives")->required();
  std::string queue_kind = "log";
  serve->add_option("--queue", queue_kind,
                    "log (EmbeddedLog), jetstream, or discard (diagnostic, no disk)")
      ->check(CLI::IsMember({"log", "discard", "jetstream"}));
  firehose::bench::JetStreamOptions jetstream;
  serve->add_option("--nats", jetstream.url, "nats url (--queue jetstream)");
  serve->add_option("--stream", jetstream.stream, "stream (--queue jetstream; created if missing)");
  serve->add_option("--replicas", jetstream.replicas, "stream replicas at creation");
  std::vector<std::string> limits;
  serve->add_option("--limit", limits,
                    "name=value for the config's [limits] (repeatable), e.g. group_commit_wait_us=0");
  int count = 1000;
  int events = 1;
  std::string out;
  CLI::App* requests = app.add_subcommand("requests", "write signed requests for wrk");
  requests->add_option("--count", count, "distinct requests");
  requests->add_option("--events", events, "events per body (1: acme, >1: batcher)");
  requests->add_option("--out", out, "Lua file to write")->required();
  CLI11_PARSE(app, argc, argv);
  if (serve->parsed()) {
    return firehose::bench::Serve(static_cast<std::uint16_t>(port), threads, data_dir, queue_kind,
                                  jetstream, limits);
  }
  return firehose::bench::WriteRequests(count, events, out);
}
