#include "ops/error_relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "queue/nats_connection.h"

namespace firehose::ops {

namespace {

constexpr std::string_view kMessagesFamily = "firehose_ops_relay_messages_total";
constexpr std::string_view kErrorsFamily = "firehose_ops_relayed_errors_total";
// How long Stop waits for the last messages to leave the process, and for a message being
// applied to finish.
constexpr std::int64_t kStopFlushMs = 1000;
constexpr std::chrono::seconds kStopCompleteWait{5};

void DescribeFamilies() {
  Metrics().Describe(kMessagesFamily,
                     "ops error relay messages, by role (ingest: sent; ops: received) and outcome");
  Metrics().Describe(kErrorsFamily,
                     "ingest error counts carried by the ops error relay, by role and outcome");
}

Counter& MessagesCounter(std::string_view role, std::string_view outcome) {
  DescribeFamilies();
  return Metrics().CounterFor(kMessagesFamily,
                              {{"role", std::string(role)}, {"outcome", std::string(outcome)}});
}

Counter& ErrorsCounter(std::string_view role, std::string_view outcome) {
  DescribeFamilies();
  return Metrics().CounterFor(kErrorsFamily,
                              {{"role", std::string(role)}, {"outcome", std::string(outcome)}});
}

std::uint64_t Sum(const std::vector<RelayCount>& counts) {
  std::uint64_t total = 0;
  for (const RelayCount& count : counts) total += count.count;
  return total;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RelayTally

bool RelayTally::Add(RelaySource source, std::string_view partner, std::string_view reason,
                     std::uint64_t count, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto found = counts_.find(KeyView{source, partner, reason});
  if (found != counts_.end()) {
    found->second += count;
    return true;
  }
  if (counts_.size() >= entries_max_) return false;
  if (counts_.empty()) oldest_ = now;
  counts_.emplace(Key{source, std::string(partner), std::string(reason)}, count);
  return true;
}

std::vector<RelayCount> RelayTally::Take() {
  std::map<Key, std::uint64_t, KeyLess> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(counts_);
  }
  std::vector<RelayCount> counts;
  counts.reserve(taken.size());
  for (auto& [key, count] : taken) {
    counts.push_back(RelayCount{key.source, std::move(key.partner), std::move(key.reason), count});
  }
  return counts;
}

bool RelayTally::empty() const {
  std::lock_guard lock(mutex_);
  return counts_.empty();
}

std::size_t RelayTally::entries() const {
  std::lock_guard lock(mutex_);
  return counts_.size();
}

RelayTally::Clock::time_point RelayTally::oldest() const {
  std::lock_guard lock(mutex_);
  return oldest_;
}

// ---------------------------------------------------------------------------------------------
// ErrorRelayPublisher

ErrorRelayPublisher::ErrorRelayPublisher(const Config& config, ErrorRelayPublisherOptions options)
    : options_(std::move(options)),
      subject_(ErrorRelaySubject(config.queue.stream)),
      message_bytes_max_(static_cast<std::size_t>(config.limits.ops_relay_message_bytes_max)),
      hold_(config.limits.ops_relay_hold_s),
      tally_(static_cast<std::size_t>(config.limits.ops_relay_entries_max)),
      messages_published_(MessagesCounter("ingest", "published")),
      messages_failed_(MessagesCounter("ingest", "failed")),
      errors_sent_(ErrorsCounter("ingest", "sent")),
      errors_dropped_full_(ErrorsCounter("ingest", "dropped_full")),
      errors_dropped_unreachable_(ErrorsCounter("ingest", "dropped_unreachable")),
      errors_dropped_failed_(ErrorsCounter("ingest", "dropped_failed")),
      errors_dropped_invalid_(ErrorsCounter("ingest", "dropped_invalid")) {}

Result<std::unique_ptr<ErrorRelayPublisher>> ErrorRelayPublisher::Start(
    const Config& config, ErrorRelayPublisherOptions options) {
  std::unique_ptr<ErrorRelayPublisher> publisher(
      new ErrorRelayPublisher(config, std::move(options)));
  FH_RETURN_IF_ERROR(
      ConnectNats(config.queue.nats_urls, "firehose-ops-relay", &publisher->connection_)
          .WithContext("ops error relay"));
  publisher->thread_ = std::thread([raw = publisher.get()] { raw->Run(); });
  spdlog::info("ops error relay: sending this process's ingest errors on {} as {}",
               publisher->subject_, publisher->options_.sender);
  return publisher;
}

ErrorRelayPublisher::~ErrorRelayPublisher() { Stop(); }

void ErrorRelayPublisher::OnRejected(std::string_view partner, std::string_view reason) {
  Record(RelaySource::kWebhook, partner, reason);
}

void ErrorRelayPublisher::OnPollFailure(std::string_view partner, std::string_view reason) {
  Record(RelaySource::kPoll, partner, reason);
}

void ErrorRelayPublisher::Record(RelaySource source, std::string_view partner,
                                 std::string_view reason) {
  // Partners and reasons are Firehose's own (configured ids, "_unknown", error codes): one that
  // the format cannot carry is a bug elsewhere, and costs ops one count, not this process.
  if (!IsValidRelayPartner(partner) || !IsValidRelayReason(reason)) {
    errors_dropped_invalid_.Add();
    LogThrottled("invalid", fmt::format("ops error relay: dropped an error the relay format "
                                        "cannot carry (source={} reason of {} bytes)",
                                        RelaySourceName(source), reason.size()));
    return;
  }
  if (tally_.Add(source, partner, reason, 1)) return;
  errors_dropped_full_.Add();
  LogThrottled("full", fmt::format("ops error relay: ops_relay_entries_max ({}) distinct "
                                   "(partner, reason) counts held; dropped partner={} reason={}",
                                   tally_.entries(), partner, reason));
}

void ErrorRelayPublisher::LogThrottled(std::string_view key, const std::string& line) {
  std::uint64_t held_back = 0;
  if (!log_throttle_.Allow(key, &held_back)) return;
  if (held_back > 0) {
    spdlog::warn("{} ({} more like it not logged)", line, held_back);
  } else {
    spdlog::warn("{}", line);
  }
}

void ErrorRelayPublisher::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    PublishNow();
    lock.lock();
  }
}

bool ErrorRelayPublisher::connected() const {
  std::lock_guard publishing(publish_mutex_);
  return connection_ != nullptr && natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

void ErrorRelayPublisher::PublishNow() {
  std::lock_guard publishing(publish_mutex_);
  PublishLocked();
}

void ErrorRelayPublisher::PublishLocked() {
  if (tally_.empty() || connection_ == nullptr) return;
  if (natsConnection_Status(connection_) != NATS_CONN_STATUS_CONNECTED) {
    if (RelayTally::Clock::now() - tally_.oldest() < hold_) return;  // held for the reconnect
    const std::uint64_t dropped = Sum(tally_.Take());
    errors_dropped_unreachable_.Add(dropped);
    LogThrottled("unreachable",
                 fmt::format("ops error relay: nats unreachable for {} s; dropped {} ingest error "
                             "counts held for ops (ops_relay_hold_s)",
                             hold_.count(), dropped));
    return;
  }
  const std::vector<EncodedRelayMessage> messages =
      EncodeRelayMessages(options_.sender, next_seq_, NowUs(), tally_.Take(), message_bytes_max_);
  next_seq_ += messages.size();
  for (const EncodedRelayMessage& message : messages) {
    const natsStatus status = natsConnection_Publish(
        connection_, subject_.c_str(), message.text.data(), static_cast<int>(message.text.size()));
    if (status == NATS_OK) {
      messages_published_.Add();
      errors_sent_.Add(message.errors);
      continue;
    }
    messages_failed_.Add();
    errors_dropped_failed_.Add(message.errors);
    LogThrottled("publish", fmt::format("ops error relay: publishing {} bytes on {}: {}",
                                        message.text.size(), subject_, NatsStatusText(status)));
  }
}

void ErrorRelayPublisher::Stop() {
  if (stopped_.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard publishing(publish_mutex_);
  if (connection_ == nullptr) return;
  PublishLocked();
  if (!tally_.empty()) {  // held for a reconnect that will not come now
    errors_dropped_unreachable_.Add(Sum(tally_.Take()));
  }
  natsConnection_FlushTimeout(connection_, kStopFlushMs);
  natsConnection_Close(connection_);
  natsConnection_Destroy(connection_);
  connection_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// RelayReceiver

RelayReceiver::RelayReceiver(OpsState& state, std::size_t message_bytes_max)
    : state_(state),
      message_bytes_max_(message_bytes_max),
      applied_(MessagesCounter("ops", "applied")),
      too_large_(MessagesCounter("ops", "too_large")),
      malformed_(MessagesCounter("ops", "malformed")),
      unknown_version_(MessagesCounter("ops", "unknown_version")),
      slow_consumer_(MessagesCounter("ops", "slow_consumer")),
      errors_applied_(ErrorsCounter("ops", "applied")),
      errors_unknown_partner_(ErrorsCounter("ops", "unknown_partner")) {}

std::string_view RelayReceiver::Receive(std::string_view data) {
  auto message = DecodeRelayMessage(data, message_bytes_max_);
  if (!message.ok()) {
    const Status& status = message.status();
    std::string_view outcome = "malformed";
    Counter* counter = &malformed_;
    if (status.code() == StatusCode::kResourceExhausted) {
      outcome = "too_large";
      counter = &too_large_;
    } else if (status.code() == StatusCode::kFailedPrecondition) {
      outcome = "unknown_version";
      counter = &unknown_version_;
    }
    counter->Add();
    LogThrottled(outcome, fmt::format("ops error relay: dropped a message of {} bytes ({}): {}",
                                      data.size(), outcome, status.message()));
    return outcome;
  }
  // Booked when the sender sent them, but never in this process's future (a sender's clock
  // ahead would put them where no window looks yet).
  const TimestampUs at = std::min(message->at, state_.Now());
  for (const RelayCount& count : message->errors) {
    const auto value = static_cast<std::uint32_t>(count.count);  // <= kRelayCountMax
    const bool known = count.source == RelaySource::kWebhook
                           ? state_.RecordRejections(at, count.partner, count.reason, value)
                           : state_.RecordPollFailures(at, count.partner, value);
    (known ? errors_applied_ : errors_unknown_partner_).Add(count.count);
  }
  applied_.Add();
  return "applied";
}

void RelayReceiver::CountSlowConsumerDrops(std::uint64_t messages) {
  slow_consumer_.Add(messages);
  LogThrottled("slow_consumer", fmt::format("ops error relay: the nats client dropped {} messages "
                                            "(ops_relay_pending_bytes_max reached)",
                                            messages));
}

void RelayReceiver::LogThrottled(std::string_view outcome, const std::string& line) {
  std::uint64_t held_back = 0;
  if (!log_throttle_.Allow(outcome, &held_back)) return;
  if (held_back > 0) {
    spdlog::warn("{} ({} more like it not logged)", line, held_back);
  } else {
    spdlog::warn("{}", line);
  }
}

// ---------------------------------------------------------------------------------------------
// ErrorRelaySubscriber

ErrorRelaySubscriber::ErrorRelaySubscriber(const Config& config, OpsState& state)
    : receiver_(state, static_cast<std::size_t>(config.limits.ops_relay_message_bytes_max)) {}

Result<std::unique_ptr<ErrorRelaySubscriber>> ErrorRelaySubscriber::Start(const Config& config,
                                                                          OpsState& state) {
  std::unique_ptr<ErrorRelaySubscriber> subscriber(new ErrorRelaySubscriber(config, state));
  FH_RETURN_IF_ERROR(
      ConnectNats(config.queue.nats_urls, "firehose-ops-relay", &subscriber->connection_)
          .WithContext("ops error relay"));
  const std::string subject = ErrorRelaySubject(config.queue.stream);
  natsStatus status = natsConnection_Subscribe(&subscriber->subscription_, subscriber->connection_,
                                               subject.c_str(), &OnMessage, subscriber.get());
  if (status == NATS_OK) {
    status = natsSubscription_SetPendingLimits(
        subscriber->subscription_, -1, static_cast<int>(config.limits.ops_relay_pending_bytes_max));
  }
  if (status == NATS_OK) {
    status =
        natsSubscription_SetOnCompleteCB(subscriber->subscription_, &OnComplete, subscriber.get());
    subscriber->completion_registered_ = status == NATS_OK;
  }
  if (status != NATS_OK) {
    return NatsFailure(status, 0, "ops error relay: subscribing to " + subject);
  }
  // The subscription is registered with the server once this returns: a sender that starts
  // afterwards is heard from its first message.
  status = natsConnection_FlushTimeout(subscriber->connection_, kStopFlushMs);
  if (status != NATS_OK) {
    return NatsFailure(status, 0, "ops error relay: subscribing to " + subject);
  }
  spdlog::info("ops error relay: counting ingest errors other processes send on {}", subject);
  return subscriber;
}

ErrorRelaySubscriber::~ErrorRelaySubscriber() { Stop(); }

void ErrorRelaySubscriber::OnMessage(natsConnection*, natsSubscription* subscription, natsMsg* msg,
                                     void* closure) {
  auto* self = static_cast<ErrorRelaySubscriber*>(closure);
  self->receiver_.Receive(
      std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
  std::int64_t dropped = 0;
  if (natsSubscription_GetDropped(subscription, &dropped) == NATS_OK) {
    const std::int64_t seen = self->dropped_seen_.exchange(dropped);
    if (dropped > seen)
      self->receiver_.CountSlowConsumerDrops(static_cast<std::uint64_t>(dropped - seen));
  }
}

void ErrorRelaySubscriber::OnComplete(void* closure) {
  auto* self = static_cast<ErrorRelaySubscriber*>(closure);
  {
    std::lock_guard lock(self->mutex_);
    self->completed_ = true;
  }
  self->completed_cv_.notify_all();
}

void ErrorRelaySubscriber::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (subscription_ != nullptr) {
    const bool unsubscribed = natsSubscription_Unsubscribe(subscription_) == NATS_OK;
    std::unique_lock lock(mutex_);
    if (unsubscribed && completion_registered_ &&
        !completed_cv_.wait_for(lock, kStopCompleteWait, [this] { return completed_; })) {
      spdlog::warn("ops error relay: the subscription did not complete within {} s",
                   kStopCompleteWait.count());
    }
  }
  if (connection_ != nullptr) natsConnection_Close(connection_);
  natsSubscription_Destroy(subscription_);
  natsConnection_Destroy(connection_);
  subscription_ = nullptr;
  connection_ = nullptr;
}

}  // namespace firehose::ops
