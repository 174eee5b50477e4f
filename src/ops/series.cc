#include "ops/series.h"

#include <algorithm>

#include "core/check.h"

namespace firehose::ops {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::uint32_t PackCode(std::string_view code) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(code[0])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(code[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(code[2]));
}

std::string UnpackCode(std::uint32_t packed) {
  if (packed == 0) return {};
  return {static_cast<char>(packed >> 16), static_cast<char>((packed >> 8) & 0xff),
          static_cast<char>(packed & 0xff)};
}

std::int64_t FloorDiv(std::int64_t value, std::int64_t divisor) {
  return value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor);
}

void RaiseMax(std::atomic<std::uint32_t>& slot, std::uint32_t value) {
  std::uint32_t current = slot.load(kRelaxed);
  while (value > current && !slot.compare_exchange_weak(current, value, kRelaxed)) {
  }
}

void ClearCommon(auto& bucket) {
  bucket.events.store(0, kRelaxed);
  bucket.failed.store(0, kRelaxed);
  bucket.duplicates.store(0, kRelaxed);
  for (auto& error : bucket.errors) error.store(0, kRelaxed);
  bucket.lag_max_ms.store(0, kRelaxed);
}

void Clear(SecondBucket& bucket) { ClearCommon(bucket); }

void Clear(MinuteBucket& bucket) {
  ClearCommon(bucket);
  bucket.lag_sum_ms.store(0, kRelaxed);
  for (auto& amount : bucket.amounts) amount.store(0, kRelaxed);
}

BucketValues ReadCommon(const auto& bucket) {
  BucketValues values;
  values.events = bucket.events.load(kRelaxed);
  values.failed = bucket.failed.load(kRelaxed);
  values.duplicates = bucket.duplicates.load(kRelaxed);
  for (int i = 0; i < kIngestErrorKinds; ++i) values.errors[i] = bucket.errors[i].load(kRelaxed);
  values.lag_max_ms = bucket.lag_max_ms.load(kRelaxed);
  return values;
}

BucketValues Read(const SecondBucket& bucket) { return ReadCommon(bucket); }

BucketValues Read(const MinuteBucket& bucket) {
  BucketValues values = ReadCommon(bucket);
  values.lag_sum_ms = bucket.lag_sum_ms.load(kRelaxed);
  for (int i = 0; i <= kCurrencySlots; ++i) values.amounts[i] = bucket.amounts[i].load(kRelaxed);
  return values;
}

void AddArrival(auto& bucket, const ArrivalCounts& counts) {
  bucket.events.fetch_add(counts.events, kRelaxed);
  if (counts.failed != 0) bucket.failed.fetch_add(counts.failed, kRelaxed);
  if (counts.duplicates != 0) bucket.duplicates.fetch_add(counts.duplicates, kRelaxed);
  if (counts.quarantined != 0) {
    bucket.errors[static_cast<int>(IngestError::kQuarantined)].fetch_add(counts.quarantined,
                                                                         kRelaxed);
  }
  RaiseMax(bucket.lag_max_ms, counts.lag_ms);
}

}  // namespace

std::string_view IngestErrorName(IngestError kind) {
  switch (kind) {
    case IngestError::kBadSignature:
      return "bad_signature";
    case IngestError::kQuarantined:
      return "quarantined";
    case IngestError::kRateLimited:
      return "rate_limited";
    case IngestError::kOversize:
      return "oversize";
    case IngestError::kUnavailable:
      return "unavailable";
    case IngestError::kPollFailure:
      return "poll_failure";
    case IngestError::kOther:
      return "other";
  }
  return "other";
}

IngestError IngestErrorForReason(std::string_view reason) {
  if (reason.starts_with("signature_")) return IngestError::kBadSignature;
  if (reason == "rate_limited") return IngestError::kRateLimited;
  if (reason == "body_too_large" || reason == "batch_too_large") return IngestError::kOversize;
  if (reason == "queue_full" || reason == "disk_full" || reason == "overloaded" ||
      reason == "shutting_down" || reason == "queue_unavailable" || reason == "server_stopping") {
    return IngestError::kUnavailable;
  }
  if (reason.starts_with("poll_")) return IngestError::kPollFailure;
  return IngestError::kOther;
}

std::uint64_t BucketValues::ingest_errors() const {
  std::uint64_t total = 0;
  for (std::uint64_t count : errors) total += count;
  return total;
}

double BucketValues::error_pct() const {
  const std::uint64_t ingest = ingest_errors();
  const std::uint64_t denominator = events + ingest;
  if (denominator == 0) return 0;
  return 100.0 * static_cast<double>(std::min(failed + ingest, denominator)) /
         static_cast<double>(denominator);
}

double BucketValues::duplicate_pct() const {
  if (events == 0) return 0;
  return 100.0 * static_cast<double>(std::min(duplicates, events)) / static_cast<double>(events);
}

void BucketValues::Add(const BucketValues& other) {
  events += other.events;
  failed += other.failed;
  duplicates += other.duplicates;
  for (int i = 0; i < kIngestErrorKinds; ++i) errors[i] += other.errors[i];
  lag_max_ms = std::max(lag_max_ms, other.lag_max_ms);
  lag_sum_ms += other.lag_sum_ms;
  for (int i = 0; i <= kCurrencySlots; ++i) amounts[i] += other.amounts[i];
}

PartnerSeries::PartnerSeries(std::string id)
    : id_(std::move(id)), seconds_(kSecondBuckets), minutes_(kMinuteBuckets) {}

template <typename Bucket>
Bucket* PartnerSeries::Claim(std::vector<Bucket>& ring, std::uint32_t period) {
  Bucket& bucket = ring[period % ring.size()];
  const std::uint32_t held = bucket.period.load(std::memory_order_acquire);
  if (held == period) return &bucket;
  if (held > period) return nullptr;
  std::lock_guard lock(claim_mutex_);
  const std::uint32_t again = bucket.period.load(std::memory_order_acquire);
  if (again == period) return &bucket;
  if (again > period) return nullptr;
  Clear(bucket);
  bucket.period.store(period, std::memory_order_release);
  return &bucket;
}

void PartnerSeries::NoteSeen(TimestampUs at) {
  std::int64_t current = last_seen_us_.load(kRelaxed);
  while (at.value() > current &&
         !last_seen_us_.compare_exchange_weak(current, at.value(), kRelaxed)) {
  }
}

void PartnerSeries::RecordArrival(const ArrivalCounts& counts) {
  // last_seen first, and the total published after it (release): a reader that sees the arrival
  // counted (events_total, acquire) also sees when it came.
  NoteSeen(counts.received_at);
  events_total_.fetch_add(counts.events, std::memory_order_release);
  if (counts.quarantined != 0) errors_total_.fetch_add(counts.quarantined, kRelaxed);
  const std::int64_t second = FloorDiv(counts.received_at.value(), 1'000'000);
  if (second <= 0 || second > UINT32_MAX) return;
  bool placed = false;
  if (SecondBucket* bucket = Claim(seconds_, static_cast<std::uint32_t>(second))) {
    AddArrival(*bucket, counts);
    placed = true;
  }
  if (MinuteBucket* bucket = Claim(minutes_, static_cast<std::uint32_t>(second / 60))) {
    AddArrival(*bucket, counts);
    bucket->lag_sum_ms.fetch_add(static_cast<std::uint64_t>(counts.lag_ms) * counts.events,
                                 kRelaxed);
    placed = true;
  }
  if (!placed) too_old_total_.fetch_add(1, kRelaxed);
}

int PartnerSeries::CurrencySlot(const Currency& currency) {
  const std::uint32_t packed = PackCode(currency.code());
  for (int slot = 0; slot < kCurrencySlots; ++slot) {
    const std::uint32_t held = currency_codes_[slot].load(kRelaxed);
    if (held == packed) return slot;
    if (held == 0) {  // only the consumer thread assigns slots
      currency_codes_[slot].store(packed, kRelaxed);
      return slot;
    }
  }
  return kCurrencySlots;  // "other"
}

void PartnerSeries::AddAmount(TimestampUs received_at, const Currency& currency,
                              AmountMinor amount) {
  const std::int64_t minute = FloorDiv(received_at.value(), 60'000'000);
  if (minute <= 0 || minute > UINT32_MAX) return;
  MinuteBucket* bucket = Claim(minutes_, static_cast<std::uint32_t>(minute));
  if (bucket == nullptr) return;
  // Wraps rather than traps on overflow: this is the approximate ops view, never the ledger.
  bucket->amounts[CurrencySlot(currency)].fetch_add(amount.value(), kRelaxed);
}

void PartnerSeries::RecordError(TimestampUs at, IngestError kind, std::uint32_t count) {
  errors_total_.fetch_add(count, kRelaxed);
  // A refused arrival is still the partner talking; a failed poll is us failing to reach it, and
  // must not keep a dead poll API from going silent (partner_silent, the dashboard's "down").
  if (kind != IngestError::kPollFailure) NoteSeen(at);
  const std::int64_t second = FloorDiv(at.value(), 1'000'000);
  if (second <= 0 || second > UINT32_MAX) return;
  const int index = static_cast<int>(kind);
  if (SecondBucket* bucket = Claim(seconds_, static_cast<std::uint32_t>(second))) {
    bucket->errors[index].fetch_add(count, kRelaxed);
  }
  if (MinuteBucket* bucket = Claim(minutes_, static_cast<std::uint32_t>(second / 60))) {
    bucket->errors[index].fetch_add(count, kRelaxed);
  }
}

BucketValues PartnerSeries::SumSeconds(std::int64_t now_s, std::int64_t seconds) const {
  BucketValues sum;
  if (seconds > kSecondBuckets) {
    for (const BucketValues& minute : Minutes(now_s, (seconds + 59) / 60)) sum.Add(minute);
    return sum;
  }
  for (std::int64_t second = now_s - seconds + 1; second <= now_s; ++second) {
    if (second <= 0) continue;
    const SecondBucket& bucket = seconds_[second % kSecondBuckets];
    if (bucket.period.load(std::memory_order_acquire) != second) continue;
    sum.Add(Read(bucket));
  }
  return sum;
}

std::vector<BucketValues> PartnerSeries::Seconds(std::int64_t now_s, std::int64_t seconds) const {
  seconds = std::clamp<std::int64_t>(seconds, 0, kSecondBuckets);
  std::vector<BucketValues> values(seconds);
  for (std::int64_t i = 0; i < seconds; ++i) {
    const std::int64_t second = now_s - seconds + 1 + i;
    if (second <= 0) continue;
    const SecondBucket& bucket = seconds_[second % kSecondBuckets];
    if (bucket.period.load(std::memory_order_acquire) == second) values[i] = Read(bucket);
  }
  return values;
}

std::vector<BucketValues> PartnerSeries::Minutes(std::int64_t now_s, std::int64_t minutes) const {
  minutes = std::clamp<std::int64_t>(minutes, 0, kMinuteBuckets);
  const std::int64_t now_minute = FloorDiv(now_s, 60);
  std::vector<BucketValues> values(minutes);
  for (std::int64_t i = 0; i < minutes; ++i) {
    const std::int64_t minute = now_minute - minutes + 1 + i;
    if (minute <= 0) continue;
    const MinuteBucket& bucket = minutes_[minute % kMinuteBuckets];
    if (bucket.period.load(std::memory_order_acquire) == minute) values[i] = Read(bucket);
  }
  return values;
}

std::array<std::string, kCurrencySlots> PartnerSeries::CurrencySlots() const {
  std::array<std::string, kCurrencySlots> codes;
  for (int slot = 0; slot < kCurrencySlots; ++slot) {
    codes[slot] = UnpackCode(currency_codes_[slot].load(kRelaxed));
  }
  return codes;
}

}  // namespace firehose::ops
