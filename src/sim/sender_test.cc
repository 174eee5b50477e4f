// The sender against a real HTTP server on 127.0.0.1 (sim/test_http_server.h), which verifies
// signatures and maps bodies with the real code and answers what each test scripts.
#include "sim/sender.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/hex.h"
#include "sim/test_http_server.h"
#include "sim/test_support.h"
#include "sim/truth.h"

namespace firehose::sim {
namespace {

using testing::Clock;
using testing::Drop;
using testing::FakeEdge;
using testing::MakeReply;
using testing::Received;
using testing::Reply;
using testing::TempDir;
using testing::TestServer;
using testing::WriteAndLoad;

class SenderTest : public ::testing::Test {
 protected:
  Plan MakePlan(std::int64_t transactions, std::string_view faults) {
    GeneratorOptions options;
    options.seed = 21;
    options.transactions = transactions;
    options.day = *BusinessDate::Parse("2025-11-27");
    options.faults = *ParseFaults(faults);
    options.batch_events_max = 4;
    auto plan = GeneratePlan(loaded_.fleet, options);
    FH_CHECK(plan.ok(), "GeneratePlan failed");
    return std::move(plan).value();
  }

  SenderOptions Options(const TestServer& server) const {
    SenderOptions options;
    options.target = server.url();
    options.concurrency = 4;
    options.backoff_initial_ms = 10;
    options.backoff_max_ms = 50;
    options.timeout_ms = 5'000;
    return options;
  }

  TempDir dir_;
  testing::ConfiguredFleet loaded_ = WriteAndLoad(dir_, 6, 7);
};

TEST_F(SenderTest, ADayIsDeliveredInPhaseOrderOverKeepAliveConnectionsAndEveryAckRecorded) {
  FakeEdge edge(loaded_.config);
  TestServer server([&](const Received& request) { return edge.Answer(request); });
  const Plan plan = MakePlan(300,
                             "duplicate=0.1,late=0.05,conflict=0.1,update=0.1,midnight=0.05,"
                             "malformed=0.1,bad_signature=0.05");
  SenderOptions options = Options(server);
  options.acks_path = dir_.path() / "acks.tsv";
  auto report = SendPlan(loaded_.fleet, plan, options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  server.Stop();

  std::int64_t forged = 0;
  for (const PlannedSend& send : plan.sends) forged += send.bad_signature != BadSignature::kNone;
  EXPECT_TRUE(report->ok()) << (report->results.empty() ? "" : report->results[0].problem);
  EXPECT_EQ(report->acknowledged, static_cast<std::int64_t>(plan.sends.size()) - forged);
  EXPECT_EQ(report->rejected, forged);
  EXPECT_GT(forged, 0);
  EXPECT_EQ(report->retries, 0);
  EXPECT_LE(server.connections(), 4u) << "one keep-alive connection per sender";

  // The acknowledgement file: one line per 2xx, with the partner and the SHA-256 of the bytes.
  auto acks = ReadAckFile(options.acks_path);
  ASSERT_TRUE(acks.ok()) << acks.status().message();
  std::multiset<std::pair<std::string, std::string>> expected_acks;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    if (report->results[i].outcome != Outcome::kAcknowledged) continue;
    expected_acks.insert({loaded_.fleet.partners[plan.sends[i].partner].id.str(),
                          Sha256Hex(RenderBody(loaded_.fleet, plan, i))});
  }
  std::multiset<std::pair<std::string, std::string>> recorded;
  std::set<std::string> arrival_ids;
  for (const AckLine& line : *acks) {
    recorded.insert({line.partner_id, line.body_sha256});
    arrival_ids.insert(line.arrival_id);
  }
  EXPECT_EQ(recorded, expected_acks);
  EXPECT_EQ(arrival_ids.size(), acks->size());

  // A resend arrives only after its original was answered; day-late resends come last.
  const std::vector<Received> received = server.received();
  std::map<std::string, std::size_t> first_arrival;
  for (std::size_t i = 0; i < received.size(); ++i) first_arrival.emplace(received[i].body, i);
  std::size_t last_phase_one = 0;
  std::size_t first_phase_two = received.size();
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend& send = plan.sends[i];
    const std::size_t arrived = first_arrival.at(RenderBody(loaded_.fleet, plan, i));
    if (send.phase == 1) last_phase_one = std::max(last_phase_one, arrived);
    if (send.phase == 2) {
      std::size_t late = received.size();
      for (std::size_t r = 0; r < received.size(); ++r) {
        if (received[r].body == RenderBody(loaded_.fleet, plan, i)) late = r;  // its last arrival
      }
      first_phase_two = std::min(first_phase_two, late);
    }
    if (send.depends_on < 0) continue;
    EXPECT_LT(first_arrival.at(
                  RenderBody(loaded_.fleet, plan, static_cast<std::size_t>(send.depends_on))),
              arrived);
  }
  EXPECT_LT(last_phase_one, first_phase_two);

  auto truth =
      ComputeTruth(loaded_.fleet, plan, report->Acknowledged(), loaded_.config.lake.calendar);
  ASSERT_TRUE(truth.ok());
  EXPECT_EQ(truth->counts.transactions, 300);
}

TEST_F(SenderTest, RetriesResendTheSameBytesAndSignatureAndHonourRetryAfter) {
  FakeEdge edge(loaded_.config);
  TestServer server([&](const Received& request) -> Reply {
    if (request.attempt == 1) return MakeReply(503, R"({"error":"queue_full"})", "1");
    if (request.attempt == 2) return MakeReply(429, R"({"error":"rate_limited"})", "1");
    return edge.Answer(request);
  });
  const Plan plan = MakePlan(8, "none");
  auto report = SendPlan(loaded_.fleet, plan, Options(server));
  ASSERT_TRUE(report.ok());
  server.Stop();
  const auto sends = static_cast<std::int64_t>(plan.sends.size());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->acknowledged, sends);
  EXPECT_EQ(report->retries, 2 * sends);
  EXPECT_EQ(report->answers.at("503"), sends);
  EXPECT_EQ(report->answers.at("429"), sends);
  EXPECT_EQ(report->answers.at("202"), sends);
  EXPECT_EQ(report->ambiguous, 0);

  std::map<std::string, std::vector<Received>> by_body;
  for (const Received& request : server.received()) by_body[request.body].push_back(request);
  ASSERT_EQ(by_body.size(), plan.sends.size())
      << "every retry carried the same bytes as the first attempt";
  for (const auto& [body, attempts] : by_body) {
    ASSERT_EQ(attempts.size(), 3u);
    for (std::size_t i = 1; i < attempts.size(); ++i) {
      EXPECT_GE(attempts[i].at - attempts[i - 1].at, std::chrono::milliseconds(950))
          << "Retry-After: 1 honoured";
      EXPECT_EQ(attempts[i].headers, attempts[0].headers)
          << "a fresh signature is not needed within the tolerance";
    }
  }
}

TEST_F(SenderTest, ALostConnectionIsRetriedAndReportedAsAmbiguous) {
  FakeEdge edge(loaded_.config);
  TestServer server([&](const Received& request) -> Reply {
    if (request.attempt == 1) return Drop();
    return edge.Answer(request);
  });
  const Plan plan = MakePlan(5, "none");
  auto report = SendPlan(loaded_.fleet, plan, Options(server));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->acknowledged, static_cast<std::int64_t>(plan.sends.size()));
  EXPECT_EQ(report->ambiguous, static_cast<std::int64_t>(plan.sends.size()));
  EXPECT_GT(report->answers.at("network_error"), 0);
}

TEST_F(SenderTest, FinalErrorsFailTheirSendsSkipWhatFollowsAndGiveUpEventually) {
  FakeEdge edge(loaded_.config);
  TestServer server([&](const Received& request) -> Reply {
    if (request.partner == "p000-stripe") return MakeReply(404, R"({"error":"unknown_partner"})");
    if (request.partner == "p001-batch") return MakeReply(503, R"({"error":"shutting_down"})");
    return edge.Answer(request);
  });
  const Plan plan = MakePlan(60, "conflict=0.5");
  SenderOptions options = Options(server);
  options.give_up_after_s = 1;
  auto report = SendPlan(loaded_.fleet, plan, options);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  std::int64_t skipped = 0;
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const SendResult& result = report->results[i];
    const std::string partner = loaded_.fleet.partners[plan.sends[i].partner].id.str();
    if (plan.sends[i].depends_on >= 0 && partner != "p003-adyen" && partner != "p004-paypal") {
      EXPECT_EQ(result.outcome, Outcome::kSkipped) << partner;
      ++skipped;
    } else if (partner == "p000-stripe") {
      EXPECT_EQ(result.outcome, Outcome::kFailed);
      EXPECT_EQ(result.attempts, 1) << "a 404 is not retried";
      EXPECT_NE(result.problem.find("HTTP 404"), std::string::npos) << result.problem;
    } else if (partner == "p001-batch") {
      EXPECT_EQ(result.outcome, Outcome::kFailed);
      EXPECT_GT(result.attempts, 2);
      EXPECT_NE(result.problem.find("gave up"), std::string::npos) << result.problem;
    } else {
      EXPECT_EQ(result.outcome, Outcome::kAcknowledged) << partner;
    }
  }
  EXPECT_GT(skipped, 0);
  EXPECT_EQ(report->skipped, skipped);
  auto truth =
      ComputeTruth(loaded_.fleet, plan, report->Acknowledged(), loaded_.config.lake.calendar);
  ASSERT_TRUE(truth.ok());
  for (const TruthTotal& total : truth->totals) {
    EXPECT_TRUE(total.partner_id == "p003-adyen" || total.partner_id == "p004-paypal")
        << total.partner_id;
  }
}

TEST_F(SenderTest, AnAnswerThatDisagreesWithThePlanIsReported) {
  std::size_t arrivals = 0;
  TestServer server([&](const Received&) -> Reply {
    return MakeReply(202, "{\"arrival_id\":\"01JTEST" + std::to_string(++arrivals) +
                              "\",\"events\":999,\"quarantined\":0}");
  });
  const Plan plan = MakePlan(3, "none");
  auto report = SendPlan(loaded_.fleet, plan, Options(server));
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->unexpected, static_cast<std::int64_t>(plan.sends.size()));
  EXPECT_NE(report->results[0].problem.find("events=999"), std::string::npos)
      << report->results[0].problem;

  SenderOptions bad_target;
  bad_target.target = "ftp://x";
  EXPECT_FALSE(SendPlan(loaded_.fleet, plan, bad_target).ok());
}

}  // namespace
}  // namespace firehose::sim
