#include "poll/retry.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <string>

namespace firehose::poll {

namespace {
// 2^62 ms is far beyond any cap; stop doubling before the shift overflows.
constexpr std::int64_t kDoublingsMax = 40;
}  // namespace

std::chrono::milliseconds BackoffDelay(std::int64_t failures_before, std::int64_t initial_ms,
                                       std::int64_t max_ms, std::mt19937_64& random) {
  const std::int64_t doublings = std::clamp<std::int64_t>(failures_before, 0, kDoublingsMax);
  std::int64_t ceiling = initial_ms;
  for (std::int64_t i = 0; i < doublings && ceiling < max_ms; ++i) ceiling *= 2;
  ceiling = std::clamp<std::int64_t>(ceiling, 0, max_ms);
  std::uniform_int_distribution<std::int64_t> jitter(0, ceiling);
  return std::chrono::milliseconds(jitter(random));
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::int64_t now_unix_s) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t seconds = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (error != std::errc() || end != value.data() + value.size()) {
      // More digits than int64 holds: an absurd wait, capped by the caller.
      return std::chrono::seconds(INT32_MAX);
    }
    return std::chrono::seconds(seconds);
  }
  // A date has a letter first (a weekday); curl_getdate also accepts loose forms like "+5",
  // which Retry-After does not allow.
  if (!std::isalpha(static_cast<unsigned char>(value.front()))) return std::nullopt;
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::chrono::seconds(
      std::max<std::int64_t>(0, static_cast<std::int64_t>(when) - now_unix_s));
}

CircuitBreaker::CircuitBreaker(std::int64_t failures_to_open,
                               std::chrono::milliseconds open_duration)
    : failures_to_open_(std::max<std::int64_t>(1, failures_to_open)),
      open_duration_(open_duration) {}

bool CircuitBreaker::Allow(SteadyTime now) {
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (now < open_until_) return false;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return true;
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::OnSuccess() {
  state_ = State::kClosed;
  consecutive_failures_ = 0;
  probe_in_flight_ = false;
}

void CircuitBreaker::OnFailure(SteadyTime now) {
  ++consecutive_failures_;
  probe_in_flight_ = false;
  if (state_ == State::kHalfOpen || consecutive_failures_ >= failures_to_open_) {
    if (state_ != State::kOpen) ++times_opened_;
    state_ = State::kOpen;
    open_until_ = now + open_duration_;
  }
}

CircuitBreaker::State CircuitBreaker::StateAt(SteadyTime now) const {
  if (state_ == State::kOpen && now >= open_until_) return State::kHalfOpen;
  return state_;
}

std::string_view BreakerStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

}  // namespace firehose::poll
