// Per-partner rate limits for the webhook edge (DESIGN §3: 429 + Retry-After).
//
// Each partner gets a token bucket of `rate_limit_burst` tokens refilled at `rate_limit_rps`
// tokens per second (0 rps: unlimited). The bucket is kept as one atomic "theoretical arrival
// time" (the GCRA formulation of a token bucket): an Acquire is one load and one
// compare-and-swap, no lock, so the edge's io threads can share a hot partner's bucket.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace firehose::edge {

struct RateDecision {
  bool allowed = true;
  // When refused: how long until a token is available.
  std::chrono::nanoseconds wait{0};
  // `wait` rounded up to whole seconds, at least 1: the Retry-After value.
  std::int64_t RetryAfterSeconds() const;
};

// One token bucket. Thread-safe.
class TokenBucket {
 public:
  // rate 0 (or less): every Acquire is allowed. A burst under 1 is taken as 1.
  TokenBucket(double requests_per_second, double burst);

  // Takes one token at time `now` (a steady-clock reading) if one is available. A refused
  // call takes nothing, so a client that keeps retrying does not push its own wait further.
  RateDecision Acquire(std::chrono::steady_clock::time_point now);
  RateDecision Acquire() { return Acquire(std::chrono::steady_clock::now()); }

  bool unlimited() const { return interval_ns_ == 0; }

 private:
  std::int64_t interval_ns_ = 0;   // time one token takes to refill; 0: unlimited
  std::int64_t tolerance_ns_ = 0;  // burst x interval: how far ahead of now the bucket may run
  // The instant the bucket would be full again if nothing else were taken (ns on the steady
  // clock); a request is allowed if taking a token keeps this within tolerance_ns_ of now.
  std::atomic<std::int64_t> full_at_ns_{0};
};

// The buckets of every webhook partner in a config. Thread-safe; the set of partners is fixed
// at construction.
class RateLimiter {
 public:
  explicit RateLimiter(const std::vector<PartnerConfig>& partners);

  // The bucket of `partner_id`, or null if it is not a configured partner. The pointer lives
  // as long as the RateLimiter.
  TokenBucket* BucketFor(std::string_view partner_id) const;

  // Takes a token from the partner's bucket; unknown partners are not limited here (the edge
  // refuses them with 404 before asking).
  RateDecision Acquire(std::string_view partner_id, std::chrono::steady_clock::time_point now =
                                                        std::chrono::steady_clock::now());

 private:
  std::map<std::string, std::unique_ptr<TokenBucket>, std::less<>> buckets_;
};

}  // namespace firehose::edge
