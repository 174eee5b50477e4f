#include "ops/alerts.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/json_writer.h"

namespace firehose::ops {

namespace {

constexpr std::size_t kResponseBytesMax = 4096;

void Timestamp(JsonWriter& json, std::string_view key, TimestampUs time) {
  json.Key(key);
  if (time.value() == 0) {
    json.Null();
  } else {
    json.String(FormatRfc3339Micros(time));
  }
}

bool AppliesTo(const AlertRule& rule, std::string_view partner) {
  return rule.partners.empty() ||
         std::find(rule.partners.begin(), rule.partners.end(), partner) != rule.partners.end();
}

std::string Unit(AlertKind kind) {
  switch (kind) {
    case AlertKind::kErrorRate:
    case AlertKind::kDuplicateRate:
      return "%";
    case AlertKind::kSilence:
      return " s";
    case AlertKind::kSignatureFailures:
      return " failures";
    case AlertKind::kQueueLag:
      return " records";
  }
  return "";
}

}  // namespace

std::string_view AlertStateName(AlertState state) {
  switch (state) {
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
    case AlertState::kResolved:
      return "resolved";
  }
  return "?";
}

std::string AlertJson(const Alert& alert) {
  std::string out;
  JsonWriter json(&out);
  json.BeginObject()
      .Field("id", alert.id)
      .Field("rule", alert.rule)
      .Field("kind", AlertKindName(alert.kind))
      .Field("subject", alert.subject)
      .Field("severity", alert.severity)
      .Field("state", AlertStateName(alert.state));
  json.Key("value").Double(alert.value);
  json.Key("threshold").Double(alert.threshold);
  json.Key("resolve_threshold").Double(alert.resolve_threshold);
  json.Field("window_s", alert.window_s);
  Timestamp(json, "pending_since", alert.pending_since);
  Timestamp(json, "fired_at", alert.fired_at);
  Timestamp(json, "resolved_at", alert.resolved_at);
  json.Field("message", alert.message).EndObject();
  return out;
}

std::string NotificationJson(const Alert& alert) {
  std::string out;
  JsonWriter json(&out);
  json.BeginObject()
      .Field("status", AlertStateName(alert.state))
      .Key("alert")
      .Raw(AlertJson(alert))
      .EndObject();
  return out;
}

AlertEvaluator::AlertEvaluator(OpsState& state, QueueStatsSource queue_stats)
    : state_(state),
      queue_stats_(std::move(queue_stats)),
      started_at_(state.Now()),
      firing_gauge_(Metrics().GaugeFor("firehose_ops_alerts_firing")) {
  Metrics().Describe("firehose_ops_alerts_firing", "Ops alerts currently firing");
  const Config& config = state.config();
  for (const AlertRule& rule : config.ops.alerts) {
    RuleSubjects entry{rule, {}, {}};
    if (rule.kind != AlertKind::kQueueLag) {
      for (const PartnerConfig& partner : config.partners) {
        if (AppliesTo(rule, partner.id.view())) entry.subjects.push_back(partner.id.str());
      }
    }
    rules_.push_back(std::move(entry));
  }
  RuleSubjects silence;
  silence.rule.name = std::string(kSilenceRuleName);
  silence.rule.kind = AlertKind::kSilence;
  silence.rule.severity = "critical";
  silence.rule.resolve_hold_s = 0;
  for (const PartnerConfig& partner : config.partners) {
    if (partner.silence_alert_s <= 0) continue;
    silence.subjects.push_back(partner.id.str());
    silence.threshold_override[partner.id.str()] = static_cast<double>(partner.silence_alert_s);
  }
  if (!silence.subjects.empty()) rules_.push_back(std::move(silence));
}

double AlertEvaluator::SilentSeconds(const PartnerSeries& series, std::int64_t now_s) const {
  const TimestampUs last = series.last_seen();
  const TimestampUs since = last.value() > 0 ? last : started_at_;
  return std::max(0.0, static_cast<double>(now_s * 1'000'000 - since.value()) / 1e6);
}

AlertEvaluator::Reading AlertEvaluator::Read(const AlertRule& rule, std::string_view subject,
                                             std::int64_t now_s) const {
  if (rule.kind == AlertKind::kQueueLag) {
    double worst = 0;
    for (const ConsumerStats& consumer : consumers_) {
      if (!rule.consumer.empty() && consumer.name != rule.consumer) continue;
      worst = std::max(worst, static_cast<double>(consumer.lag_records));
    }
    return {worst, true};
  }
  const PartnerSeries* series = state_.Find(subject);
  if (series == nullptr) return {};
  if (rule.kind == AlertKind::kSilence) return {SilentSeconds(*series, now_s), true};
  const BucketValues window = series->SumSeconds(now_s, rule.window_s);
  switch (rule.kind) {
    case AlertKind::kErrorRate: {
      const auto volume = static_cast<std::int64_t>(window.events + window.ingest_errors());
      return {window.error_pct(), volume > 0 && volume >= rule.min_events};
    }
    case AlertKind::kDuplicateRate: {
      const auto volume = static_cast<std::int64_t>(window.events);
      return {window.duplicate_pct(), volume > 0 && volume >= rule.min_events};
    }
    case AlertKind::kSignatureFailures:
      return {static_cast<double>(window.errors[static_cast<int>(IngestError::kBadSignature)]),
              true};
    default:
      return {};
  }
}

std::string AlertEvaluator::Describe(const AlertRule& rule, const std::string& subject,
                                     double value, double threshold) const {
  std::string what;
  switch (rule.kind) {
    case AlertKind::kErrorRate:
      what = "error rate";
      break;
    case AlertKind::kDuplicateRate:
      what = "duplicate rate";
      break;
    case AlertKind::kSilence:
      what = "no arrival for";
      break;
    case AlertKind::kSignatureFailures:
      what = "signature failures";
      break;
    case AlertKind::kQueueLag:
      what = "consumer lag";
      break;
  }
  const std::string unit = Unit(rule.kind);
  std::string text = fmt::format("{} {}: {} {:.1f}{}", rule.name, subject, what, value, unit);
  if (rule.kind != AlertKind::kSilence && rule.kind != AlertKind::kQueueLag) {
    text += fmt::format(" over {} s", rule.window_s);
  }
  text += fmt::format(" (threshold {:g}{})", threshold, unit);
  return text;
}

void AlertEvaluator::Step(const RuleSubjects& entry, const std::string& subject, double threshold,
                          double resolve_threshold, const Reading& reading, TimestampUs now,
                          std::vector<Alert>* changes) {
  const AlertRule& rule = entry.rule;
  const bool breach = reading.judgeable && reading.value > threshold;
  const bool recovered = !reading.judgeable || reading.value < resolve_threshold ||
                         (rule.kind == AlertKind::kSilence && reading.value <= resolve_threshold);
  const auto key = std::make_pair(rule.name, subject);
  auto found = active_.find(key);
  if (found == active_.end()) {
    if (!breach) return;
    Alert alert;
    alert.id = next_id_++;
    alert.rule = rule.name;
    alert.kind = rule.kind;
    alert.subject = subject;
    alert.severity = rule.severity;
    alert.threshold = threshold;
    alert.resolve_threshold = resolve_threshold;
    alert.window_s = rule.window_s;
    alert.pending_since = now;
    found = active_.emplace(key, std::move(alert)).first;
  }
  Alert& alert = found->second;
  alert.value = reading.value;
  if (alert.state == AlertState::kPending) {
    if (!breach) {
      active_.erase(found);
      return;
    }
    if (now.value() - alert.pending_since.value() < rule.for_s * 1'000'000) return;
    alert.state = AlertState::kFiring;
    alert.fired_at = now;
    alert.message = Describe(rule, subject, reading.value, threshold);
    spdlog::warn("ops: alert firing: {} partner={}", alert.message, subject);
    changes->push_back(alert);
    return;
  }
  // Firing.
  if (!recovered) {
    alert.recovering_since = TimestampUs(0);
    return;
  }
  if (alert.recovering_since.value() == 0) alert.recovering_since = now;
  if (now.value() - alert.recovering_since.value() < rule.resolve_hold_s * 1'000'000) return;
  alert.state = AlertState::kResolved;
  alert.resolved_at = now;
  alert.message = Describe(rule, subject, reading.value, threshold) + " - resolved";
  spdlog::info("ops: alert resolved: {} partner={}", alert.message, subject);
  changes->push_back(alert);
  recent_.push_front(alert);
  while (recent_.size() > static_cast<std::size_t>(state_.config().ops.recent_alerts_max)) {
    recent_.pop_back();
  }
  active_.erase(found);
}

std::vector<Alert> AlertEvaluator::Evaluate(TimestampUs now) {
  consumers_ = queue_stats_ ? queue_stats_() : std::vector<ConsumerStats>{};
  const std::int64_t now_s = now.value() / 1'000'000;
  std::vector<Alert> changes;
  std::lock_guard lock(mutex_);
  for (const RuleSubjects& entry : rules_) {
    if (entry.rule.kind == AlertKind::kQueueLag) {
      const std::string subject = entry.rule.consumer.empty() ? "queue" : entry.rule.consumer;
      Step(entry, subject, entry.rule.threshold, entry.rule.resolve_threshold,
           Read(entry.rule, subject, now_s), now, &changes);
      continue;
    }
    for (const std::string& subject : entry.subjects) {
      double threshold = entry.rule.threshold;
      double resolve_threshold = entry.rule.resolve_threshold;
      if (const auto found = entry.threshold_override.find(subject);
          found != entry.threshold_override.end()) {
        threshold = resolve_threshold = found->second;
      }
      Step(entry, subject, threshold, resolve_threshold, Read(entry.rule, subject, now_s), now,
           &changes);
    }
  }
  int firing = 0;
  for (const auto& [key, alert] : active_) firing += alert.state == AlertState::kFiring;
  firing_gauge_.Set(firing);
  return changes;
}

std::vector<Alert> AlertEvaluator::Active() const {
  std::lock_guard lock(mutex_);
  std::vector<Alert> alerts;
  for (const auto& [key, alert] : active_) alerts.push_back(alert);
  std::sort(alerts.begin(), alerts.end(),
            [](const Alert& a, const Alert& b) { return a.id < b.id; });
  return alerts;
}

std::vector<Alert> AlertEvaluator::Recent() const {
  std::lock_guard lock(mutex_);
  return {recent_.begin(), recent_.end()};
}

int AlertEvaluator::FiringFor(std::string_view partner) const {
  std::lock_guard lock(mutex_);
  int firing = 0;
  for (const auto& [key, alert] : active_) {
    firing += alert.state == AlertState::kFiring && alert.subject == partner;
  }
  return firing;
}

// --- notifications ---------------------------------------------------------------------------

struct AlertNotifier::Worker {
  AlertDestination destination;
  std::size_t queue_max = 0;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::string> queue;
  bool stopping = false;
  std::thread thread;
  Counter* delivered = nullptr;
  Counter* failed = nullptr;
  Counter* dropped = nullptr;

  void Run();
  // One POST; true on a 2xx.
  bool Post(CURL* handle, const std::string& body, std::string* problem);
  // Waits `delay` unless stopping; false when stopping.
  bool Sleep(std::chrono::milliseconds delay);
};

namespace {

std::size_t DiscardBody(char*, std::size_t size, std::size_t count, void* seen) {
  auto* bytes = static_cast<std::size_t*>(seen);
  *bytes += size * count;
  return *bytes > kResponseBytesMax ? 0 : size * count;  // 0 aborts an endless answer
}

}  // namespace

bool AlertNotifier::Worker::Post(CURL* handle, const std::string& body, std::string* problem) {
  curl_easy_reset(handle);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::size_t seen = 0;
  curl_easy_setopt(handle, CURLOPT_URL, destination.url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(destination.timeout_ms));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(destination.timeout_ms));
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &DiscardBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &seen);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "firehose-ops-alerts/1");
  const CURLcode code = curl_easy_perform(handle);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    *problem = curl_easy_strerror(code);
    return false;
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return true;
  *problem = "HTTP " + std::to_string(status);
  return false;
}

bool AlertNotifier::Worker::Sleep(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex);
  wake.wait_for(lock, delay, [this] { return stopping; });
  return !stopping;
}

void AlertNotifier::Worker::Run() {
  CURL* handle = curl_easy_init();
  FH_CHECK(handle != nullptr, "curl_easy_init failed");
  while (true) {
    std::string body;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [this] { return stopping || !queue.empty(); });
      if (stopping) break;
      body = std::move(queue.front());
      queue.pop_front();
    }
    std::int64_t backoff_ms = destination.backoff_initial_ms;
    bool delivered_now = false;
    std::string problem;
    for (std::int64_t attempt = 1; attempt <= destination.attempts_max; ++attempt) {
      if (Post(handle, body, &problem)) {
        delivered_now = true;
        break;
      }
      spdlog::warn("ops: alert destination={} attempt {} failed: {}", destination.name, attempt,
                   problem);
      if (attempt == destination.attempts_max) break;
      if (!Sleep(std::chrono::milliseconds(backoff_ms))) break;
      backoff_ms = std::min(backoff_ms * 2, destination.backoff_max_ms);
    }
    (delivered_now ? delivered : failed)->Add();
    if (!delivered_now) {
      spdlog::error("ops: alert notification to destination={} given up: {}", destination.name,
                    problem);
    }
  }
  curl_easy_cleanup(handle);
}

AlertNotifier::AlertNotifier(const Config& config) {
  static const CURLcode kGlobalInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  FH_CHECK(kGlobalInit == CURLE_OK, "curl_global_init failed");
  for (const AlertDestination& destination : config.ops.destinations) {
    auto worker = std::make_unique<Worker>();
    worker->destination = destination;
    worker->queue_max = static_cast<std::size_t>(config.limits.alert_queue_max);
    auto counter = [&](std::string_view outcome) {
      return &Metrics().CounterFor(
          "firehose_ops_alert_notifications_total",
          {{"destination", destination.name}, {"outcome", std::string(outcome)}});
    };
    worker->delivered = counter("delivered");
    worker->failed = counter("failed");
    worker->dropped = counter("dropped");
    workers_.push_back(std::move(worker));
  }
  Metrics().Describe("firehose_ops_alert_notifications_total",
                     "Alert notifications to webhook destinations, by outcome");
}

AlertNotifier::~AlertNotifier() { Stop(); }

void AlertNotifier::Start() {
  for (auto& worker : workers_) {
    if (!worker->thread.joinable()) worker->thread = std::thread([w = worker.get()] { w->Run(); });
  }
}

void AlertNotifier::Enqueue(const std::string& body) {
  for (auto& worker : workers_) {
    {
      std::lock_guard lock(worker->mutex);
      if (worker->queue.size() >= worker->queue_max) {
        worker->queue.pop_front();
        worker->dropped->Add();
        spdlog::warn(
            "ops: alert queue of destination={} is full (alert_queue_max={}): dropped "
            "the oldest notification",
            worker->destination.name, worker->queue_max);
      }
      worker->queue.push_back(body);
    }
    worker->wake.notify_one();
  }
}

void AlertNotifier::Stop() {
  for (auto& worker : workers_) {
    {
      std::lock_guard lock(worker->mutex);
      worker->stopping = true;
    }
    worker->wake.notify_all();
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

}  // namespace firehose::ops
