#include "ops/alerts.h"

#include <gtest/gtest.h>

#include "support/ops_fixtures.h"

namespace firehose::ops {
namespace {

using testing::OpsTestConfig;

constexpr std::int64_t kStartS = 1'764'201'600;

class AlertsTest : public ::testing::Test {
 protected:
  void Init(std::string_view extra_toml, int partners = 1) {
    config_ = OpsTestConfig(partners, extra_toml);
    state_ =
        std::make_unique<OpsState>(config_, [this] { return TimestampUs(now_s_ * 1'000'000); });
    evaluator_ = std::make_unique<AlertEvaluator>(*state_, [this] {
      return std::vector<ConsumerStats>{{"lake", QueueOffset(0), lag_}};
    });
  }
  // One second of traffic for p000 at the current time: `events`, of which `failed` failed.
  void Traffic(std::uint32_t events, std::uint32_t failed) {
    ArrivalCounts counts;
    counts.received_at = TimestampUs(now_s_ * 1'000'000 + 500'000);
    counts.events = events;
    counts.failed = failed;
    state_->Find("p000")->RecordArrival(counts);
  }
  // Advances one second and evaluates; returns the transitions as "firing:rule" / "resolved:rule".
  std::vector<std::string> Tick() {
    ++now_s_;
    std::vector<std::string> out;
    for (const Alert& alert : evaluator_->Evaluate(TimestampUs(now_s_ * 1'000'000))) {
      out.push_back(std::string(AlertStateName(alert.state)) + ":" + alert.rule);
    }
    return out;
  }

  Config config_;
  std::int64_t now_s_ = kStartS;
  std::uint64_t lag_ = 0;
  std::unique_ptr<OpsState> state_;
  std::unique_ptr<AlertEvaluator> evaluator_;
};

constexpr std::string_view kErrorRule = R"(
[[ops.alerts]]
name = "errors"
kind = "error_rate"
threshold = 20
window_s = 5
min_events = 50
for_s = 2
resolve_hold_s = 3
)";

TEST_F(AlertsTest, ErrorRateGoesPendingThenFiresThenResolvesAfterTheHold) {
  Init(kErrorRule);
  for (int i = 0; i < 5; ++i) {
    Traffic(100, 0);
    EXPECT_TRUE(Tick().empty());
  }
  // Breach: 50% failures. The 5 s window crosses 20% within two seconds; then for_s = 2.
  std::vector<std::string> fired;
  int seconds = 0;
  while (fired.empty() && seconds < 10) {
    Traffic(100, 50);
    fired = Tick();
    ++seconds;
  }
  EXPECT_EQ(fired, std::vector<std::string>{"firing:errors"});
  EXPECT_LE(seconds, 4);
  ASSERT_EQ(evaluator_->Active().size(), 1u);
  EXPECT_EQ(evaluator_->Active()[0].subject, "p000");
  EXPECT_EQ(evaluator_->FiringFor("p000"), 1);
  // Recovery: the window clears after 5 s, then the 3 s hold.
  std::vector<std::string> resolved;
  seconds = 0;
  while (resolved.empty() && seconds < 20) {
    Traffic(100, 0);
    resolved = Tick();
    ++seconds;
  }
  EXPECT_EQ(resolved, std::vector<std::string>{"resolved:errors"});
  EXPECT_GE(seconds, 3);
  EXPECT_TRUE(evaluator_->Active().empty());
  ASSERT_EQ(evaluator_->Recent().size(), 1u);
  EXPECT_EQ(evaluator_->Recent()[0].state, AlertState::kResolved);
}

TEST_F(AlertsTest, ARateOscillatingAroundTheThresholdFiresOnceAndDoesNotFlap) {
  Init(R"(
[[ops.alerts]]
name = "errors"
kind = "error_rate"
threshold = 20
resolve_threshold = 10
window_s = 2
for_s = 0
resolve_hold_s = 5
)");
  int fired = 0;
  int resolved = 0;
  for (int i = 0; i < 60; ++i) {
    // 25%, 15%, 25%, ... around the 20% threshold (the window holds the last full second and
    // the current, empty one).
    Traffic(100, i % 2 == 0 ? 25 : 15);
    for (const std::string& change : Tick()) {
      fired += change == "firing:errors";
      resolved += change == "resolved:errors";
    }
  }
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(resolved, 0);
}

TEST_F(AlertsTest, LowVolumeIsNotJudged) {
  Init(kErrorRule);
  for (int i = 0; i < 10; ++i) {
    Traffic(5, 5);  // 100% failures, but 25 events per window < min_events
    EXPECT_TRUE(Tick().empty());
  }
}

TEST_F(AlertsTest, ASilentPartnerRaisesItsAlertAndAnArrivalResolvesIt) {
  Init("");
  config_.partners[0].silence_alert_s = 5;
  evaluator_ = std::make_unique<AlertEvaluator>(*state_, nullptr);
  std::vector<std::string> changes;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Tick().empty()) << i;
  EXPECT_EQ(Tick(), std::vector<std::string>{"firing:partner_silent"});
  EXPECT_EQ(evaluator_->Active()[0].severity, "critical");
  Traffic(1, 0);
  EXPECT_EQ(Tick(), std::vector<std::string>{"resolved:partner_silent"});
}

// A poll API that only fails is silent: our failed requests are not the partner's arrivals.
TEST_F(AlertsTest, APollPartnerWhosePollsAllFailGoesSilent) {
  Init("");
  config_.partners[0].silence_alert_s = 5;
  evaluator_ = std::make_unique<AlertEvaluator>(*state_, nullptr);
  std::vector<std::string> changes;
  for (int i = 0; i < 5; ++i) {
    state_->RecordPollFailure("p000");
    EXPECT_TRUE(Tick().empty()) << i;
  }
  state_->RecordPollFailure("p000");
  EXPECT_EQ(Tick(), std::vector<std::string>{"firing:partner_silent"});
  EXPECT_EQ(state_->Find("p000")->errors_total(), 6U);  // still counted as errors
}

TEST_F(AlertsTest, QueueLagAndSignatureSpikes) {
  Init(R"(
[[ops.alerts]]
name = "lag"
kind = "queue_lag"
threshold = 1000
resolve_hold_s = 0

[[ops.alerts]]
name = "forgery"
kind = "signature_failures"
threshold = 10
window_s = 10
resolve_hold_s = 0
)");
  lag_ = 5000;
  EXPECT_EQ(Tick(), std::vector<std::string>{"firing:lag"});
  for (int i = 0; i < 11; ++i) state_->webhook_observer()->OnRejected("p000", "signature_no_match");
  // The failures were recorded in the current second, which the next pass still sees.
  --now_s_;
  EXPECT_EQ(Tick(), std::vector<std::string>{"firing:forgery"});
  lag_ = 0;
  EXPECT_EQ(Tick(), std::vector<std::string>{"resolved:lag"});
}

}  // namespace
}  // namespace firehose::ops
