// The ops error relay: ingest errors that only an `ingest` process sees (webhook requests
// refused before the queue — bad signatures, 413, 429, 503 — and failed poll requests) reach the
// `ops` process of the same JetStream stream over core NATS, so that its per-partner error
// rates and signature-failure alerts count them (DESIGN §6; docs/scale-out.md, "The ops view on
// JetStream"). A process that hosts the edge or the poller together with ops records them
// directly (OpsState) and takes no part in the relay, so nothing is counted twice.
//
//   ingest process                                      ops process
//   edge io threads ─┐                                  NATS delivery thread
//   poller thread ───┴─> RelayTally ─(1 s)─> publisher ──> RelayReceiver ─> OpsState
//                        (bounded map)       thread         (decode, validate, apply)
//                              subject firehose.ops.<stream>.errors (ops/relay_message.h)
//
// Design constraints:
//   - The edge's io threads never wait on the network: OnRejected adds to an in-memory tally
//     under a short lock (a map lookup); a thread of the publisher's own sends the tally about
//     once a second, only when it holds something, split into messages of at most
//     limits.ops_relay_message_bytes_max bytes.
//   - Bounded: the tally holds at most limits.ops_relay_entries_max (source, partner, reason)
//     entries (partners are config-bounded, plus "_unknown"; reasons are Firehose's codes); a
//     new entry beyond it is dropped and counted.
//   - NATS unreachable: counts keep accumulating (bounded as above) and go out once the
//     connection is back, as long as the oldest of them is younger than limits.ops_relay_hold_s;
//     past that they are all dropped (counted) and accumulation starts afresh, so a reconnect
//     replays at most that much of the past into the present. Core NATS delivers at most once:
//     what is sent while no ops process listens, or lost on a broken connection, is gone. The
//     ops view is approximate by design.
//   - Ops validates every message (size, format version, every entry) and drops a bad one as a
//     whole with a throttled log line and a counter; it never trusts a count to be sane beyond
//     what the format allows.
//
// Metrics (docs/instrumentation.md), role = "ingest" or "ops":
//   firehose_ops_relay_messages_total{role,outcome}  ingest: published, failed; ops: applied,
//       too_large, malformed, unknown_version, slow_consumer (dropped by the NATS client)
//   firehose_ops_relayed_errors_total{role,outcome}  error counts; ingest: sent, dropped_full,
//       dropped_unreachable, dropped_failed, dropped_invalid; ops: applied, unknown_partner
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/status.h"
#include "edge/webhook_handler.h"
#include "ops/ops_state.h"
#include "ops/relay_message.h"

namespace firehose::ops {

// Error counts per (source, partner, reason) since the last Take. Thread-safe; Add holds a
// mutex for one map lookup (and an insertion the first time an entry is seen).
class RelayTally {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RelayTally(std::size_t entries_max) : entries_max_(entries_max) {}

  // Adds `count`; false (nothing added) when the entry is new and entries_max entries are held.
  bool Add(RelaySource source, std::string_view partner, std::string_view reason,
           std::uint64_t count, Clock::time_point now = Clock::now());
  // Everything held, in (source, partner, reason) order; the tally is empty afterwards.
  std::vector<RelayCount> Take();
  bool empty() const;
  std::size_t entries() const;
  // When the oldest count held was added (the time of the first Add since the last Take).
  Clock::time_point oldest() const;

 private:
  struct Key {
    RelaySource source;
    std::string partner;
    std::string reason;
  };
  struct KeyView {
    RelaySource source;
    std::string_view partner;
    std::string_view reason;
  };
  struct KeyLess {
    using is_transparent = void;
    static KeyView View(const Key& key) { return {key.source, key.partner, key.reason}; }
    static KeyView View(const KeyView& key) { return key; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      const KeyView x = View(a);
      const KeyView y = View(b);
      if (x.source != y.source) return x.source < y.source;
      if (x.partner != y.partner) return x.partner < y.partner;
      return x.reason < y.reason;
    }
  };

  const std::size_t entries_max_;
  mutable std::mutex mutex_;
  std::map<Key, std::uint64_t, KeyLess> counts_;  // guarded by mutex_
  Clock::time_point oldest_;                      // guarded by mutex_
};

struct ErrorRelayPublisherOptions {
  std::string sender = RelaySenderName();
  // How often the tally is sent (when it holds something).
  std::chrono::milliseconds interval{1000};
};

// The ingest side: a WebhookObserver for the edge and a poll-failure sink for the poller.
class ErrorRelayPublisher final : public edge::WebhookObserver {
 public:
  // Connects to config.queue.nats_urls (its own connection: the relay's publishes never queue
  // behind the queue's appends) and starts the publishing thread. Unavailable if no server
  // answers. `config` is read here only.
  static Result<std::unique_ptr<ErrorRelayPublisher>> Start(
      const Config& config, ErrorRelayPublisherOptions options = {});
  ~ErrorRelayPublisher() override;  // Stop()
  ErrorRelayPublisher(const ErrorRelayPublisher&) = delete;
  ErrorRelayPublisher& operator=(const ErrorRelayPublisher&) = delete;

  // Any thread; never blocks on the network.
  void OnRejected(std::string_view partner, std::string_view reason) override;
  void OnPollFailure(std::string_view partner, std::string_view reason);

  // What the thread does every interval: sends the tally, or holds or drops it while
  // disconnected (see the header comment). Thread-safe; for tests that set a long interval.
  void PublishNow();
  // Whether the connection is up now.
  bool connected() const;

  // Sends what the tally holds (when connected), waits up to a second for it to leave the
  // process, stops the thread and closes the connection. Idempotent. Call it after the edge and
  // the poller stopped, so that their last errors go out too.
  void Stop();

 private:
  ErrorRelayPublisher(const Config& config, ErrorRelayPublisherOptions options);
  void Record(RelaySource source, std::string_view partner, std::string_view reason);
  void Run();
  void PublishLocked();  // PublishNow's work, with publish_mutex_ held
  void LogThrottled(std::string_view key, const std::string& line);

  const ErrorRelayPublisherOptions options_;
  const std::string subject_;
  const std::size_t message_bytes_max_;
  const std::chrono::seconds hold_;
  RelayTally tally_;
  natsConnection* connection_ = nullptr;
  mutable std::mutex publish_mutex_;  // one PublishNow at a time; connection_ while stopping
  std::uint64_t next_seq_ = 1;        // guarded by publish_mutex_

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<bool> stopped_{false};
  LogThrottle log_throttle_{std::chrono::seconds(10)};

  Counter& messages_published_;
  Counter& messages_failed_;
  Counter& errors_sent_;
  Counter& errors_dropped_full_;
  Counter& errors_dropped_unreachable_;
  Counter& errors_dropped_failed_;
  Counter& errors_dropped_invalid_;
};

// The ops side without NATS: decodes, validates and applies one message to `state`, counting
// and logging (throttled) its outcome. Thread-safe (the NATS client may deliver on any thread).
class RelayReceiver {
 public:
  // `state` must outlive the receiver.
  RelayReceiver(OpsState& state, std::size_t message_bytes_max);

  // Returns the outcome it counted: "applied", "too_large", "malformed" or "unknown_version".
  std::string_view Receive(std::string_view data);
  // Messages the NATS client dropped before delivering them (its buffer was full).
  void CountSlowConsumerDrops(std::uint64_t messages);

 private:
  void LogThrottled(std::string_view outcome, const std::string& line);

  OpsState& state_;
  const std::size_t message_bytes_max_;
  LogThrottle log_throttle_{std::chrono::seconds(10)};
  Counter& applied_;
  Counter& too_large_;
  Counter& malformed_;
  Counter& unknown_version_;
  Counter& slow_consumer_;
  Counter& errors_applied_;
  Counter& errors_unknown_partner_;
};

// The ops side: subscribes to the relay's subject and hands each message to a RelayReceiver on
// the NATS client's delivery thread.
class ErrorRelaySubscriber {
 public:
  // Connects to config.queue.nats_urls and subscribes (the NATS client buffers at most
  // limits.ops_relay_pending_bytes_max of messages not yet applied). `state` must outlive the
  // subscriber. Unavailable if no server answers.
  static Result<std::unique_ptr<ErrorRelaySubscriber>> Start(const Config& config, OpsState& state);
  ~ErrorRelaySubscriber();  // Stop()
  ErrorRelaySubscriber(const ErrorRelaySubscriber&) = delete;
  ErrorRelaySubscriber& operator=(const ErrorRelaySubscriber&) = delete;

  // Unsubscribes and waits for a message being applied to finish: afterwards `state` is not
  // touched again. Idempotent.
  void Stop();

 private:
  ErrorRelaySubscriber(const Config& config, OpsState& state);
  static void OnMessage(natsConnection* connection, natsSubscription* subscription, natsMsg* msg,
                        void* closure);
  static void OnComplete(void* closure);

  RelayReceiver receiver_;
  natsConnection* connection_ = nullptr;
  natsSubscription* subscription_ = nullptr;
  std::atomic<std::int64_t> dropped_seen_{0};  // the client's slow-consumer drops counted so far

  std::mutex mutex_;
  std::condition_variable completed_cv_;
  bool completed_ = false;              // guarded by mutex_: no message handler runs any more
  bool completion_registered_ = false;  // OnComplete will be called
  bool stopped_ = false;
};

}  // namespace firehose::ops
