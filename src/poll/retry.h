// The poller's retry policy: capped exponential backoff with full jitter, the Retry-After header,
// and a per-partner circuit breaker. Pure logic with the clock passed in, so that tests drive
// every transition without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace firehose::poll {

using SteadyTime = std::chrono::steady_clock::time_point;

// Full jitter ("Exponential Backoff And Jitter", AWS): uniform in [0, min(max, initial * 2^n)]
// where n is the number of failures before this one (0 for the first retry). The cap keeps a
// long outage from growing the wait without bound; the jitter spreads partners that failed
// together so that they do not come back in lockstep.
std::chrono::milliseconds BackoffDelay(std::int64_t failures_before, std::int64_t initial_ms,
                                       std::int64_t max_ms, std::mt19937_64& random);

// Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2026 07:28:00 GMT", and the obsolete RFC 850 / asctime forms). Returns the
// wait from `now_unix_s`: zero for a date in the past, nullopt for anything unparseable
// (negative numbers, garbage), which callers treat as "no Retry-After".
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::int64_t now_unix_s);

// Per-partner circuit breaker. Closed: requests flow. After `failures_to_open` consecutive
// failures it opens: no request until `open_duration` has passed. Then it is half-open: exactly
// one probe request may go; its success closes the breaker, its failure opens it again for
// another `open_duration`. Not thread-safe (the poller's thread owns it).
class CircuitBreaker {
 public:
  enum class State : std::uint8_t { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(std::int64_t failures_to_open, std::chrono::milliseconds open_duration);

  // Whether a request may start now. In the half-open state it returns true once (the probe)
  // and false until that probe's result is reported.
  bool Allow(SteadyTime now);
  void OnSuccess();
  void OnFailure(SteadyTime now);

  // The state as of `now` (an open breaker whose time is up reads as half-open).
  State StateAt(SteadyTime now) const;
  // When an open breaker lets the probe through (meaningful while open).
  SteadyTime open_until() const { return open_until_; }
  std::int64_t consecutive_failures() const { return consecutive_failures_; }
  std::uint64_t times_opened() const { return times_opened_; }

 private:
  std::int64_t failures_to_open_;
  std::chrono::milliseconds open_duration_;
  State state_ = State::kClosed;
  std::int64_t consecutive_failures_ = 0;
  SteadyTime open_until_{};
  bool probe_in_flight_ = false;
  std::uint64_t times_opened_ = 0;
};

std::string_view BreakerStateName(CircuitBreaker::State state);  // closed | open | half_open

}  // namespace firehose::poll
