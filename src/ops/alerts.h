// Ops alerts (DESIGN §6): rules from [[ops.alerts]] evaluated every second against the
// partners' series and the queue's consumers, and notifications of every change sent to the
// log, the dashboard (through the API) and the [[ops.destinations]] webhooks.
//
// Life of an alert, per (rule, subject) where the subject is a partner or a queue consumer:
//   (none) --value > threshold--> pending --held for_s--> firing --value < resolve_threshold
//   for resolve_hold_s--> resolved (kept in the recent list).
//   A pending alert whose breach ends disappears without a notification. A firing alert whose
//   value is between the two thresholds stays firing and restarts its resolve hold, so a value
//   oscillating around the threshold fires once and does not flap.
// Rates (error_rate, duplicate_rate) are judged only with at least min_events in the window;
// below that the rule counts as not breached (and, when firing, as recovering).
// A partner with silence_alert_s > 0 gets the built-in rule "partner_silent" (critical): no
// arrival, accepted or refused, for that many seconds. A partner that never sent anything is
// measured from when the evaluator started.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/metrics.h"
#include "ops/ops_state.h"
#include "queue/queue.h"

namespace firehose::ops {

enum class AlertState : std::uint8_t { kPending, kFiring, kResolved };
std::string_view AlertStateName(AlertState state);

inline constexpr std::string_view kSilenceRuleName = "partner_silent";

struct Alert {
  std::uint64_t id = 0;  // unique within the process, increasing
  std::string rule;
  AlertKind kind = AlertKind::kErrorRate;
  std::string subject;  // partner id, or consumer name for queue_lag
  std::string severity;
  AlertState state = AlertState::kPending;
  double value = 0;  // the latest evaluated value
  double threshold = 0;
  double resolve_threshold = 0;
  std::int64_t window_s = 0;
  TimestampUs pending_since;
  TimestampUs fired_at;          // 0 until firing
  TimestampUs resolved_at;       // 0 until resolved
  TimestampUs recovering_since;  // 0 unless firing and below the resolve threshold
  std::string message;           // for humans: "error rate 42.0% over 30 s > 20%"
};

// JSON of one alert (the API and notifications share it).
std::string AlertJson(const Alert& alert);
// The body POSTed to destinations: {"status":"firing"|"resolved","alert":{...}}.
std::string NotificationJson(const Alert& alert);

// Thread-safe: Evaluate from the ticker, reads from the API's io threads.
class AlertEvaluator {
 public:
  // Queue consumers' lag, for queue_lag rules (empty: no queue to watch).
  using QueueStatsSource = std::function<std::vector<ConsumerStats>()>;

  AlertEvaluator(OpsState& state, QueueStatsSource queue_stats);

  // Evaluates every rule at `now` and returns the alerts that fired or resolved in this pass.
  std::vector<Alert> Evaluate(TimestampUs now);

  // Pending and firing alerts, oldest first.
  std::vector<Alert> Active() const;
  // Resolved alerts, newest first (at most ops.recent_alerts_max).
  std::vector<Alert> Recent() const;
  // How many alerts are firing for `partner`.
  int FiringFor(std::string_view partner) const;
  // Seconds since `series` was last seen, or since this evaluator started if it has not been
  // seen since (a partner is not silent for 56 years after a restart). The dashboard's "down"
  // and the partner_silent rule both read this.
  double SilentSeconds(const PartnerSeries& series, std::int64_t now_s) const;

 private:
  struct RuleSubjects {
    AlertRule rule;
    std::vector<std::string> subjects;                 // partner ids (empty for queue_lag)
    std::map<std::string, double> threshold_override;  // partner_silent: each partner's own
  };
  struct Reading {
    double value = 0;
    bool judgeable = false;  // enough volume to judge a rate
  };
  Reading Read(const AlertRule& rule, std::string_view subject, std::int64_t now_s) const;
  void Step(const RuleSubjects& rule, const std::string& subject, double threshold,
            double resolve_threshold, const Reading& reading, TimestampUs now,
            std::vector<Alert>* changes);
  std::string Describe(const AlertRule& rule, const std::string& subject, double value,
                       double threshold) const;

  OpsState& state_;
  QueueStatsSource queue_stats_;
  std::vector<RuleSubjects> rules_;
  TimestampUs started_at_;
  std::vector<ConsumerStats> consumers_;  // this pass's queue stats

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Alert> active_;  // (rule, subject)
  std::deque<Alert> recent_;
  std::uint64_t next_id_ = 1;
  Gauge& firing_gauge_;
};

// Delivers notifications to the webhook destinations: one worker thread and one bounded queue
// (limits.alert_queue_max; beyond it the oldest notification is dropped and counted) per
// destination, so that a dead destination delays neither evaluation nor the other
// destinations. Each notification is POSTed as JSON with libcurl and retried on a transport
// error or a non-2xx answer, with capped exponential backoff, up to attempts_max.
// Metrics: firehose_ops_alert_notifications_total{destination,outcome=delivered|failed|dropped}.
class AlertNotifier {
 public:
  explicit AlertNotifier(const Config& config);
  ~AlertNotifier();  // Stop()
  AlertNotifier(const AlertNotifier&) = delete;
  AlertNotifier& operator=(const AlertNotifier&) = delete;

  void Start();
  // Never blocks on the network.
  void Enqueue(const std::string& body);
  // Stops retrying and joins the workers; notifications still queued are dropped.
  void Stop();

 private:
  struct Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace firehose::ops
