#include "edge/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace firehose::edge {

namespace {

constexpr double kNanosPerSecond = 1e9;
// Caps keep the arithmetic inside int64 for absurd configs (1e-9 rps x 1e9 burst): a bucket
// that refills over more than ~30 years is as good as never refilling.
constexpr double kNanosMax = 1e18;

std::int64_t ToNanos(std::chrono::steady_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

}  // namespace

std::int64_t RateDecision::RetryAfterSeconds() const {
  const std::int64_t nanos = wait.count();
  const std::int64_t seconds = (nanos + 999'999'999) / 1'000'000'000;
  return std::max<std::int64_t>(seconds, 1);
}

TokenBucket::TokenBucket(double requests_per_second, double burst) {
  if (!(requests_per_second > 0)) return;  // unlimited (also catches NaN)
  const double interval = std::clamp(kNanosPerSecond / requests_per_second, 1.0, kNanosMax);
  const double tokens = std::max(burst, 1.0);
  interval_ns_ = static_cast<std::int64_t>(interval);
  tolerance_ns_ = static_cast<std::int64_t>(std::min(interval * tokens, kNanosMax));
}

RateDecision TokenBucket::Acquire(std::chrono::steady_clock::time_point now) {
  if (unlimited()) return {};
  const std::int64_t now_ns = ToNanos(now);
  std::int64_t full_at = full_at_ns_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t next_full_at = std::max(full_at, now_ns) + interval_ns_;
    const std::int64_t ahead = next_full_at - now_ns;
    if (ahead > tolerance_ns_) {
      return {false, std::chrono::nanoseconds(ahead - tolerance_ns_)};
    }
    if (full_at_ns_.compare_exchange_weak(full_at, next_full_at, std::memory_order_relaxed)) {
      return {};
    }
  }
}

RateLimiter::RateLimiter(const std::vector<PartnerConfig>& partners) {
  for (const PartnerConfig& partner : partners) {
    if (partner.mode != PartnerMode::kWebhook) continue;
    buckets_.emplace(partner.id.str(),
                     std::make_unique<TokenBucket>(partner.rate_limit.requests_per_second,
                                                   partner.rate_limit.burst));
  }
}

TokenBucket* RateLimiter::BucketFor(std::string_view partner_id) const {
  const auto found = buckets_.find(partner_id);
  return found == buckets_.end() ? nullptr : found->second.get();
}

RateDecision RateLimiter::Acquire(std::string_view partner_id,
                                  std::chrono::steady_clock::time_point now) {
  TokenBucket* bucket = BucketFor(partner_id);
  return bucket == nullptr ? RateDecision{} : bucket->Acquire(now);
}

}  // namespace firehose::edge
