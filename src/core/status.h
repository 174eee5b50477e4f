// Errors as values at module boundaries.
//
// A Status carries a coarse Code (what the caller should do about it) and a message that
// names the specific problem. Operating errors (bad input, full disk, partner down) travel as
// Status; a broken invariant is a bug and stops the process (see core/check.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/check.h"

namespace firehose {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,    // the input is malformed; retrying the same input will not help
  kNotFound,           // the thing asked for does not exist
  kAlreadyExists,      // creating something that is there already
  kFailedPrecondition, // the system is not in a state where this can run (e.g. stale lock)
  kResourceExhausted,  // a named limit was reached (queue full, disk full, rate limit)
  kUnavailable,        // transient: try again later (shutting down, peer down, timeout)
  kDataLoss,           // stored bytes failed verification (CRC, checksum, truncation)
  kUnauthenticated,    // a signature or credential did not verify
  kOutOfRange,         // a value is outside what the type can hold (money overflow)
  kInternal,           // an I/O or library failure with no better category
  kCancelled,          // the operation was stopped on purpose
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("reading cursor: ...").
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

// Status for a failed system call: Internal (or ResourceExhausted for ENOSPC/EDQUOT/EMFILE),
// with "<what>: <strerror(errno_value)>".
Status ErrnoStatus(std::string_view what, int errno_value);

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    FH_CHECK(!std::get<Status>(state_).ok(), "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(state_);
  }

  T& value() & {
    FH_CHECK(ok(), "value() on an error Result");
    return std::get<T>(state_);
  }
  const T& value() const& {
    FH_CHECK(ok(), "value() on an error Result");
    return std::get<T>(state_);
  }
  T&& value() && {
    FH_CHECK(ok(), "value() on an error Result");
    return std::get<T>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace firehose

#define FH_CONCAT_INNER(a, b) a##b
#define FH_CONCAT(a, b) FH_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define FH_RETURN_IF_ERROR(expr)                           \
  do {                                                     \
    ::firehose::Status fh_status_ = (expr);                \
    if (!fh_status_.ok()) return fh_status_;               \
  } while (false)

// `FH_ASSIGN_OR_RETURN(auto x, Compute());` declares x from a Result or returns its Status.
#define FH_ASSIGN_OR_RETURN(lhs, expr) \
  FH_ASSIGN_OR_RETURN_IMPL(FH_CONCAT(fh_result_, __LINE__), lhs, expr)
#define FH_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                             \
  if (!result.ok()) return result.status();         \
  lhs = std::move(result).value()
