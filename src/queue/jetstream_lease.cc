#include "queue/jetstream_lease.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "queue/jetstream_queue.h"
#include "queue/nats_connection.h"

namespace firehose {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kReleased = "released";

bool Transient(natsStatus status) {
  return status == NATS_TIMEOUT || status == NATS_NO_RESPONDERS ||
         status == NATS_CONNECTION_CLOSED || status == NATS_CONNECTION_DISCONNECTED ||
         status == NATS_NO_SERVER;
}

}  // namespace

class JetStreamLease::Impl {
 public:
  Impl(const QueueConfig& config, const Limits& limits, std::string key, std::string holder)
      : config_(config),
        lease_(std::chrono::milliseconds(limits.jetstream_lease_ms)),
        key_(std::move(key)),
        holder_(std::move(holder)) {}

  ~Impl() {
    StopRenewing();
    kvStore_Destroy(kv_);
    jsCtx_Destroy(js_);
    if (connection_ != nullptr) natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }

  Status Connect() {
    FH_RETURN_IF_ERROR(
        ConnectNats(config_.nats_urls, "firehose-lease", &connection_).WithContext("lease"));
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 3000;
    const natsStatus status = natsConnection_JetStream(&js_, connection_, &js_options);
    if (status != NATS_OK)
      return Unavailable("lease: jetstream context: " + NatsStatusText(status));
    // As the queue's Open waits for its stream: a writer restarted into a cluster still electing
    // its meta leader exited here with "creating bucket: Timeout" once its queue had waited.
    return RetryWhileJetStreamSettles([this] { return OpenBucket(); });
  }

  // The leases' key-value bucket, created when it does not exist yet.
  Status OpenBucket() {
    const std::string bucket = config_.stream + "_LEASES";
    natsStatus status = js_KeyValue(&kv_, js_, bucket.c_str());
    if (status == NATS_OK) return Status::Ok();
    kvConfig kv_config;
    kvConfig_Init(&kv_config);
    kv_config.Bucket = bucket.c_str();
    kv_config.Description = "firehose writer leases";
    kv_config.History = 1;
    kv_config.StorageType = js_FileStorage;
    kv_config.Replicas = config_.replicas;
    status = js_CreateKeyValue(&kv_, js_, &kv_config);
    if (status != NATS_OK) {
      // Another process may have created it meanwhile.
      if (js_KeyValue(&kv_, js_, bucket.c_str()) == NATS_OK) return Status::Ok();
      return Unavailable("lease: creating bucket " + bucket + ": " + NatsStatusText(status));
    }
    return Status::Ok();
  }

  bool Acquire(const std::atomic<bool>& stop) {
    StopRenewing();  // a previous holding's renewer (lost or released)
    std::uint64_t watched_revision = 0;
    Clock::time_point watched_since;
    bool logged_standby = false;
    while (!stop.load()) {
      const Clock::time_point attempt = Clock::now();
      std::uint64_t revision = 0;
      if (TryTake(&watched_revision, &watched_since, attempt, &revision, &logged_standby)) {
        {
          std::lock_guard lock(mutex_);
          revision_ = revision;
          valid_until_ = attempt + lease_ * 3 / 4;
          stop_renewing_ = false;
        }
        renewer_ = std::thread([this] { RenewLoop(); });
        spdlog::info("lease {}: held by {}", key_, holder_);
        return true;
      }
      std::this_thread::sleep_for(
          std::min<Clock::duration>(lease_ / 8, std::chrono::milliseconds(250)));
    }
    return false;
  }

  bool held() const {
    std::lock_guard lock(mutex_);
    return revision_ != 0 && Clock::now() < valid_until_;
  }

  void Release() {
    StopRenewing();
    std::uint64_t revision = 0;
    {
      std::lock_guard lock(mutex_);
      revision = revision_;
      revision_ = 0;
    }
    if (revision == 0) return;
    std::uint64_t unused = 0;
    const natsStatus status = kvStore_Update(&unused, kv_, key_.c_str(), kReleased.data(),
                                             static_cast<int>(kReleased.size()), revision);
    if (status != NATS_OK) spdlog::warn("lease {}: release: {}", key_, NatsStatusText(status));
  }

  const std::string& key() const { return key_; }

 private:
  // One attempt: true with the new revision if this process now holds the key.
  bool TryTake(std::uint64_t* watched_revision, Clock::time_point* watched_since,
               Clock::time_point now, std::uint64_t* revision, bool* logged_standby) {
    kvEntry* entry = nullptr;
    natsStatus status = kvStore_Get(&entry, kv_, key_.c_str());
    if (status == NATS_NOT_FOUND) {
      status = kvStore_Create(revision, kv_, key_.c_str(), holder_.data(),
                              static_cast<int>(holder_.size()));
      return status == NATS_OK;
    }
    if (status != NATS_OK) {
      spdlog::warn("lease {}: reading: {}", key_, NatsStatusText(status));
      return false;
    }
    const std::uint64_t current = kvEntry_Revision(entry);
    const std::string value(static_cast<const char*>(kvEntry_Value(entry)),
                            static_cast<std::size_t>(kvEntry_ValueLen(entry)));
    kvEntry_Destroy(entry);
    // Released, or ours (a renewal whose answer was lost): take it now. Otherwise only after
    // the holder left the same revision alone for a whole lease.
    bool take = value == kReleased || value == holder_;
    if (!take) {
      if (current != *watched_revision) {
        *watched_revision = current;
        *watched_since = now;
        if (!*logged_standby) {
          spdlog::info("lease {}: held by {}; standing by", key_, value);
          *logged_standby = true;
        }
        return false;
      }
      take = now - *watched_since >= lease_;
    }
    if (!take) return false;
    status = kvStore_Update(revision, kv_, key_.c_str(), holder_.data(),
                            static_cast<int>(holder_.size()), current);
    if (status == NATS_OK && value != kReleased && value != holder_) {
      spdlog::warn("lease {}: taken over from {} (not renewed for {} ms)", key_, value,
                   std::chrono::duration_cast<std::chrono::milliseconds>(lease_).count());
    }
    return status == NATS_OK;
  }

  void RenewLoop() {
    std::unique_lock lock(mutex_);
    while (!renew_cv_.wait_for(lock, lease_ / 4, [this] { return stop_renewing_; })) {
      const std::uint64_t last = revision_;
      if (last == 0) return;
      lock.unlock();
      const Clock::time_point sent = Clock::now();
      std::uint64_t next = 0;
      const natsStatus status = kvStore_Update(&next, kv_, key_.c_str(), holder_.data(),
                                               static_cast<int>(holder_.size()), last);
      lock.lock();
      if (stop_renewing_) return;
      if (status == NATS_OK) {
        revision_ = next;
        valid_until_ = sent + lease_ * 3 / 4;
      } else if (Transient(status)) {
        spdlog::warn(
            "lease {}: renewal failed ({}); valid for {} ms more", key_, NatsStatusText(status),
            std::chrono::duration_cast<std::chrono::milliseconds>(valid_until_ - Clock::now())
                .count());
      } else {
        spdlog::error("lease {}: lost ({})", key_, NatsStatusText(status));
        revision_ = 0;
        return;
      }
    }
  }

  void StopRenewing() {
    {
      std::lock_guard lock(mutex_);
      stop_renewing_ = true;
    }
    renew_cv_.notify_all();
    if (renewer_.joinable()) renewer_.join();
  }

  const QueueConfig config_;
  const Clock::duration lease_;
  const std::string key_;
  const std::string holder_;
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable renew_cv_;
  std::uint64_t revision_ = 0;  // 0: not held; guarded by mutex_
  Clock::time_point valid_until_;
  bool stop_renewing_ = false;
  std::thread renewer_;
};

Result<std::unique_ptr<JetStreamLease>> JetStreamLease::Open(const QueueConfig& config,
                                                             const Limits& limits, std::string key,
                                                             std::string holder) {
  if (config.nats_urls.empty()) return InvalidArgument("queue.nats_urls is empty");
  auto impl = std::make_unique<Impl>(config, limits, std::move(key), std::move(holder));
  FH_RETURN_IF_ERROR(impl->Connect());
  return std::unique_ptr<JetStreamLease>(new JetStreamLease(std::move(impl)));
}

JetStreamLease::JetStreamLease(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JetStreamLease::~JetStreamLease() = default;

bool JetStreamLease::Acquire(const std::atomic<bool>& stop) { return impl_->Acquire(stop); }
bool JetStreamLease::held() const { return impl_->held(); }

Status JetStreamLease::Check() const {
  if (impl_->held()) return Status::Ok();
  return FailedPrecondition("lease " + impl_->key() + " is not held (lost or expired)");
}

void JetStreamLease::Release() { impl_->Release(); }

}  // namespace firehose
