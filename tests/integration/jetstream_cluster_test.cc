// Scale-out on JetStream with real processes: a 3-node nats-server cluster (routes on loopback,
// an R3 file-storage stream), 2 `firehose ingest` gateways and 2 `firehose land` writers for one
// lake on shared storage, under simulator load (two senders, one per gateway, retrying like real
// partners). Mid-load one nats node is SIGKILLed and restarted, one gateway is SIGKILLed and
// restarted, and the lake writer holding the lease is SIGKILLed (the standby takes over) and
// restarted. Afterwards every arrival that got a 2xx is in the lake exactly once, nothing is
// landed twice, and `firehose lake verify` passes.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "core/time.h"
#include "queue/jetstream_queue.h"
#include "sim/fleet.h"
#include "sim/generator.h"
#include "sim/sender.h"
#include "support/lake_contents.h"
#include "support/nats_server.h"
#include "support/process.h"

namespace firehose {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::LakeContents;
using testing::NatsCluster;
using testing::ReadLake;
using testing::TempDir;

// The scale-out part of every process's config: the cluster, an R3 stream, one lake writer id
// shared by both land processes (the lease picks the one that writes), short timings.
std::string ScaleOutToml(const std::vector<std::string>& urls) {
  std::string text =
      "\n[queue]\nbackend = \"jetstream\"\nstream = \"FIREHOSE\"\nreplicas = 3\nnats_urls = [";
  for (std::size_t i = 0; i < urls.size(); ++i) text += (i ? ", \"" : "\"") + urls[i] + "\"";
  text +=
      "]\n\n[lake]\nwriter_id = \"w0\"\n\n[limits]\nlake_roll_age_ms = 200\n"
      "jetstream_ack_timeout_ms = 2000\njetstream_ack_wait_ms = 5000\n"
      "jetstream_lease_ms = 2000\n";
  return text;
}

// The index of the node that leads `stream` (its name is "n<index>"); -1 if unknown.
int StreamLeader(const std::string& url, const std::string& stream) {
  natsConnection* connection = nullptr;
  if (natsConnection_ConnectTo(&connection, url.c_str()) != NATS_OK) return -1;
  int leader = -1;
  jsCtx* js = nullptr;
  jsStreamInfo* info = nullptr;
  if (natsConnection_JetStream(&js, connection, nullptr) == NATS_OK &&
      js_GetStreamInfo(&info, js, stream.c_str(), nullptr, nullptr) == NATS_OK &&
      info->Cluster != nullptr && info->Cluster->Leader != nullptr &&
      info->Cluster->Leader[0] == 'n') {
    leader = std::atoi(info->Cluster->Leader + 1);
  }
  jsStreamInfo_Destroy(info);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return leader;
}

// Lease takeovers (an expired lease taken, not a clean handover) logged by either land process.
int Takeovers(const std::filesystem::path& dir) {
  return testing::LinesContaining(dir / "land0.log", "taken over from") +
         testing::LinesContaining(dir / "land1.log", "taken over from");
}

class Role {
 public:
  Role(std::string name, std::vector<std::string> argv, std::filesystem::path log)
      : name_(std::move(name)), argv_(std::move(argv)), log_(std::move(log)) {}
  bool Start() {
    ++starts_;
    return process_.Start(argv_, {}, log_);
  }
  // Until the process started last logs that it runs (each start appends the line to the same
  // log): a stop signal before then would find it still starting.
  bool WaitUntilRunning(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      std::ifstream log(log_);
      int running = 0;
      for (std::string line; std::getline(log, line);) {
        if (line.find(" running; data in ") != std::string::npos) ++running;
      }
      if (running >= starts_) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ChildProcess& process() { return process_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::vector<std::string> argv_;
  std::filesystem::path log_;
  ChildProcess process_;
  int starts_ = 0;
};

// Which land process holds the lake lease now, from their logs: each logs "lease lake-w0: held
// by <itself>" when it takes the lease (the standby logs "held by <other>; standing by") and
// "lease ...: lost" / "lost its lease" when it loses it. The lease may already have changed hands
// (a renewal cut off while the stream's leader was killed): the latest taking that was not
// followed by a loss wins. A holder whose renewals failed until the lease ran out does not log
// a loss; it logs "standing by" once it sees the other's holding, and that ends its own.
// -1 while neither holds it. Lines start with their ISO 8601 timestamp, which sorts as text.
int LeaseHolder(const std::filesystem::path& dir) {
  int holder = -1;
  std::string holder_since;
  for (int i = 0; i < 2; ++i) {
    std::ifstream log(dir / ("land" + std::to_string(i) + ".log"));
    std::string line;
    std::optional<std::string> taken_at;  // the log line's timestamp prefix
    while (std::getline(log, line)) {
      if (line.find(": held by") != std::string::npos &&
          line.find("standing by") == std::string::npos) {
        taken_at = line.substr(0, line.find(' '));
      } else if (line.find(": lost (") != std::string::npos ||
                 line.find("lost its lease") != std::string::npos ||
                 line.find("; standing by") != std::string::npos) {
        taken_at.reset();
      }
    }
    if (taken_at && (holder < 0 || *taken_at > holder_since)) {
      holder = i;
      holder_since = *taken_at;
    }
  }
  return holder;
}

TEST(JetStreamCluster, EveryAcknowledgedArrivalLandsExactlyOnceThroughNodeGatewayAndWriterKills) {
  if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
  TempDir dir;
  NatsCluster nats;
  ASSERT_TRUE(nats.Start(dir.path() / "nats", 3)) << "a 3-node nats cluster did not start";

  auto fleet = sim::MakeFleet({9, 7});
  ASSERT_TRUE(fleet.ok());
  const std::uint16_t ports[2] = {testing::FreePort(), testing::FreePort()};
  sim::ConfigFileOptions file_options;
  file_options.port = ports[0];
  ASSERT_TRUE(sim::WriteConfigDirectory(*fleet, file_options, dir.path()).ok());
  const std::string scale_out = ScaleOutToml(nats.Urls());
  std::vector<std::filesystem::path> gateway_configs;
  for (int i = 0; i < 2; ++i) {
    file_options.port = ports[i];
    gateway_configs.push_back(dir.path() / ("gateway" + std::to_string(i) + ".toml"));
    std::ofstream(gateway_configs.back()) << sim::ConfigText(*fleet, file_options) << scale_out;
    std::filesystem::permissions(gateway_configs.back(), std::filesystem::perms::owner_read |
                                                             std::filesystem::perms::owner_write);
  }
  std::vector<std::unique_ptr<Role>> gateways;
  std::vector<std::unique_ptr<Role>> lands;
  for (int i = 0; i < 2; ++i) {
    const std::string index = std::to_string(i);
    gateways.push_back(
        std::make_unique<Role>("gateway" + index,
                               std::vector<std::string>{FIREHOSE_BINARY, "ingest", "--config",
                                                        gateway_configs[i].string()},
                               dir.path() / ("gateway" + index + ".log")));
    lands.push_back(std::make_unique<Role>(
        "land" + index,
        std::vector<std::string>{FIREHOSE_BINARY, "land", "--config", gateway_configs[i].string()},
        dir.path() / ("land" + index + ".log")));
  }
  for (auto& gateway : gateways) ASSERT_TRUE(gateway->Start());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(testing::WaitForHttp(ports[i], "/healthz", 200, 30s)) << "gateway " << i;
  }
  for (auto& land : lands) ASSERT_TRUE(land->Start());

  sim::GeneratorOptions generator;
  generator.transactions = 2500;
  generator.day = BusinessCalendar().DateOf(NowUs());
  std::vector<sim::Plan> plans;
  for (int i = 0; i < 2; ++i) {
    generator.seed = 21 + static_cast<std::uint64_t>(i);
    auto plan = sim::GeneratePlan(*fleet, generator);
    ASSERT_TRUE(plan.ok());
    plans.push_back(std::move(plan).value());
  }
  std::vector<Result<sim::SendReport>> reports(2, Internal("not sent"));
  std::vector<std::thread> senders;
  // A failed assertion returns early: the senders are joined, not left to std::terminate.
  struct JoinAll {
    std::vector<std::thread>& threads;
    ~JoinAll() {
      for (std::thread& thread : threads) {
        if (thread.joinable()) thread.join();
      }
    }
  } join_senders{senders};
  for (int i = 0; i < 2; ++i) {
    senders.emplace_back([&, i] {
      sim::SenderOptions sender;
      sender.target = "http://127.0.0.1:" + std::to_string(ports[i]);
      sender.concurrency = 8;
      sender.requests_per_second = 600;  // spread the load over the kills
      sender.timeout_ms = 5000;
      sender.backoff_initial_ms = 50;
      sender.backoff_max_ms = 500;
      sender.give_up_after_s = 120;
      sender.seed = 3 + static_cast<std::uint64_t>(i);
      reports[static_cast<std::size_t>(i)] =
          sim::SendPlan(*fleet, plans[static_cast<std::size_t>(i)], sender);
    });
  }

  // The node leading the stream dies under load (the clients on it reconnect to the others,
  // the other two elect a leader and keep the quorum) and comes back.
  std::this_thread::sleep_for(1500ms);
  const int leader = StreamLeader(nats.Urls().front(), "FIREHOSE");
  ASSERT_GE(leader, 0) << "no stream leader";
  nats.Kill(leader, SIGKILL);
  std::this_thread::sleep_for(1500ms);
  ASSERT_TRUE(nats.Restart(leader));
  // A gateway dies with requests in flight, and comes back on the same port.
  std::this_thread::sleep_for(700ms);
  gateways[0]->process().Kill(SIGKILL);
  ASSERT_TRUE(gateways[0]->Start());
  ASSERT_TRUE(testing::WaitForHttp(ports[0], "/healthz", 200, 30s));
  // The lake writer holding the lease dies; the standby takes over after the lease runs out.
  std::this_thread::sleep_for(500ms);
  // Under a sanitizer or a loaded machine the writers may still be taking the lease: wait.
  int holder = LeaseHolder(dir.path());
  for (const auto deadline = std::chrono::steady_clock::now() + 30s;
       holder < 0 && std::chrono::steady_clock::now() < deadline;
       holder = LeaseHolder(dir.path())) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(holder, 0) << "no land process holds the lease";
  const int takeovers_before = Takeovers(dir.path());
  lands[static_cast<std::size_t>(holder)]->process().Kill(SIGKILL);
  ASSERT_TRUE(lands[static_cast<std::size_t>(holder)]->Start());

  for (auto& sender : senders) sender.join();
  // A land process takes the lease over from the killed writer (not a clean handover) once the
  // lease ran out: the standby, or the killed one restarted if it comes back first (seen under
  // ASan: the standby was still waiting for a slow stream-info answer). The lake must not wait
  // for the senders to finish.
  bool taken_over = false;
  for (int i = 0; i < 200 && !taken_over; ++i) {
    taken_over = Takeovers(dir.path()) > takeovers_before;
    if (!taken_over) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(taken_over) << "no land process took over the expired lease";
  std::int64_t acknowledged = 0;
  std::int64_t retries = 0;
  for (const auto& report : reports) {
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->failed, 0);
    EXPECT_EQ(report->unexpected, 0);
    retries += report->retries;
  }

  // Wait until the lake has published everything in the stream: the `lake` consumer's cursor
  // (committed after each publication) reaches the end of the stream.
  QueueConfig observer;
  observer.backend = QueueBackend::kJetStream;
  observer.nats_urls = nats.Urls();
  observer.stream = "FIREHOSE";
  observer.consumers = {};
  auto queue = JetStreamQueue::Open(observer, Limits{});
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  bool caught_up = false;
  for (int i = 0; i < 600 && !caught_up; ++i) {
    const QueueStats stats = (*queue)->Stats();
    for (const ConsumerStats& consumer : stats.consumers) {
      if (consumer.name == "lake" && consumer.lag_records == 0 && stats.next_offset.value() > 1)
        caught_up = true;
    }
    if (!caught_up) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(caught_up) << "the lake did not catch up with the stream";
  (*queue)->Shutdown();

  // A land process restarted late (after the kill above) may still be starting: seen under ASan,
  // the SIGTERM reached the restarted writer before it had logged anything.
  for (auto& land : lands) EXPECT_TRUE(land->WaitUntilRunning(60s)) << land->name();
  for (auto& gateway : gateways) gateway->process().Kill(SIGTERM);
  for (auto& land : lands) land->process().Kill(SIGTERM);
  for (auto& gateway : gateways) EXPECT_EQ(gateway->process().Wait(60s), 0) << gateway->name();
  for (auto& land : lands) EXPECT_EQ(land->process().Wait(60s), 0) << land->name();

  const std::filesystem::path data_dir = dir.path() / "data";
  const LakeContents lake = ReadLake(data_dir);
  for (std::size_t p = 0; p < plans.size(); ++p) {
    const sim::Plan& plan = plans[p];
    const sim::SendReport& report = *reports[p];
    for (std::size_t i = 0; i < plan.sends.size(); ++i) {
      const sim::SendResult& result = report.results[i];
      if (result.outcome != sim::Outcome::kAcknowledged) continue;
      ++acknowledged;
      const sim::ExpectedAnswer expected = sim::Expect(plan, i);
      const auto raw = lake.raw_by_arrival.find(result.arrival_id);
      const auto quarantined = lake.quarantine_by_arrival.find(result.arrival_id);
      const std::size_t raw_lines = raw == lake.raw_by_arrival.end() ? 0 : raw->second.size();
      const std::size_t quarantine_lines =
          quarantined == lake.quarantine_by_arrival.end() ? 0 : quarantined->second.size();
      EXPECT_EQ(raw_lines, expected.events) << "arrival " << result.arrival_id;
      EXPECT_EQ(quarantine_lines, expected.quarantine_reasons.size())
          << "arrival " << result.arrival_id;
    }
  }
  EXPECT_GT(acknowledged, 2000);
  EXPECT_GT(retries, 0) << "the kills should have cost some sends a retry";
  std::string answers;
  for (const auto& report : reports) {
    for (const auto& [answer, count] : report->answers)
      answers += " " + answer + ":" + std::to_string(count);
  }
  std::printf("acknowledged %lld sends (%lld retries; answers%s), %zu arrivals in the lake\n",
              static_cast<long long>(acknowledged), static_cast<long long>(retries),
              answers.c_str(), lake.raw_by_arrival.size() + lake.quarantine_by_arrival.size());
  for (const auto& [arrival, indexes] : lake.raw_by_arrival) {
    EXPECT_EQ(std::set<std::int64_t>(indexes.begin(), indexes.end()).size(), indexes.size())
        << "arrival " << arrival << " landed twice";
  }
  for (const auto& [arrival, indexes] : lake.quarantine_by_arrival) {
    EXPECT_EQ(std::set<std::int64_t>(indexes.begin(), indexes.end()).size(), indexes.size())
        << "quarantined arrival " << arrival << " landed twice";
  }
  std::string verify_output;
  EXPECT_EQ(
      testing::RunCommand({FIREHOSE_BINARY, "lake", "verify", "--data-dir", data_dir.string()},
                          &verify_output),
      0)
      << verify_output;
}

}  // namespace
}  // namespace firehose
