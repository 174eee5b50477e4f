// One partner's time series for operations (DESIGN §6): 1-second buckets for the last hour
// and 1-minute buckets for the last day, in fixed ring buffers.
//
// Design constraints:
//   - Fixed memory per partner, allocated once: 3600 x sizeof(SecondBucket) (48 B) +
//     1440 x sizeof(MinuteBucket) (88 B) = 299,520 bytes, plus a few hundred bytes of totals.
//     The aggregator tracks at most limits.ops_partners_max partners, so the whole ops state is
//     bounded by ops_partners_max x kSeriesBytes (10,000 partners: ~2.9 GB; 500: ~150 MB).
//   - Buckets are keyed by *receive* time (ops watches arrival flow): a record the consumer
//     reads late still lands in the second it arrived in.
//   - Writers: the ops consumer (events, failed, duplicates, quarantined, amounts, lag) and the
//     edge's io threads (requests refused before the queue). Every field is a relaxed atomic,
//     so readers (the API, the alert evaluator) never block writers and a reader may see a
//     bucket mid-update: the view is approximate by design, never torn per field.
//   - A bucket is reused for a newer period under a per-series mutex, taken once per period
//     (not per event): the writer that first meets a stale bucket clears it and stamps it.
//   - Amounts per currency are kept at 1-minute resolution only (a per-second copy would add
//     32 B x 3600 per partner for a view ops charts per minute anyway), in kCurrencySlots named
//     slots (the first currencies the partner uses) and one "other" slot.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.h"
#include "core/types.h"

namespace firehose::ops {

inline constexpr std::int64_t kSecondBuckets = 3600;  // the last hour
inline constexpr std::int64_t kMinuteBuckets = 1440;  // the last day
inline constexpr int kCurrencySlots = 3;              // + 1 "other"

// Ingest errors, by kind. Requests refused at the edge are counted per request; quarantined
// items are counted per unmappable part of an arrival.
enum class IngestError : std::uint8_t {
  kBadSignature,  // 401 signature_*
  kQuarantined,   // landed, but could not be mapped
  kRateLimited,   // 429
  kOversize,      // 413 body_too_large / batch_too_large
  kUnavailable,   // 503: queue full, disk full, overloaded, shutting down (our side)
  kPollFailure,   // a poll request that failed (the poller reports these)
  kOther,         // 415, timeouts, client gone, ...
};
inline constexpr int kIngestErrorKinds = 7;
std::string_view IngestErrorName(IngestError kind);  // "bad_signature", ...
// The kind an edge rejection reason (its JSON error code) counts as.
IngestError IngestErrorForReason(std::string_view reason);

struct SecondBucket {
  std::atomic<std::uint32_t> period{0};  // unix second this bucket holds; 0: never used
  std::atomic<std::uint32_t> events{0};
  std::atomic<std::uint32_t> failed{0};
  std::atomic<std::uint32_t> duplicates{0};
  std::array<std::atomic<std::uint32_t>, kIngestErrorKinds> errors{};
  std::atomic<std::uint32_t> lag_max_ms{0};
};

struct MinuteBucket {
  std::atomic<std::uint32_t> period{0};  // unix minute
  std::atomic<std::uint32_t> events{0};
  std::atomic<std::uint32_t> failed{0};
  std::atomic<std::uint32_t> duplicates{0};
  std::array<std::atomic<std::uint32_t>, kIngestErrorKinds> errors{};
  std::atomic<std::uint32_t> lag_max_ms{0};
  std::atomic<std::uint64_t> lag_sum_ms{0};
  std::array<std::atomic<std::int64_t>, kCurrencySlots + 1> amounts{};
};

// A plain copy of one bucket (or of a window's sum) for readers.
struct BucketValues {
  std::uint64_t events = 0;
  std::uint64_t failed = 0;
  std::uint64_t duplicates = 0;
  std::array<std::uint64_t, kIngestErrorKinds> errors{};
  std::uint32_t lag_max_ms = 0;
  std::uint64_t lag_sum_ms = 0;                            // minute buckets only
  std::array<std::int64_t, kCurrencySlots + 1> amounts{};  // minute buckets only

  std::uint64_t ingest_errors() const;
  // (failed + ingest errors) / (events + ingest errors), in percent; 0 with no traffic. Mixes
  // per-event and per-request counts: approximate, as ops is.
  double error_pct() const;
  double duplicate_pct() const;
  void Add(const BucketValues& other);
};

// What the consumer learned from one arrival.
struct ArrivalCounts {
  TimestampUs received_at;
  std::uint32_t events = 0;
  std::uint32_t failed = 0;
  std::uint32_t duplicates = 0;
  std::uint32_t quarantined = 0;
  std::uint32_t lag_ms = 0;  // consumer's now - received_at
};

class PartnerSeries {
 public:
  explicit PartnerSeries(std::string id);
  PartnerSeries(const PartnerSeries&) = delete;
  PartnerSeries& operator=(const PartnerSeries&) = delete;

  const std::string& id() const { return id_; }

  // Writers. RecordArrival and AddAmount: the ops consumer's thread only. RecordError: any
  // thread.
  void RecordArrival(const ArrivalCounts& counts);
  // Adds an event's amount to its currency's slot of the minute bucket of `received_at`.
  void AddAmount(TimestampUs received_at, const Currency& currency, AmountMinor amount);
  void RecordError(TimestampUs at, IngestError kind, std::uint32_t count = 1);

  // Readers (any thread). `now_s` is the current unix second; the window is the `seconds`
  // seconds ending with now_s (the current, partial second included).
  BucketValues SumSeconds(std::int64_t now_s, std::int64_t seconds) const;
  // One value per second, oldest first (`seconds` <= kSecondBuckets).
  std::vector<BucketValues> Seconds(std::int64_t now_s, std::int64_t seconds) const;
  // One value per minute, oldest first, ending with the current minute (`minutes` <=
  // kMinuteBuckets).
  std::vector<BucketValues> Minutes(std::int64_t now_s, std::int64_t minutes) const;

  // The currencies of the named amount slots ("" for a slot not used yet); the last amount
  // slot is "other".
  std::array<std::string, kCurrencySlots> CurrencySlots() const;

  // Since the series was created.
  std::uint64_t events_total() const { return events_total_.load(std::memory_order_acquire); }
  std::uint64_t errors_total() const { return errors_total_.load(std::memory_order_relaxed); }
  // Receive time of the newest arrival (accepted or refused; a failed poll is not an arrival),
  // 0 if none.
  TimestampUs last_seen() const {
    return TimestampUs(last_seen_us_.load(std::memory_order_relaxed));
  }
  // Arrivals older than the minute ring (a day): counted in totals only.
  std::uint64_t too_old_total() const { return too_old_total_.load(std::memory_order_relaxed); }

  // Bytes this series holds (constant: the rings are allocated once).
  static constexpr std::size_t kSeriesBytes =
      kSecondBuckets * sizeof(SecondBucket) + kMinuteBuckets * sizeof(MinuteBucket);

 private:
  // The bucket for `period` in `ring`, cleared and stamped if it held an older period; nullptr
  // if it holds a newer one (the period fell out of the ring).
  template <typename Bucket>
  Bucket* Claim(std::vector<Bucket>& ring, std::uint32_t period);
  int CurrencySlot(const Currency& currency);
  void NoteSeen(TimestampUs at);

  const std::string id_;
  std::vector<SecondBucket> seconds_;
  std::vector<MinuteBucket> minutes_;
  std::mutex claim_mutex_;  // only while a bucket is recycled for a newer period
  std::array<std::atomic<std::uint32_t>, kCurrencySlots> currency_codes_{};  // 3 ASCII bytes
  std::atomic<std::uint64_t> events_total_{0};
  std::atomic<std::uint64_t> errors_total_{0};
  std::atomic<std::int64_t> last_seen_us_{0};
  std::atomic<std::uint64_t> too_old_total_{0};
};

}  // namespace firehose::ops
