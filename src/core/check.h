// Invariant checks that stay on in release builds.
//
// FH_CHECK guards invariants whose violation would corrupt or lose data (a frame written past
// its segment, an offset going backwards). They are never reachable from user input: bad input
// is a Status, not a crash.
#pragma once

#include <string_view>

namespace firehose {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              std::string_view message);

}  // namespace firehose

#define FH_CHECK(condition, message)                                          \
  do {                                                                        \
    if (!(condition)) [[unlikely]] {                                          \
      ::firehose::CheckFailed(__FILE__, __LINE__, #condition, (message));     \
    }                                                                         \
  } while (false)
