#include "queue/jetstream_queue.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "core/check.h"
#include "core/metrics.h"
#include "queue/nats_connection.h"

namespace firehose {

namespace {

constexpr std::string_view kSubjectPrefix = "firehose.raw.";
constexpr const char* kAllSubjects = "firehose.raw.>";
constexpr std::chrono::seconds kMaintenanceInterval{10};
constexpr std::chrono::seconds kFullHold{1};
// Nats-Msg-Id duplicates are detected for this long (JetStream's default window).
constexpr std::int64_t kDuplicateWindowNs = 120'000'000'000;
// JetStream API requests (stream/consumer info, create, delete, ack) wait this long.
constexpr std::int64_t kApiWaitMs = 5000;
constexpr std::chrono::seconds kSettleRetryFor{15};
// How long past a pull's own wait its answer may take to arrive (a loaded server, a slow link).
constexpr std::chrono::milliseconds kPullAnswerGrace{2000};

std::string PartnerLabel(const PartnerId& partner) {
  return partner.empty() ? std::string("_unknown") : partner.str();
}

Counter& RejectedCounter(const PartnerId& partner, std::string_view reason) {
  return Metrics().CounterFor(
      "firehose_rejected_total",
      {{"stage", "queue"}, {"partner", PartnerLabel(partner)}, {"reason", std::string(reason)}});
}

Counter& ErrorCounter(std::string_view kind) {
  return Metrics().CounterFor("firehose_errors_total",
                              {{"stage", "queue"}, {"kind", std::string(kind)}});
}

struct ConsumerInfoHandle {
  jsConsumerInfo* info = nullptr;
  ~ConsumerInfoHandle() { jsConsumerInfo_Destroy(info); }
};

struct StreamInfoHandle {
  jsStreamInfo* info = nullptr;
  ~StreamInfoHandle() { jsStreamInfo_Destroy(info); }
};

// The last stream sequence a consumer has acknowledged. A consumer created to start at sequence
// S reports an ack floor of 0 until its first ack: its floor is S - 1.
std::uint64_t AckFloor(const jsConsumerInfo* info) {
  std::uint64_t floor = info->AckFloor.Stream;
  if (info->Config != nullptr && info->Config->DeliverPolicy == js_DeliverByStartSequence &&
      info->Config->OptStartSeq > 0) {
    floor = std::max<std::uint64_t>(floor, info->Config->OptStartSeq - 1);
  }
  return floor;
}

bool IsConsumerNotFound(natsStatus status, jsErrCode error_code) {
  return status == NATS_NOT_FOUND || error_code == JSConsumerNotFoundErr;
}

}  // namespace

std::string JetStreamSubject(std::string_view partner_id) {
  std::string subject(kSubjectPrefix);
  subject += partner_id;
  return subject;
}

// ---------------------------------------------------------------------------------------------
// Core: the connection, the JetStream context and the appends waiting for their PubAck. Shared
// by the queue and its consumers (a consumer may outlive the queue object).

class JetStreamQueue::Core {
 public:
  Core(const QueueConfig& config, const Limits& limits) : config_(config), limits_(limits) {}
  ~Core();

  Status Connect();
  Status EnsureStream();
  // Creates consumer `name` (delivering from the oldest record) unless it exists.
  Status EnsureConsumer(const std::string& name);
  // Deletes consumer `name` (if it exists) and creates it anew, delivering from stream sequence
  // `start` with its ack floor at start - 1.
  Status RecreateConsumer(const std::string& name, std::uint64_t start);
  Result<std::uint64_t> StreamFirstSequence();

  void Append(QueueRecord record, AppendCallback done);
  void OnPubAck(natsMsg* msg, jsPubAck* ack, jsPubAckErr* error);
  QueueStats Stats();
  bool Full() const {
    return std::chrono::steady_clock::now().time_since_epoch().count() < full_until_.load();
  }
  void Shutdown();
  Result<std::uint64_t> EnforceRetention();
  void StartMaintenance();

  // In-process registry of open consumer objects (one per name, as on the embedded log).
  bool MarkOpen(const std::string& name) {
    std::lock_guard lock(mutex_);
    return open_consumers_.insert(name).second;
  }
  void MarkClosed(const std::string& name) {
    std::lock_guard lock(mutex_);
    open_consumers_.erase(name);
  }
  bool IsOpen(const std::string& name) {
    std::lock_guard lock(mutex_);
    return open_consumers_.count(name) > 0;
  }

  natsConnection* connection() const { return connection_; }
  jsCtx* js() const { return js_; }
  const QueueConfig& config() const { return config_; }
  const Limits& limits() const { return limits_; }

 private:
  struct Pending {
    AppendCallback done;
    PartnerId partner;
  };

  void MaintenanceLoop();
  void Refuse(const PartnerId& partner, std::string_view reason, Status status,
              const AppendCallback& done);

  const QueueConfig config_;
  const Limits limits_;
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;

  std::mutex mutex_;
  std::unordered_map<natsMsg*, Pending> pending_;  // guarded by mutex_
  bool accepting_ = true;                          // guarded by mutex_
  std::set<std::string> open_consumers_;           // guarded by mutex_
  std::atomic<bool> shut_down_{false};
  std::atomic<std::int64_t> full_until_{0};  // steady_clock ticks

  std::mutex maintenance_mutex_;
  std::condition_variable maintenance_cv_;
  bool maintenance_stop_ = false;  // guarded by maintenance_mutex_
  std::thread maintenance_thread_;
  // (when, lowest ack floor of every configured consumer), oldest first: a record is purged
  // once it was below every floor retention_s ago. Guarded by retention_mutex_.
  std::mutex retention_mutex_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> floors_;

  Counter& written_events_ =
      Metrics().CounterFor("firehose_written_events_total", {{"stage", "queue"}});
};

JetStreamQueue::Core::~Core() {
  Shutdown();
  if (connection_ != nullptr) natsConnection_Close(connection_);
  jsCtx_Destroy(js_);
  natsConnection_Destroy(connection_);
}

Status JetStreamQueue::Core::Connect() {
  // Appends fail fast (Unavailable) while disconnected (Append checks the status) instead of
  // piling up in the client's reconnect buffer.
  FH_RETURN_IF_ERROR(ConnectNats(config_.nats_urls, "firehose", &connection_));
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = kApiWaitMs;
  js_options.PublishAsync.MaxPending = limits_.jetstream_in_flight_max + 64;
  js_options.PublishAsync.AckHandler = [](jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error,
                                          void* closure) {
    static_cast<Core*>(closure)->OnPubAck(msg, ack, error);
  };
  js_options.PublishAsync.AckHandlerClosure = this;
  const natsStatus status = natsConnection_JetStream(&js_, connection_, &js_options);
  if (status != NATS_OK) return NatsFailure(status, 0, "jetstream context");
  return Status::Ok();
}

Status JetStreamQueue::Core::EnsureStream() {
  StreamInfoHandle existing;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus status =
      js_GetStreamInfo(&existing.info, js_, config_.stream.c_str(), nullptr, &error_code);
  if (status == NATS_OK) {
    if (existing.info->Config->Replicas != config_.replicas) {
      spdlog::warn("queue: stream {} has {} replicas, the config asks for {} (left as it is)",
                   config_.stream, existing.info->Config->Replicas, config_.replicas);
    }
    return Status::Ok();
  }
  if (status != NATS_NOT_FOUND && error_code != JSStreamNotFoundErr) {
    return NatsFailure(status, error_code, "stream info of " + config_.stream);
  }
  jsStreamConfig stream;
  jsStreamConfig_Init(&stream);
  const char* subjects[] = {kAllSubjects};
  stream.Name = config_.stream.c_str();
  stream.Description = "firehose arrivals (queue records), one subject per partner";
  stream.Subjects = subjects;
  stream.SubjectsLen = 1;
  stream.Storage = js_FileStorage;
  stream.Replicas = config_.replicas;
  stream.Retention = js_LimitsPolicy;  // deletion is ours: see EnforceRetention
  stream.Discard = js_DiscardNew;      // a full stream refuses (503), never drops stored records
  stream.MaxBytes = limits_.queue_bytes_max;
  stream.MaxMsgSize = static_cast<std::int32_t>(limits_.record_bytes_max + 4096);
  stream.Duplicates = kDuplicateWindowNs;
  StreamInfoHandle created;
  status = js_AddStream(&created.info, js_, &stream, nullptr, &error_code);
  if (error_code == JSStreamSubjectOverlapErr) {
    return FailedPrecondition("creating stream " + config_.stream + ": another stream of this " +
                              "cluster already takes the subjects " + kAllSubjects);
  }
  if (status != NATS_OK && error_code != JSStreamNameExistErr) {
    return NatsFailure(status, error_code, "creating stream " + config_.stream);
  }
  spdlog::info("queue: created stream {} ({} replicas, file storage, {} bytes max)", config_.stream,
               config_.replicas, limits_.queue_bytes_max);
  return Status::Ok();
}

namespace {

void InitConsumerConfig(jsConsumerConfig* consumer, const char* name, const Limits& limits) {
  jsConsumerConfig_Init(consumer);
  consumer->Durable = name;
  consumer->AckPolicy = js_AckAll;
  consumer->AckWait = limits.jetstream_ack_wait_ms * 1'000'000;
  consumer->MaxAckPending = limits.jetstream_ack_pending_max;
  consumer->MaxDeliver = -1;
  consumer->FilterSubject = kAllSubjects;
  consumer->DeliverPolicy = js_DeliverAll;
}

}  // namespace

Status JetStreamQueue::Core::EnsureConsumer(const std::string& name) {
  ConsumerInfoHandle info;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetConsumerInfo(&info.info, js_, config_.stream.c_str(), name.c_str(),
                                         nullptr, &error_code);
  if (status == NATS_OK) return Status::Ok();
  if (!IsConsumerNotFound(status, error_code)) {
    return NatsFailure(status, error_code, "consumer info of " + name);
  }
  jsConsumerConfig consumer;
  InitConsumerConfig(&consumer, name.c_str(), limits_);
  ConsumerInfoHandle created;
  status =
      js_AddConsumer(&created.info, js_, config_.stream.c_str(), &consumer, nullptr, &error_code);
  if (status != NATS_OK && error_code != JSConsumerNameExistErr) {
    return NatsFailure(status, error_code, "creating consumer " + name);
  }
  return Status::Ok();
}

Status JetStreamQueue::Core::RecreateConsumer(const std::string& name, std::uint64_t start) {
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus status =
      js_DeleteConsumer(js_, config_.stream.c_str(), name.c_str(), nullptr, &error_code);
  if (status != NATS_OK && !IsConsumerNotFound(status, error_code)) {
    return NatsFailure(status, error_code, "deleting consumer " + name);
  }
  jsConsumerConfig consumer;
  InitConsumerConfig(&consumer, name.c_str(), limits_);
  if (start > 1) {
    consumer.DeliverPolicy = js_DeliverByStartSequence;
    consumer.OptStartSeq = start;
  }
  ConsumerInfoHandle created;
  status =
      js_AddConsumer(&created.info, js_, config_.stream.c_str(), &consumer, nullptr, &error_code);
  if (status != NATS_OK) return NatsFailure(status, error_code, "creating consumer " + name);
  return Status::Ok();
}

Result<std::uint64_t> JetStreamQueue::Core::StreamFirstSequence() {
  StreamInfoHandle info;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  const natsStatus status =
      js_GetStreamInfo(&info.info, js_, config_.stream.c_str(), nullptr, &error_code);
  if (status != NATS_OK) return NatsFailure(status, error_code, "stream info of " + config_.stream);
  // An empty stream reports first = last + 1: the next record's sequence.
  return std::max<std::uint64_t>(info.info->State.FirstSeq, 1);
}

void JetStreamQueue::Core::Refuse(const PartnerId& partner, std::string_view reason, Status status,
                                  const AppendCallback& done) {
  RejectedCounter(partner, reason).Add();
  done(std::move(status));
}

void JetStreamQueue::Core::Append(QueueRecord record, AppendCallback done) {
  const PartnerId partner = record.partner_id;
  const Labels labels = {{"stage", "queue"}, {"partner", PartnerLabel(partner)}};
  Metrics().CounterFor("firehose_received_total", labels).Add();
  if (record.arrival_id.empty() || partner.empty()) {
    return Refuse(partner, "invalid_record",
                  InvalidArgument("a queue record needs an arrival id and a partner id"), done);
  }
  const std::size_t size = EncodedRecordSize(record);
  if (size > static_cast<std::size_t>(limits_.record_bytes_max)) {
    return Refuse(
        partner, "record_too_large",
        InvalidArgument("record of " + std::to_string(size) + " bytes is over record_bytes_max = " +
                        std::to_string(limits_.record_bytes_max)),
        done);
  }
  if (natsConnection_Status(connection_) != NATS_CONN_STATUS_CONNECTED) {
    return Refuse(partner, "unavailable", Unavailable("not connected to nats (reconnecting)"),
                  done);
  }
  std::string data;
  data.reserve(size);
  EncodeRecord(record, &data);
  const std::string subject = JetStreamSubject(partner.view());
  natsMsg* msg = nullptr;
  natsStatus status =
      natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  if (status == NATS_OK)
    status = natsMsgHeader_Set(msg, "Nats-Msg-Id", std::string(record.arrival_id.view()).c_str());
  if (status != NATS_OK) {
    natsMsg_Destroy(msg);
    return Refuse(partner, "invalid_record", NatsFailure(status, 0, "building the message"), done);
  }
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) {
      natsMsg_Destroy(msg);
      return Refuse(partner, "shutting_down", Unavailable("queue is shutting down"), done);
    }
    if (pending_.size() >= static_cast<std::size_t>(limits_.jetstream_in_flight_max)) {
      natsMsg_Destroy(msg);
      return Refuse(
          partner, "in_flight_full",
          ResourceExhausted("too many appends waiting for a PubAck (jetstream_in_flight_max = " +
                            std::to_string(limits_.jetstream_in_flight_max) + ")"),
          done);
    }
    // Registered before publishing: the PubAck can arrive before js_PublishMsgAsync returns.
    pending_.emplace(msg, Pending{done, partner});
  }
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = limits_.jetstream_ack_timeout_ms;
  options.ExpectStream = config_.stream.c_str();
  natsMsg* published = msg;
  status = js_PublishMsgAsync(js_, &published, &options);
  if (status == NATS_OK) return;  // the library owns the message until OnPubAck
  {
    std::lock_guard lock(mutex_);
    pending_.erase(msg);
  }
  natsMsg_Destroy(published);
  ErrorCounter("publish").Add();
  Refuse(partner, "unavailable", NatsFailure(status, 0, "publishing to " + subject), done);
}

void JetStreamQueue::Core::OnPubAck(natsMsg* msg, jsPubAck* ack, jsPubAckErr* error) {
  Pending pending;
  {
    std::lock_guard lock(mutex_);
    auto found = pending_.find(msg);
    if (found == pending_.end()) {  // already failed by Shutdown
      natsMsg_Destroy(msg);
      return;
    }
    pending = std::move(found->second);
    pending_.erase(found);
  }
  natsMsg_Destroy(msg);
  if (ack != nullptr) {
    full_until_ = 0;
    Metrics()
        .CounterFor("firehose_accepted_total",
                    {{"stage", "queue"}, {"partner", PartnerLabel(pending.partner)}})
        .Add();
    written_events_.Add();
    pending.done(QueueOffset(ack->Sequence));
    return;
  }
  const natsStatus status = error != nullptr ? error->Err : NATS_ERR;
  const jsErrCode error_code = error != nullptr ? error->ErrCode : static_cast<jsErrCode>(0);
  const std::string text = error != nullptr && error->ErrText != nullptr ? error->ErrText : "";
  if (error_code == JSStreamStoreFailedErr || text.find("maximum") != std::string::npos) {
    full_until_ = (std::chrono::steady_clock::now() + kFullHold).time_since_epoch().count();
    return Refuse(
        pending.partner, "queue_full",
        ResourceExhausted("stream " + config_.stream + " is full: " + text +
                          " (queue_bytes_max = " + std::to_string(limits_.queue_bytes_max) + ")"),
        pending.done);
  }
  ErrorCounter("publish").Add();
  if (status == NATS_TIMEOUT) {
    return Refuse(pending.partner, "timeout",
                  Unavailable("no PubAck within jetstream_ack_timeout_ms = " +
                              std::to_string(limits_.jetstream_ack_timeout_ms) + " ms"),
                  pending.done);
  }
  if (status == NATS_NO_RESPONDERS) {
    return Refuse(pending.partner, "unavailable",
                  Unavailable("no JetStream server answers for stream " + config_.stream),
                  pending.done);
  }
  Refuse(pending.partner, "unavailable",
         Unavailable("publish failed: " + std::string(natsStatus_GetText(status)) +
                     (text.empty() ? "" : " (" + text + ")")),
         pending.done);
}

void JetStreamQueue::Core::Shutdown() {
  if (shut_down_.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
  }
  {
    std::lock_guard lock(maintenance_mutex_);
    maintenance_stop_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  if (js_ != nullptr) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = limits_.jetstream_ack_timeout_ms + 1000;
    js_PublishAsyncComplete(js_, &options);
  }
  // Whatever is still waiting gets no PubAck from us any more: it fails (a late PubAck finds
  // nothing and is dropped).
  std::unordered_map<natsMsg*, Pending> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(pending_);
  }
  for (auto& [msg, pending] : left) {
    Refuse(pending.partner, "shutting_down",
           Unavailable("queue shut down before the PubAck arrived"), pending.done);
  }
}

QueueStats JetStreamQueue::Core::Stats() {
  QueueStats stats;
  StreamInfoHandle info;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&info.info, js_, config_.stream.c_str(), nullptr, &error_code) != NATS_OK) {
    return stats;
  }
  const std::uint64_t last = info.info->State.LastSeq;
  stats.first_offset = QueueOffset(std::max<std::uint64_t>(info.info->State.FirstSeq, 1));
  stats.next_offset = QueueOffset(last + 1);
  stats.bytes = info.info->State.Bytes;
  stats.bytes_max =
      static_cast<std::uint64_t>(std::max<std::int64_t>(info.info->Config->MaxBytes, 0));
  jsConsumerInfoList* list = nullptr;
  if (js_Consumers(&list, js_, config_.stream.c_str(), nullptr, &error_code) == NATS_OK) {
    for (int i = 0; i < list->Count; ++i) {
      const jsConsumerInfo* consumer = list->List[i];
      ConsumerStats entry;
      entry.name = consumer->Name;
      const std::uint64_t floor = AckFloor(consumer);
      entry.committed_next = QueueOffset(floor + 1);
      entry.lag_records = last > floor ? last - floor : 0;
      stats.consumers.push_back(std::move(entry));
    }
    jsConsumerInfoList_Destroy(list);
  }
  std::sort(stats.consumers.begin(), stats.consumers.end(),
            [](const ConsumerStats& a, const ConsumerStats& b) { return a.name < b.name; });
  return stats;
}

Result<std::uint64_t> JetStreamQueue::Core::EnforceRetention() {
  std::uint64_t floor = UINT64_MAX;
  for (const std::string& name : config_.consumers) {
    ConsumerInfoHandle info;
    jsErrCode error_code = static_cast<jsErrCode>(0);
    const natsStatus status = js_GetConsumerInfo(&info.info, js_, config_.stream.c_str(),
                                                 name.c_str(), nullptr, &error_code);
    // A consumer being recreated (a Seek) is missing for a moment: no pass without its floor.
    if (status != NATS_OK) return NatsFailure(status, error_code, "consumer info of " + name);
    floor = std::min(floor, AckFloor(info.info));
  }
  if (config_.consumers.empty() || floor == 0) return 0;  // nothing is ever deleted without readers
  const auto now = std::chrono::steady_clock::now();
  const auto cutoff = now - std::chrono::seconds(limits_.retention_s);
  std::uint64_t purge_below = 0;  // purge sequences < purge_below
  {
    std::lock_guard lock(retention_mutex_);
    floors_.emplace_back(now, floor);
    while (!floors_.empty() && floors_.front().first <= cutoff) {
      purge_below = floors_.front().second + 1;
      if (floors_.size() == 1) break;
      floors_.pop_front();
    }
  }
  if (purge_below <= 1) return 0;
  StreamInfoHandle before;
  jsErrCode error_code = static_cast<jsErrCode>(0);
  natsStatus status =
      js_GetStreamInfo(&before.info, js_, config_.stream.c_str(), nullptr, &error_code);
  if (status != NATS_OK) return NatsFailure(status, error_code, "stream info of " + config_.stream);
  if (before.info->State.FirstSeq >= purge_below) return 0;
  jsOptions options;
  jsOptions_Init(&options);
  options.Stream.Purge.Sequence = purge_below;
  status = js_PurgeStream(js_, config_.stream.c_str(), &options, &error_code);
  if (status != NATS_OK) {
    ErrorCounter("purge").Add();
    return NatsFailure(status, error_code, "purging stream " + config_.stream);
  }
  const std::uint64_t purged = purge_below - before.info->State.FirstSeq;
  spdlog::info("queue: purged stream {} below sequence {} (about {} records)", config_.stream,
               purge_below, purged);
  return purged;
}

void JetStreamQueue::Core::StartMaintenance() {
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
}

void JetStreamQueue::Core::MaintenanceLoop() {
  std::unique_lock lock(maintenance_mutex_);
  while (
      !maintenance_cv_.wait_for(lock, kMaintenanceInterval, [this] { return maintenance_stop_; })) {
    lock.unlock();
    const auto purged = EnforceRetention();
    if (!purged.ok()) spdlog::warn("queue: retention pass: {}", purged.status().ToString());
    lock.lock();
  }
}

// ---------------------------------------------------------------------------------------------
// Consumer

namespace {

class JetStreamConsumer final : public QueueConsumer {
 public:
  // `name` must have been marked open in `core`; the destructor marks it closed.
  JetStreamConsumer(std::shared_ptr<JetStreamQueue::Core> core, std::string name)
      : core_(std::move(core)), name_(std::move(name)) {}
  ~JetStreamConsumer() override {
    natsSubscription_Destroy(subscription_);
    core_->MarkClosed(name_);
  }

  // Restarts the durable consumer at its ack floor if it had handed out records nobody
  // acknowledged (a dead process's range): they come first, in order, now rather than after
  // the ack wait.
  Status Open() {
    ConsumerInfoHandle info;
    jsErrCode error_code = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_GetConsumerInfo(&info.info, core_->js(), core_->config().stream.c_str(), name_.c_str(),
                           nullptr, &error_code);
    if (IsConsumerNotFound(status, error_code)) {
      FH_RETURN_IF_ERROR(core_->EnsureConsumer(name_));
      return Restart(0);
    }
    if (status != NATS_OK) return NatsFailure(status, error_code, "consumer info of " + name_);
    const std::uint64_t floor = AckFloor(info.info);
    if (info.info->Delivered.Stream > floor) {
      FH_RETURN_IF_ERROR(core_->RecreateConsumer(name_, floor + 1));
    }
    return Restart(floor + 1);
  }

  Result<std::vector<Delivery>> Fetch(std::size_t records_max, std::size_t bytes_max,
                                      std::chrono::milliseconds wait) override {
    std::vector<Delivery> deliveries;
    if (records_max == 0) return deliveries;
    // A record always fits: a pull that allows fewer bytes than the next message gets nothing.
    const auto record_max = static_cast<std::size_t>(core_->limits().record_bytes_max) + 4096;
    const std::size_t bytes = std::max(bytes_max, record_max);
    // What is there now; if nothing, wait for one record (a pull of a larger batch would be
    // held until the whole batch is there), then take what else is there with it.
    FH_RETURN_IF_ERROR(Pull(records_max, bytes, std::chrono::milliseconds(0), &deliveries));
    if (!deliveries.empty() || wait.count() <= 0) return deliveries;
    FH_RETURN_IF_ERROR(Pull(1, bytes, wait, &deliveries));
    if (deliveries.empty() || records_max == 1) return deliveries;
    const std::size_t first_bytes = deliveries.front().record.body.size();
    FH_RETURN_IF_ERROR(Pull(records_max - 1,
                            std::max(bytes - std::min(bytes, first_bytes), record_max),
                            std::chrono::milliseconds(0), &deliveries));
    return deliveries;
  }

  Status Commit(QueueOffset offset) override {
    if (offset.value() < committed_next_) return Status::Ok();
    auto after = replies_.upper_bound(offset.value());
    if (after == replies_.begin()) {
      return FailedPrecondition("consumer " + name_ + ": offset " + std::to_string(offset.value()) +
                                " was not delivered");
    }
    const auto& [sequence, reply] = *std::prev(after);
    natsMsg* answer = nullptr;
    // A synchronous ack (the server answers once the consumer's ack floor moved): with AckAll
    // it acknowledges every record up to `sequence`.
    const natsStatus status =
        natsConnection_Request(&answer, core_->connection(), reply.c_str(), "+ACK", 4, kApiWaitMs);
    natsMsg_Destroy(answer);
    if (status != NATS_OK) {
      ErrorCounter("consumer").Add();
      return NatsFailure(status, 0, "acknowledging stream sequence " + std::to_string(sequence));
    }
    committed_next_ = offset.value() + 1;
    replies_.erase(replies_.begin(), after);
    return Status::Ok();
  }

  QueueOffset committed_next() const override { return QueueOffset(committed_next_); }

  // Offsets are stream sequences, and a message on firehose.raw.* that is not a record is
  // skipped (Take): a delivery can follow the last one by more than one.
  bool contiguous_offsets() const override { return false; }

  Status Seek(QueueOffset next) override {
    if (next.value() == committed_next_ && expect_ == committed_next_ && replies_.empty()) {
      return Status::Ok();
    }
    FH_ASSIGN_OR_RETURN(const std::uint64_t first, core_->StreamFirstSequence());
    if (next.value() < first) {
      return FailedPrecondition("consumer " + name_ + ": cannot seek to " +
                                std::to_string(next.value()) + ", records before " +
                                std::to_string(first) + " are purged");
    }
    return Reposition(next.value());
  }

 private:
  // One pull request ($JS.API.CONSUMER.MSG.NEXT), answered on an inbox of its own: `batch`
  // records at most (about `bytes`), at once with what is there when `wait` is 0, else as soon
  // as the batch is complete or at the end of `wait`. Appends what it gets, in order, to `out`.
  // The protocol is spoken here rather than through nats.c's fetch so that a late status
  // (404/408) of an earlier request can never end this one early: each answer names its request.
  Status Pull(std::size_t batch, std::size_t bytes, std::chrono::milliseconds wait,
              std::vector<Delivery>* out) {
    const std::uint64_t request_id = ++requests_;
    const std::string reply = inbox_ + "." + std::to_string(request_id);
    std::string request =
        "{\"batch\":" + std::to_string(batch) + ",\"max_bytes\":" + std::to_string(bytes);
    request += wait.count() <= 0 ? std::string(",\"no_wait\":true}")
                                 : ",\"expires\":" + std::to_string(wait.count() * 1'000'000) + "}";
    natsStatus status =
        natsConnection_PublishRequest(core_->connection(), next_subject_.c_str(), reply.c_str(),
                                      request.data(), static_cast<int>(request.size()));
    if (status != NATS_OK) {
      ErrorCounter("consumer").Add();
      return NatsFailure(status, 0, "pull request to consumer " + name_);
    }
    const auto deadline = std::chrono::steady_clock::now() + wait + kPullAnswerGrace;
    std::size_t received = 0;
    while (received < batch) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      natsMsg* raw = nullptr;
      status = natsSubscription_NextMsg(&raw, subscription_, left.count());
      if (status == NATS_TIMEOUT) break;
      if (status != NATS_OK) {
        ErrorCounter("consumer").Add();
        return NatsFailure(status, 0, "reading deliveries of consumer " + name_);
      }
      std::unique_ptr<natsMsg, void (*)(natsMsg*)> msg(raw, natsMsg_Destroy);
      const char* code = nullptr;
      if (natsMsgHeader_Get(raw, "Status", &code) == NATS_OK && code != nullptr) {
        // 404 no messages, 408 expired, 409 over max_bytes or the like: the request is over.
        // 100 is a heartbeat. A status names its request's inbox; one of an earlier request
        // is stale.
        const bool this_request = std::string_view(natsMsg_GetSubject(raw)) == reply;
        if (this_request && std::string_view(code) != "100") break;
        continue;
      }
      // A record (its subject is the stream's, not the inbox): possibly one an earlier request
      // stopped waiting for, but still the next in line, so it is taken and counted.
      ++received;
      FH_RETURN_IF_ERROR(Take(raw, out));
    }
    return Status::Ok();
  }

  // Hands one delivered message to the caller (or drops a redelivery, or reports a hole).
  Status Take(natsMsg* msg, std::vector<Delivery>* out) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) return Status::Ok();  // not a delivery
    const std::uint64_t sequence = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
    if (sequence < expect_) return Status::Ok();  // a redelivery of what was handed out already
    if (sequence > expect_) {
      // A hole: a delivery was lost (broken connection) and would come back only after the ack
      // wait, out of order. Start again from the cursor; the caller recovers and seeks.
      ErrorCounter("consumer").Add();
      const std::uint64_t expected = expect_;
      out->clear();
      FH_RETURN_IF_ERROR(Reposition(committed_next_));
      return Unavailable("consumer " + name_ + " expected stream sequence " +
                         std::to_string(expected) + " but got " + std::to_string(sequence) +
                         "; restarted at the cursor " + std::to_string(committed_next_));
    }
    ++expect_;
    const char* reply = natsMsg_GetReply(msg);
    replies_[sequence] = reply != nullptr ? reply : "";
    auto record = DecodeRecord(std::string_view(
        natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
    if (!record.ok()) {
      // Not an arrival from a Firehose edge (someone else published on firehose.raw.*): it is
      // never delivered, and the next commit acknowledges it with the rest.
      ErrorCounter("foreign_message").Add();
      spdlog::warn("queue: consumer {} skips stream sequence {}: {}", name_, sequence,
                   record.status().ToString());
      return Status::Ok();
    }
    out->push_back(Delivery{QueueOffset(sequence), std::move(record).value()});
    return Status::Ok();
  }

  // The durable consumer starts again at `start` (its ack floor becomes start - 1).
  Status Reposition(std::uint64_t start) {
    FH_RETURN_IF_ERROR(core_->RecreateConsumer(name_, start));
    return Restart(start);
  }

  // Resets the delivery state; delivery resumes at `start` (0: at the oldest record). The
  // inbox subscription is made once and kept: answers to requests made before a restart are
  // told apart by their stream sequence (below expect_: dropped).
  Status Restart(std::uint64_t start) {
    replies_.clear();
    if (start == 0) {
      FH_ASSIGN_OR_RETURN(start, core_->StreamFirstSequence());
      ConsumerInfoHandle info;
      jsErrCode error_code = static_cast<jsErrCode>(0);
      if (js_GetConsumerInfo(&info.info, core_->js(), core_->config().stream.c_str(), name_.c_str(),
                             nullptr, &error_code) == NATS_OK) {
        start = std::max(start, AckFloor(info.info) + 1);
      }
    }
    committed_next_ = start;
    expect_ = start;
    if (subscription_ != nullptr) return Status::Ok();
    natsInbox* inbox = nullptr;
    natsStatus status = natsInbox_Create(&inbox);
    if (status != NATS_OK) return NatsFailure(status, 0, "creating an inbox");
    inbox_ = inbox;
    natsInbox_Destroy(inbox);
    next_subject_ = "$JS.API.CONSUMER.MSG.NEXT." + core_->config().stream + "." + name_;
    status =
        natsConnection_SubscribeSync(&subscription_, core_->connection(), (inbox_ + ".*").c_str());
    if (status != NATS_OK)
      return NatsFailure(status, 0, "subscribing to the inbox of consumer " + name_);
    // What arrives here was asked for by one pull at a time (consumer_fetch_bytes_max, batch),
    // so the client's buffer is bounded by the requests, not by this limit.
    natsSubscription_SetPendingLimits(subscription_, -1, -1);
    return Status::Ok();
  }

  std::shared_ptr<JetStreamQueue::Core> core_;
  const std::string name_;
  natsSubscription* subscription_ = nullptr;
  std::string inbox_;         // deliveries for request n arrive on <inbox_>.<n>
  std::string next_subject_;  // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
  std::uint64_t requests_ = 0;
  std::uint64_t committed_next_ = 1;
  std::uint64_t expect_ = 1;  // the stream sequence the next delivery must have
  // Ack-reply subjects of the records delivered and not yet committed, by stream sequence
  // (at most jetstream_ack_pending_max: the server stops delivering beyond it).
  std::map<std::uint64_t, std::string> replies_;
};

bool ValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// JetStreamQueue

Status RetryWhileJetStreamSettles(const std::function<Status()>& attempt) {
  const auto deadline = std::chrono::steady_clock::now() + kSettleRetryFor;
  while (true) {
    Status status = attempt();
    if (status.ok() || status.code() == StatusCode::kFailedPrecondition) return status;
    if (std::chrono::steady_clock::now() >= deadline) return status;
    spdlog::warn("{}; retrying", status.ToString());
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

Result<std::unique_ptr<JetStreamQueue>> JetStreamQueue::Open(const QueueConfig& config,
                                                             const Limits& limits) {
  if (config.nats_urls.empty()) return InvalidArgument("queue.nats_urls is empty");
  auto core = std::make_shared<Core>(config, limits);
  for (const std::string& name : config.consumers) {
    if (!ValidConsumerName(name)) return InvalidArgument("consumer name '" + name + "' is invalid");
  }
  FH_RETURN_IF_ERROR(core->Connect());
  FH_RETURN_IF_ERROR(RetryWhileJetStreamSettles([&] {
    Status status = core->EnsureStream();
    for (const std::string& name : config.consumers) {
      if (status.ok()) status = core->EnsureConsumer(name);
    }
    return status;
  }));
  core->StartMaintenance();
  return std::unique_ptr<JetStreamQueue>(new JetStreamQueue(std::move(core)));
}

JetStreamQueue::JetStreamQueue(std::shared_ptr<Core> core) : core_(std::move(core)) {}

JetStreamQueue::~JetStreamQueue() { core_->Shutdown(); }

void JetStreamQueue::Append(QueueRecord record, AppendCallback done) {
  core_->Append(std::move(record), std::move(done));
}

Result<std::unique_ptr<QueueConsumer>> JetStreamQueue::OpenConsumer(std::string_view name) {
  if (!ValidConsumerName(name)) {
    return InvalidArgument("consumer name '" + std::string(name) + "' is not [a-z0-9_-]{1,64}");
  }
  if (!core_->MarkOpen(std::string(name))) {
    return FailedPrecondition("consumer " + std::string(name) + " is already open in this process");
  }
  auto consumer = std::make_unique<JetStreamConsumer>(core_, std::string(name));
  FH_RETURN_IF_ERROR(consumer->Open());
  return std::unique_ptr<QueueConsumer>(std::move(consumer));
}

Status JetStreamQueue::DropConsumer(std::string_view name) {
  if (!ValidConsumerName(name)) {
    return InvalidArgument("consumer name '" + std::string(name) + "' is not [a-z0-9_-]{1,64}");
  }
  const std::string consumer(name);
  if (core_->IsOpen(consumer)) {
    return FailedPrecondition("consumer " + consumer + " is open in this process");
  }
  jsErrCode error_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_DeleteConsumer(core_->js(), core_->config().stream.c_str(),
                                              consumer.c_str(), nullptr, &error_code);
  if (status == NATS_OK || IsConsumerNotFound(status, error_code)) return Status::Ok();
  return NatsFailure(status, error_code, "deleting consumer " + consumer);
}

QueueStats JetStreamQueue::Stats() const { return core_->Stats(); }

bool JetStreamQueue::Full() const { return core_->Full(); }

void JetStreamQueue::Shutdown() { core_->Shutdown(); }

Result<std::uint64_t> JetStreamQueue::EnforceRetention() { return core_->EnforceRetention(); }

}  // namespace firehose
