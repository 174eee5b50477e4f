// The ops aggregator's shared state: one PartnerSeries per partner, the edge's hook for
// requests refused before the queue, and the clock everything is judged by.
//
// Partners: every configured partner gets its series at construction; a partner the queue
// names that the config does not (the config changed since) gets one on first sight, up to
// limits.ops_partners_max in all. Beyond that its records are counted in overflow_records()
// only. Memory is therefore at most ops_partners_max x PartnerSeries::kSeriesBytes.
//
// Thread safety: partner lookup and iteration are lock-free (series are never removed or
// moved; a new one is published with a release store of the count). AddPartner is for the
// ops consumer thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/time.h"
#include "edge/webhook_handler.h"
#include "ops/series.h"

namespace firehose::ops {

using Clock = std::function<TimestampUs()>;

class OpsState {
 public:
  // `config` must outlive the state. `clock` is the wall clock (tests move it by hand).
  explicit OpsState(const Config& config, Clock clock = NowUs);
  OpsState(const OpsState&) = delete;
  OpsState& operator=(const OpsState&) = delete;

  const Config& config() const { return config_; }
  TimestampUs Now() const { return clock_(); }
  std::int64_t NowSeconds() const;

  // The partners tracked so far, in the order they were added (configured ones first).
  std::size_t partner_count() const { return count_.load(std::memory_order_acquire); }
  PartnerSeries& partner(std::size_t index) const { return *slots_[index]; }
  // nullptr if the partner is not tracked.
  PartnerSeries* Find(std::string_view partner_id) const;
  // Finds or adds (consumer thread only); nullptr when ops_partners_max is reached.
  PartnerSeries* FindOrAdd(std::string_view partner_id);

  // Requests refused before the queue, for the edge's io threads: cheap (one map lookup in an
  // immutable map, a few relaxed atomics) and lock-free except once per second per partner.
  edge::WebhookObserver* webhook_observer() { return &observer_; }
  // For the poller: one failed poll request.
  void RecordPollFailure(std::string_view partner_id) { RecordPollFailures(Now(), partner_id, 1); }

  // What the webhook observer and the poller record, for any count at any time: the ops error
  // relay (ops/error_relay.h) books what an edge in another process counted through these, so
  // that both paths map alike. `partner` is a configured partner id; any other (the edge's
  // "_unknown", an id this process's config lacks) is counted in unknown_rejections() and false
  // is returned. Any thread.
  bool RecordRejections(TimestampUs at, std::string_view partner, std::string_view reason,
                        std::uint32_t count);
  bool RecordPollFailures(TimestampUs at, std::string_view partner, std::uint32_t count);

  std::uint64_t overflow_records() const { return overflow_.load(std::memory_order_relaxed); }
  void CountOverflow() { overflow_.fetch_add(1, std::memory_order_relaxed); }
  // Ingest errors of partners the config does not name (the edge's "_unknown": 404
  // unknown_partner; relayed errors of an id this config lacks): not a partner's series.
  std::uint64_t unknown_rejections() const { return unknown_.load(std::memory_order_relaxed); }

  // The series' fixed memory: partner_count() x PartnerSeries::kSeriesBytes.
  std::size_t series_bytes() const { return partner_count() * PartnerSeries::kSeriesBytes; }

 private:
  class Observer : public edge::WebhookObserver {
   public:
    explicit Observer(OpsState* state) : state_(state) {}
    void OnRejected(std::string_view partner, std::string_view reason) override;

   private:
    OpsState* state_;
  };
  PartnerSeries* Add(std::string_view partner_id);

  const Config& config_;
  Clock clock_;
  std::vector<std::unique_ptr<PartnerSeries>> slots_;  // capacity ops_partners_max, fixed
  std::atomic<std::size_t> count_{0};
  std::map<std::string, PartnerSeries*, std::less<>> configured_;  // immutable after construction
  Observer observer_{this};
  std::atomic<std::uint64_t> overflow_{0};
  std::atomic<std::uint64_t> unknown_{0};
};

}  // namespace firehose::ops
