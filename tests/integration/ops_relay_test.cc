// The ops error relay over a real nats-server (ops/error_relay.h): ingest errors counted where
// the edge and the poller run reach the ops view in another process.
//   - In-process: the publisher and the subscriber on one server; counts split into small
//     messages, a malformed message on the subject, counts held while the server is down and sent
//     after it is back, counts held past ops_relay_hold_s dropped.
//   - Real processes, as an operator starts them: `firehose ops` and `firehose ingest` on one
//     JetStream stream (the same config but for [server] listen), forged webhooks over HTTP to
//     the gateway, a poll partner whose API is down; the ops API shows the signature failures
//     with their exact count and the poll failures within seconds, and a signature_failures rule
//     fires to a real receiver. And `firehose run` on JetStream (edge and ops in one process)
//     counts its refusals once: directly, without the relay.
// Skipped without nats-server.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ops/error_relay.h"
#include "support/alert_receiver.h"
#include "support/nats_server.h"
#include "support/ops_fixtures.h"
#include "support/process.h"
#include "support/raw_http.h"
#include "support/webhook_fixtures.h"

namespace firehose {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using ops::ErrorRelayPublisher;
using ops::ErrorRelayPublisherOptions;
using ops::ErrorRelaySubscriber;
using ops::IngestError;
using ops::OpsState;
using testing::ChildProcess;
using testing::NatsCluster;
using testing::TempDir;

std::uint64_t RelayCounter(std::string_view family, std::string_view role,
                           std::string_view outcome) {
  return Metrics().SumCounters(family,
                               {{"role", std::string(role)}, {"outcome", std::string(outcome)}});
}

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& condition, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// In-process: the relay's two ends on one real server.

class OpsRelayNatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
    ASSERT_TRUE(nats_.Start(dir_.path() / "nats", 1)) << "nats-server did not start";
    config_ = testing::OpsTestConfig(3);
    config_.queue.backend = QueueBackend::kJetStream;
    config_.queue.nats_urls = nats_.Urls();
    config_.queue.stream = "RELAYTEST";
    state_ = std::make_unique<OpsState>(config_);
  }

  // A publisher that sends only when the test says so (PublishNow).
  std::unique_ptr<ErrorRelayPublisher> StartPublisher() {
    ErrorRelayPublisherOptions options;
    options.sender = "test-ingest:1";
    options.interval = std::chrono::hours(1);
    auto publisher = ErrorRelayPublisher::Start(config_, options);
    EXPECT_TRUE(publisher.ok()) << publisher.status().ToString();
    return publisher.ok() ? std::move(publisher).value() : nullptr;
  }

  std::unique_ptr<ErrorRelaySubscriber> StartSubscriber() {
    auto subscriber = ErrorRelaySubscriber::Start(config_, *state_);
    EXPECT_TRUE(subscriber.ok()) << subscriber.status().ToString();
    return subscriber.ok() ? std::move(subscriber).value() : nullptr;
  }

  std::uint64_t Errors(std::string_view partner, IngestError kind) const {
    return state_->Find(partner)
        ->SumSeconds(state_->NowSeconds(), 600)
        .errors[static_cast<int>(kind)];
  }

  // Publishes raw bytes on the relay's subject from a connection of the test's own.
  void PublishRaw(std::string_view data) {
    natsConnection* connection = nullptr;
    ASSERT_EQ(natsConnection_ConnectTo(&connection, nats_.Urls().front().c_str()), NATS_OK);
    const std::string subject = ops::ErrorRelaySubject(config_.queue.stream);
    EXPECT_EQ(natsConnection_Publish(connection, subject.c_str(), data.data(),
                                     static_cast<int>(data.size())),
              NATS_OK);
    EXPECT_EQ(natsConnection_FlushTimeout(connection, 2000), NATS_OK);
    natsConnection_Destroy(connection);
  }

  // Until the subscriber hears the server again after a restart: probes (an unknown partner's
  // count, nothing else) until one is counted.
  bool SubscriberHearsAgain() {
    const std::string probe =
        ops::EncodeRelayMessages("probe:1", 1, NowUs(),
                                 {{ops::RelaySource::kWebhook, "_unknown", "probe", 1}}, 65536)[0]
            .text;
    for (const auto deadline = Clock::now() + 20s; Clock::now() < deadline;) {
      const std::uint64_t before = state_->unknown_rejections();
      PublishRaw(probe);
      if (Eventually([&] { return state_->unknown_rejections() > before; }, 300ms)) return true;
    }
    return false;
  }

  TempDir dir_;
  NatsCluster nats_;
  Config config_;
  std::unique_ptr<OpsState> state_;
};

TEST_F(OpsRelayNatsTest, CountsCrossTheServerSplitIntoSmallMessages) {
  config_.limits.ops_relay_message_bytes_max = 1024;
  auto subscriber = StartSubscriber();
  auto publisher = StartPublisher();
  ASSERT_TRUE(subscriber && publisher);
  const std::uint64_t published =
      RelayCounter("firehose_ops_relay_messages_total", "ingest", "published");
  const std::uint64_t malformed =
      RelayCounter("firehose_ops_relay_messages_total", "ops", "malformed");

  for (int i = 0; i < 5; ++i) publisher->OnRejected("p000", "signature_no_match");
  publisher->OnRejected("p000", "signature_timestamp_too_old");
  publisher->OnRejected("_unknown", "unknown_partner");
  publisher->OnPollFailure("p001", "connect");
  publisher->OnPollFailure("p001", "http_5xx");
  // 100 distinct reasons for p002 (each counts as "other"): many entries, many messages.
  for (int i = 0; i < 100; ++i) {
    for (int n = 0; n <= i % 3; ++n) publisher->OnRejected("p002", "reason_" + std::to_string(i));
  }
  publisher->PublishNow();

  ASSERT_TRUE(Eventually([&] { return Errors("p002", IngestError::kOther) == 199; }, 5s))
      << Errors("p002", IngestError::kOther);
  EXPECT_EQ(Errors("p000", IngestError::kBadSignature), 6u);
  EXPECT_EQ(Errors("p001", IngestError::kPollFailure), 2u);
  EXPECT_EQ(state_->unknown_rejections(), 1u);
  EXPECT_GT(RelayCounter("firehose_ops_relay_messages_total", "ingest", "published"),
            published + 5)
      << "100+ entries in 1 KiB messages";

  // Garbage on the subject is counted and skipped; the next message still applies.
  PublishRaw("{\"format\":\"firehose-ops-relay\",\"format_version\":1,");
  ASSERT_TRUE(Eventually(
      [&] {
        return RelayCounter("firehose_ops_relay_messages_total", "ops", "malformed") > malformed;
      },
      5s));
  publisher->OnRejected("p000", "signature_missing");
  publisher->PublishNow();
  EXPECT_TRUE(Eventually([&] { return Errors("p000", IngestError::kBadSignature) == 7; }, 5s));

  publisher->Stop();
  subscriber->Stop();
}

TEST_F(OpsRelayNatsTest, CountsHeldWhileTheServerIsDownGoOutWhenItIsBack) {
  auto subscriber = StartSubscriber();
  auto publisher = StartPublisher();
  ASSERT_TRUE(subscriber && publisher);
  const std::uint64_t dropped =
      RelayCounter("firehose_ops_relayed_errors_total", "ingest", "dropped_unreachable");

  nats_.Kill(0, SIGKILL);
  ASSERT_TRUE(Eventually([&] { return !publisher->connected(); }, 10s));
  for (int i = 0; i < 3; ++i) publisher->OnRejected("p000", "signature_no_match");
  publisher->PublishNow();  // held: nowhere to send it
  EXPECT_EQ(RelayCounter("firehose_ops_relayed_errors_total", "ingest", "dropped_unreachable"),
            dropped);

  ASSERT_TRUE(nats_.Restart(0));
  ASSERT_TRUE(Eventually([&] { return publisher->connected(); }, 20s));
  ASSERT_TRUE(SubscriberHearsAgain());
  publisher->PublishNow();
  EXPECT_TRUE(Eventually([&] { return Errors("p000", IngestError::kBadSignature) == 3; }, 5s))
      << Errors("p000", IngestError::kBadSignature);
  EXPECT_EQ(RelayCounter("firehose_ops_relayed_errors_total", "ingest", "dropped_unreachable"),
            dropped);
}

TEST_F(OpsRelayNatsTest, CountsHeldLongerThanTheHoldAreDroppedAndCounted) {
  config_.limits.ops_relay_hold_s = 1;
  auto subscriber = StartSubscriber();
  auto publisher = StartPublisher();
  ASSERT_TRUE(subscriber && publisher);
  const std::uint64_t dropped =
      RelayCounter("firehose_ops_relayed_errors_total", "ingest", "dropped_unreachable");

  nats_.Kill(0, SIGKILL);
  ASSERT_TRUE(Eventually([&] { return !publisher->connected(); }, 10s));
  for (int i = 0; i < 4; ++i) publisher->OnRejected("p000", "signature_no_match");
  std::this_thread::sleep_for(1100ms);
  publisher->PublishNow();  // the oldest count is past ops_relay_hold_s: all four go
  EXPECT_EQ(RelayCounter("firehose_ops_relayed_errors_total", "ingest", "dropped_unreachable"),
            dropped + 4);

  ASSERT_TRUE(nats_.Restart(0));
  ASSERT_TRUE(Eventually([&] { return publisher->connected(); }, 20s));
  ASSERT_TRUE(SubscriberHearsAgain());
  publisher->OnRejected("p000", "rate_limited");
  publisher->PublishNow();
  ASSERT_TRUE(Eventually([&] { return Errors("p000", IngestError::kRateLimited) == 1; }, 5s));
  EXPECT_EQ(Errors("p000", IngestError::kBadSignature), 0u) << "the dropped counts came back";
}

// ---------------------------------------------------------------------------------------------
// Real processes.

class OpsRelayProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::NatsServerProgram().empty()) GTEST_SKIP() << "nats-server is not installed";
    ASSERT_TRUE(nats_.Start(dir_.path() / "nats", 1)) << "nats-server did not start";
  }

  // The config every process gets: partners p000 (alerted on) and p001, a poll partner q000 whose
  // API is down (nothing listens on its port), the stream on the test's server, a
  // signature_failures rule for p000 notifying `receiver_`. Only [server] listen differs from
  // one process to the next.
  std::filesystem::path WriteConfig(const std::string& name, std::uint16_t port) {
    std::string queue =
        "\n[queue]\nbackend = \"jetstream\"\nstream = \"FIREHOSE\"\nreplicas = 1\n"
        "nats_urls = [\"" +
        nats_.Urls().front() + "\"]\n";
    const std::string extra = queue + R"(
[[ops.alerts]]
name = "p000-signatures"
kind = "signature_failures"
partners = ["p000"]
threshold = 3
window_s = 30
resolve_hold_s = 60

[[ops.destinations]]
url = ")" + receiver_.url() + R"("
backoff_initial_ms = 100

[[partners]]
id = "q000"
mode = "poll"
mapping = "stripe_like"
[partners.poll]
url = "http://127.0.0.1:)" + std::to_string(dead_port_) +
                              R"(/poll/q000"
auth = "none"
interval_ms = 100
backoff_initial_ms = 50
backoff_max_ms = 200
breaker_failures = 100
)";
    std::string text = testing::OpsConfigText(2, extra);
    text.replace(text.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(port));
    text = "data_dir = \"" + (dir_.path() / "data").string() + "\"\n" + text;
    const std::filesystem::path path = dir_.path() / (name + ".toml");
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
    return path;
  }

  void Start(ChildProcess& process, const std::string& command, std::uint16_t port) {
    ASSERT_TRUE(
        process.Start({FIREHOSE_BINARY, "--config", WriteConfig(command, port).string(), command},
                      {}, Log(command)));
    ASSERT_TRUE(testing::WaitForHttp(port, "/healthz", 200, 30s)) << LogText(command);
  }

  std::filesystem::path Log(const std::string& command) const {
    return dir_.path() / (command + ".log");
  }
  std::string LogText(const std::string& command) const {
    std::ifstream log(Log(command));
    return std::string((std::istreambuf_iterator<char>(log)), {});
  }

  // A webhook for p000 (or `partner`) whose signature does not match its body.
  static std::string ForgedPost(std::string_view partner, std::string_view txn) {
    std::string forged = testing::SignedPost(partner, testing::StripeBody(txn));
    forged.replace(forged.find("v1=") + 3, 4, "0000");
    return forged;
  }

  static int Send(std::uint16_t port, const std::string& request) {
    auto response = testing::RoundTrip(port, request);
    return response ? response->status : 0;
  }

  static json GetJson(std::uint16_t port, const std::string& target) {
    const testing::HttpAnswer answer = testing::HttpGet(port, target);
    return answer.status == 200 ? json::parse(answer.body, nullptr, false) : json();
  }

  // The partner's row in the ops API: its counts over ops.state_window_s.
  static json PartnerRow(std::uint16_t port, std::string_view partner) {
    const json partners = GetJson(port, "/api/ops/partners?q=" + std::string(partner));
    if (!partners.is_object()) return json();
    for (const json& row : partners["partners"]) {
      if (row["id"] == partner) return row;
    }
    return json();
  }

  static std::uint64_t ErrorsOf(std::uint16_t port, std::string_view partner,
                                std::string_view kind) {
    const json row = PartnerRow(port, partner);
    if (!row.is_object() || !row["errors"].contains(kind)) return 0;
    return row["errors"][std::string(kind)].get<std::uint64_t>();
  }

  TempDir dir_;
  NatsCluster nats_;
  testing::AlertReceiver receiver_;
  const std::uint16_t dead_port_ = testing::FreePort();
};

TEST_F(OpsRelayProcessTest, SignatureAndPollFailuresAtTheGatewayReachTheOpsProcess) {
  const std::uint16_t ops_port = testing::FreePort();
  const std::uint16_t ingest_port = testing::FreePort();
  ChildProcess ops_process;
  ChildProcess ingest;
  Start(ops_process, "ops", ops_port);
  Start(ingest, "ingest", ingest_port);

  // Good webhooks go through the stream (the ops consumer counts them); forged ones are refused
  // at the gateway and only the relay can tell ops.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Send(ingest_port,
                   testing::SignedPost("p000", testing::StripeBody("ok_" + std::to_string(i)))),
              202);
  }
  const auto first_forged = Clock::now();
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(Send(ingest_port, ForgedPost("p000", "forged_" + std::to_string(i))), 401);
  }
  ASSERT_EQ(Send(ingest_port, ForgedPost("p001", "forged_p001")), 401);
  ASSERT_EQ(Send(ingest_port, testing::SignedPost("nobody", testing::StripeBody("x"))), 404);

  ASSERT_TRUE(Eventually([&] { return ErrorsOf(ops_port, "p000", "bad_signature") >= 4; }, 10s))
      << PartnerRow(ops_port, "p000").dump() << "\n"
      << LogText("ingest") << LogText("ops");
  const double visible_after_s = std::chrono::duration<double>(Clock::now() - first_forged).count();
  EXPECT_LT(visible_after_s, 5.0);
  std::printf("signature failures visible in the ops process %.2f s after the first 401\n",
              visible_after_s);

  // The ops view's alert fires off the relayed counts.
  const auto fired = receiver_.WaitFor("firing", "p000-signatures", "p000", 10s);
  ASSERT_TRUE(fired) << "no firing notification";
  EXPECT_LT(std::chrono::duration<double>(*fired - first_forged).count(), 10.0);
  const json alerts = GetJson(ops_port, "/api/ops/alerts");
  bool active = false;
  for (const json& alert : alerts["active"]) {
    active |= alert["rule"] == "p000-signatures" && alert["state"] == "firing";
  }
  EXPECT_TRUE(active) << alerts.dump();
  EXPECT_EQ(receiver_.Count("firing", "p000-signatures", "p001"), 0);

  // The poll partner's failures, counted by the gateway's poller.
  EXPECT_TRUE(Eventually([&] { return ErrorsOf(ops_port, "q000", "poll_failure") > 0; }, 10s))
      << PartnerRow(ops_port, "q000").dump();

  // Counted exactly once: one per refused request, the accepted ones through the stream.
  std::this_thread::sleep_for(1500ms);  // a relay interval and then some
  const json p000 = PartnerRow(ops_port, "p000");
  EXPECT_EQ(p000["errors"]["bad_signature"], 4) << p000.dump();
  EXPECT_EQ(p000["events_total"], 3) << p000.dump();
  EXPECT_EQ(ErrorsOf(ops_port, "p001", "bad_signature"), 1u);
  const json status = GetJson(ops_port, "/api/ops/status");
  ASSERT_TRUE(status.contains("ops")) << status.dump();
  EXPECT_EQ(status["ops"].value("unknown_partner_rejections", 0), 1) << status.dump();

  // The gateway's last counts go out when it stops; then nothing more arrives.
  // The gateway serves its own counters for scraping: its refusals and what it relayed.
  const testing::HttpAnswer metrics = testing::HttpGet(ingest_port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  for (const char* wanted : {"firehose_rejected_total{", "partner=\"p000\"",
                             "firehose_ops_relay_messages_total{", "role=\"ingest\""}) {
    EXPECT_NE(metrics.body.find(wanted), std::string::npos) << wanted << "\n" << metrics.body;
  }

  ingest.Kill(SIGTERM);
  EXPECT_EQ(ingest.Wait(30s), 0) << LogText("ingest");
  std::this_thread::sleep_for(500ms);
  const std::uint64_t poll_failures = ErrorsOf(ops_port, "q000", "poll_failure");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(ErrorsOf(ops_port, "q000", "poll_failure"), poll_failures);
  ops_process.Kill(SIGTERM);
  EXPECT_EQ(ops_process.Wait(30s), 0) << LogText("ops");

  EXPECT_EQ(testing::LinesContaining(Log("ingest"), "ops error relay: sending"), 1);
  EXPECT_EQ(testing::LinesContaining(Log("ops"), "ops error relay: counting"), 1);
  EXPECT_EQ(testing::LinesContaining(Log("ops"), "ops error relay: dropped"), 0);
}

// `firehose run` on JetStream hosts the edge and ops together: refusals are recorded directly,
// and the process neither sends nor listens on the relay (it would count them twice).
TEST_F(OpsRelayProcessTest, ARunProcessCountsItsOwnRefusalsOnceWithoutTheRelay) {
  const std::uint16_t port = testing::FreePort();
  ChildProcess run;
  Start(run, "run", port);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Send(port, ForgedPost("p000", "forged_" + std::to_string(i))), 401);
  }
  ASSERT_TRUE(Eventually([&] { return ErrorsOf(port, "p000", "bad_signature") >= 2; }, 5s));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(ErrorsOf(port, "p000", "bad_signature"), 2u);
  run.Kill(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << LogText("run");
  EXPECT_EQ(testing::LinesContaining(Log("run"), "ops error relay"), 0) << LogText("run");
}

}  // namespace
}  // namespace firehose
