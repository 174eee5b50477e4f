// The poller against the simulator's poll server over real HTTP on 127.0.0.1, appending into the
// real embedded log: every item is paged (none skipped), faults lose nothing, Retry-After is
// obeyed, and a dead or hanging partner does not hold up another.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "core/metrics.h"
#include "poll/poller.h"
#include "queue/open_queue.h"
#include "sim/poll_server.h"
#include "support/poll_harness.h"
#include "support/process.h"

// Partner specs name only the fields a test cares about (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace firehose {
namespace {

using std::chrono::milliseconds;
using testing::PollPartnerSpec;
using Clock = std::chrono::steady_clock;

class PollTest : public ::testing::Test {
 protected:
  // Starts the poll server for `specs`, then a queue and a poller over a config polling it.
  // `edit_feeds` may change what the server serves (items beyond MakeItems').
  void Start(std::vector<PollPartnerSpec> specs, const std::string& limits = "",
             const std::function<void(std::vector<sim::PollFeed>&)>& edit_feeds = nullptr) {
    specs_ = std::move(specs);
    std::vector<sim::PollFeed> feeds = testing::MakeFeeds(specs_);
    if (edit_feeds) edit_feeds(feeds);
    server_ = std::make_unique<sim::PollServer>(std::move(feeds), sim::PollServerOptions{});
    ASSERT_TRUE(server_->Start().ok());
    auto load =
        ParseConfig(testing::PollConfigText(specs_, server_->port(), dir_.path() / "data", limits),
                    dir_.path());
    ASSERT_TRUE(load.config) << load.problems.front().key << ": " << load.problems.front().message;
    config_ = std::move(*load.config);
    auto queue = OpenQueue(config_);
    ASSERT_TRUE(queue.ok()) << queue.status().ToString();
    queue_ = std::move(*queue);
    StartPoller();
  }
  void StartPoller() {
    poller_ = std::make_unique<poll::Poller>(
        config_, *queue_, [this](std::string_view partner, std::string_view /*reason*/) {
          std::lock_guard lock(failures_mutex_);
          ++failures_seen_[std::string(partner)];
        });
    const Status started = poller_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  // Waits until the server has served every item of `partners` and their pollers caught up.
  bool WaitCaughtUp(const std::vector<std::string>& partners, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      bool all = true;
      for (const std::string& id : partners) {
        const auto spec = std::find_if(specs_.begin(), specs_.end(),
                                       [&](const PollPartnerSpec& s) { return s.id == id; });
        if (server_->Stats(*PartnerId::Parse(id)).served_end < spec->items) all = false;
        for (const poll::PartnerPollState& state : poller_->States()) {
          if (state.partner_id == id && !state.caught_up) all = false;
        }
      }
      if (all) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  std::uint64_t Rejected(const std::string& partner, const std::string& reason) const {
    return Metrics().SumCounters("firehose_rejected_total",
                                 {{"stage", "poll"}, {"partner", partner}, {"reason", reason}});
  }

  void ExpectEveryItemOnce(const std::map<std::string, std::multiset<std::string>>& ids,
                           const PollPartnerSpec& spec) {
    const auto found = ids.find(spec.id);
    ASSERT_NE(found, ids.end()) << spec.id;
    std::set<std::string> expected;
    for (std::size_t i = 0; i < spec.items; ++i) expected.insert(spec.id + "-" + std::to_string(i));
    EXPECT_EQ(std::set<std::string>(found->second.begin(), found->second.end()), expected)
        << spec.id;
    EXPECT_EQ(found->second.size(), spec.items) << spec.id << ": duplicates without a fault";
  }

  testing::TempDir dir_;
  std::vector<PollPartnerSpec> specs_;
  std::unique_ptr<sim::PollServer> server_;
  Config config_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<poll::Poller> poller_;
  std::mutex failures_mutex_;
  std::map<std::string, std::uint64_t> failures_seen_;  // what the failure observer was told
};

TEST_F(PollTest, PagesEveryItemOfEveryPartnerOnceAndResumesFromTheSavedCursor) {
  Start({{.id = "alpha",
          .batch_mapping = true,
          .auth = PollAuthKind::kBearer,
          .items = 300,
          .page_size = 40},
         {.id = "beta",
          .pagination = PollPagination::kSince,
          .auth = PollAuthKind::kBasic,
          .items = 250,
          .page_size = 25},
         {.id = "gamma", .auth = PollAuthKind::kHeader, .items = 120, .page_size = 50}});
  ASSERT_TRUE(WaitCaughtUp({"alpha", "beta", "gamma"}, milliseconds(20000)));
  poller_->Stop();
  for (const poll::PartnerPollState& state : poller_->States()) {
    EXPECT_EQ(state.failures, 0U) << state.partner_id << " " << state.last_failure_reason;
    EXPECT_EQ(state.breaker, "closed");
  }
  // alpha's pages are one record each (its mapping reads the page as a batch).
  const auto ids = testing::ReadPolledTxnIds(*queue_, config_);
  for (const PollPartnerSpec& spec : specs_) ExpectEveryItemOnce(ids, spec);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "data/poll/alpha.cursor"));
  EXPECT_EQ(server_->Stats(*PartnerId::Parse("beta")).answers.count("401"), 0U);

  // A new poller resumes at the saved cursors: it asks for what follows, and appends nothing.
  const std::int64_t served_before = server_->Stats(*PartnerId::Parse("alpha")).items_served;
  StartPoller();
  std::this_thread::sleep_for(milliseconds(600));
  poller_->Stop();
  EXPECT_EQ(server_->Stats(*PartnerId::Parse("alpha")).items_served, served_before);
  EXPECT_GT(server_->Stats(*PartnerId::Parse("alpha")).pages, 8);
  const auto again = testing::ReadPolledTxnIds(*queue_, config_);
  EXPECT_TRUE(again.empty());  // the "check" consumer saw everything already; nothing new came
}

TEST_F(PollTest, WrongCredentialsAreCountedAndNothingIsAppended) {
  Start({{.id = "delta", .items = 10}});
  poller_->Stop();
  // Rewrite the secret the poller uses: the server now refuses it.
  config_.partners[0].poll->auth_secret = Secret("wrong", "test");
  StartPoller();
  std::this_thread::sleep_for(milliseconds(800));
  poller_->Stop();
  EXPECT_GT(Rejected("delta", "http_4xx"), 0U);
  EXPECT_GT(server_->Stats(*PartnerId::Parse("delta")).answers["401"], 0);
}

// One item larger than a queue record may be: the poller appends nothing of its page and keeps
// the cursor before it (the page is retried, counted as too_large), so nothing after it is skipped;
// once the limit fits it, every item is appended exactly once.
TEST_F(PollTest, AnItemOverRecordBytesMaxHoldsItsPartnerAtItAndLosesNothing) {
  constexpr std::size_t kLarge = 30;
  Start({{.id = "eps", .items = 60, .page_size = 20}},
        "body_bytes_max = 1024\nrecord_bytes_max = 8192\n",
        [](std::vector<sim::PollFeed>& feeds) {
          std::string& item = feeds[0].items[kLarge];
          item.insert(item.size() - 1, R"(,"memo":")" + std::string(10'000, 'm') + "\"");
        });
  const auto deadline = Clock::now() + milliseconds(10000);
  while (Rejected("eps", "too_large") < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  poller_->Stop();
  EXPECT_GE(Rejected("eps", "too_large"), 2U) << "the page is retried, and refused again";
  {
    std::lock_guard lock(failures_mutex_);
    EXPECT_GE(failures_seen_["eps"], 2U);
  }
  const poll::PartnerPollState state = poller_->States().front();
  EXPECT_EQ(state.last_failure_reason, "too_large");
  EXPECT_FALSE(state.caught_up);
  // The first page (items 0..19) is in; nothing of the page holding the large item is.
  auto ids = testing::ReadPolledTxnIds(*queue_, config_);
  std::set<std::string> first_page;
  for (std::size_t i = 0; i < 20; ++i) first_page.insert("eps-" + std::to_string(i));
  EXPECT_EQ(std::set<std::string>(ids["eps"].begin(), ids["eps"].end()), first_page);
  EXPECT_EQ(ids["eps"].size(), 20U);

  // The operator raises the limit and restarts (the log takes its record limit when it opens):
  // the poller resumes at the held page and takes the rest once.
  poller_.reset();
  queue_.reset();
  config_.limits.record_bytes_max = 64 << 10;
  auto queue = OpenQueue(config_);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  queue_ = std::move(*queue);
  StartPoller();
  ASSERT_TRUE(WaitCaughtUp({"eps"}, milliseconds(10000)));
  poller_->Stop();
  ids = testing::ReadPolledTxnIds(*queue_, config_);
  std::set<std::string> rest;
  for (std::size_t i = 20; i < 60; ++i) rest.insert("eps-" + std::to_string(i));
  EXPECT_EQ(std::set<std::string>(ids["eps"].begin(), ids["eps"].end()), rest);
  EXPECT_EQ(ids["eps"].size(), 40U);
}

TEST_F(PollTest, ThrottlingOutageAndMalformedPagesLoseNothingAndRetryAfterIsObeyed) {
  using sim::PollFaultKind;
  Start({{.id = "epsilon",
          .items = 400,
          .page_size = 20,
          .faults = {{PollFaultKind::kThrottle, milliseconds(0), milliseconds(2500), 1},
                     {PollFaultKind::kOutage, milliseconds(2500), milliseconds(4000), 1},
                     {PollFaultKind::kMalformed, milliseconds(4000), milliseconds(4500)}}},
         {.id = "zeta",
          .batch_mapping = true,
          .items = 200,
          .page_size = 20,
          .faults = {{PollFaultKind::kOutage, milliseconds(200), milliseconds(1500), 0}}}});
  ASSERT_TRUE(WaitCaughtUp({"epsilon", "zeta"}, milliseconds(30000)));
  poller_->Stop();
  const auto ids = testing::ReadPolledTxnIds(*queue_, config_);
  for (const PollPartnerSpec& spec : specs_) ExpectEveryItemOnce(ids, spec);
  EXPECT_GT(Rejected("epsilon", "http_429"), 0U);
  EXPECT_GT(Rejected("epsilon", "http_5xx"), 0U);
  EXPECT_GT(Rejected("epsilon", "malformed"), 0U);
  EXPECT_GT(Rejected("zeta", "http_5xx"), 0U);
  // The observer (the ops view's hook) heard of every failure the counters hold.
  EXPECT_EQ(failures_seen_["epsilon"],
            Metrics().SumCounters("firehose_rejected_total",
                                  {{"stage", "poll"}, {"partner", "epsilon"}}));

  // Each 429 said "Retry-After: 1": the next request came at least a second later (the
  // backoff alone would have retried within 400 ms).
  const sim::PollFeedStats stats = server_->Stats(*PartnerId::Parse("epsilon"));
  const auto& times = stats.request_times;
  ASSERT_GE(times.size(), 2U);
  int throttled_gaps = 0;
  for (std::size_t i = 0; i + 1 < times.size(); ++i) {
    const auto since_start = times[i] - times.front();
    if (since_start >= milliseconds(2300)) break;  // the throttle window, with slack
    EXPECT_GE(times[i + 1] - times[i], milliseconds(990)) << "request " << i;
    ++throttled_gaps;
  }
  EXPECT_GE(throttled_gaps, 2);
}

TEST_F(PollTest, ADeadOrHangingPartnerDoesNotDelayAnother) {
  using sim::PollFaultKind;
  const std::uint16_t dead_port = testing::FreePort();  // nothing listens there
  Start({{.id = "dead",
          .items = 10,
          .url_override = "http://127.0.0.1:" + std::to_string(dead_port) + "/poll/dead"},
         {.id = "hang",
          .items = 10,
          .faults = {{PollFaultKind::kSlow, milliseconds(0), milliseconds(60000), 0,
                      milliseconds(10000)}}},
         {.id = "live", .items = 600, .page_size = 20}},
        "poll_timeout_ms = 3000\npoll_concurrency_max = 2\n");
  const auto started = Clock::now();
  ASSERT_TRUE(WaitCaughtUp({"live"}, milliseconds(20000)));
  const auto took = Clock::now() - started;
  // The breaker opens for the dead partner after breaker_failures refusals (backoff between
  // them: on a fast machine the live partner is done long before).
  const auto breaker_deadline = Clock::now() + milliseconds(20000);
  auto dead_failures = [&] {
    for (const poll::PartnerPollState& state : poller_->States()) {
      if (state.partner_id == "dead") return state.consecutive_failures;
    }
    return decltype(poller_->States().front().consecutive_failures){0};
  };
  while (dead_failures() < 4 && Clock::now() < breaker_deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  poller_->Stop();
  // 30 pages, while "hang" holds a slot for 3 s at a time and "dead" refuses every connection.
  EXPECT_LT(took, milliseconds(2500)) << "the live partner waited for the dead ones";
  const auto ids = testing::ReadPolledTxnIds(*queue_, config_);
  ExpectEveryItemOnce(ids, specs_[2]);
  EXPECT_EQ(ids.count("dead"), 0U);
  EXPECT_EQ(ids.count("hang"), 0U);
  EXPECT_GT(Rejected("dead", "connect"), 0U);
  EXPECT_GE(server_->Stats(*PartnerId::Parse("hang")).requests, 1) << "the hang never held a slot";
  // The breaker opened for the dead partner after breaker_failures refusals.
  for (const poll::PartnerPollState& state : poller_->States()) {
    if (state.partner_id == "dead") {
      EXPECT_GE(state.consecutive_failures, 4);
    }
  }
}

}  // namespace
}  // namespace firehose
