// Sends a plan to a Firehose edge the way real partners do (DESIGN §3, §9): signed webhook POSTs
// over keep-alive connections from C concurrent senders, retrying the same bytes on connection
// errors, timeouts, 5xx and 429 with capped exponential backoff that honours Retry-After, until a
// 2xx. 401/404/413 and other 4xx are final errors (except the 401 a bad-signature body expects).
//
// Phases (generator.h) run one after the other: a phase starts when every send of the one
// before has resolved, and a send that depends on another is skipped unless that one got a 2xx.
//
// HTTP is libcurl: one easy handle per sender thread (its connection stays open between
// requests). Thread-safe internally; SendPlan itself is one blocking call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/fleet.h"
#include "sim/generator.h"

namespace firehose::sim {

struct SenderOptions {
  std::string target;  // "http://127.0.0.1:8080": requests go to <target>/v1/webhooks/<partner>
  int concurrency = 8;
  double requests_per_second = 0;    // over all senders, attempts included; 0: no pacing
  std::int64_t timeout_ms = 10'000;  // one attempt, connect to last byte
  std::int64_t connect_timeout_ms = 2'000;
  std::int64_t backoff_initial_ms = 100;  // doubles per retry, with jitter ...
  std::int64_t backoff_max_ms = 5'000;    // ... up to this
  std::int64_t retry_after_max_s = 300;   // a longer Retry-After is capped (a broken server
                                          // must not park a sender for hours)
  std::int64_t give_up_after_s = 600;     // a send still failing after this is undeliverable
  std::filesystem::path acks_path;        // empty: no acknowledgement file
  bool progress = false;                  // a status line on stderr every second
  std::uint64_t seed = 1;                 // backoff jitter
};

inline constexpr int kConcurrencyMax = 1024;
inline constexpr std::size_t kResponseBytesMax = 64 << 10;  // answer bodies are small JSON

enum class Outcome : std::uint8_t {
  kNotSent,
  kAcknowledged,  // 2xx
  kRejected,      // the 401 a bad-signature body expects
  kFailed,        // a final error, or retried for longer than give_up_after_s
  kSkipped,       // the send it depends on never got a 2xx
};
std::string_view OutcomeName(Outcome outcome);

struct SendResult {
  Outcome outcome = Outcome::kNotSent;
  int http_status = 0;  // of the last attempt (0: no HTTP answer)
  int attempts = 0;
  // An attempt ended without an answer after the request may have reached the server (timeout,
  // connection lost): the server may have stored that attempt as well as the acknowledged one.
  bool ambiguous = false;
  // Answered, but not as the plan expects: a 2xx to a bad signature, a 401 to a good one, or an
  // answer whose event / quarantine counts differ from the plan's.
  bool unexpected = false;
  std::string arrival_id;
  std::string problem;  // for failed, skipped and unexpected sends
};

struct SendReport {
  std::vector<SendResult> results;              // one per plan send
  std::map<std::string, std::int64_t> answers;  // "202", "503", "timeout", "connect_error", ...
  std::int64_t attempts = 0;
  std::int64_t retries = 0;
  std::int64_t acknowledged = 0;
  std::int64_t rejected = 0;
  std::int64_t failed = 0;
  std::int64_t skipped = 0;
  std::int64_t unexpected = 0;
  std::int64_t ambiguous = 0;
  double elapsed_s = 0;

  std::vector<bool> Acknowledged() const;
  // Every send resolved as the plan expects.
  bool ok() const { return failed == 0 && skipped == 0 && unexpected == 0; }
};

// Sends every planned send. Fails only when it cannot start (bad target, acks file); delivery
// problems are in the report.
Result<SendReport> SendPlan(const Fleet& fleet, const Plan& plan, const SenderOptions& options);

struct HttpHeader {
  std::string name;
  std::string value;
};

// The signature headers of a send signed at `timestamp_s`, as the partner's scheme wants them
// (bad-signature sends get the kind of wrong signature they plan).
std::vector<HttpHeader> SignatureHeaders(const SimPartner& partner, const PlannedSend& send,
                                         std::string_view body, std::int64_t timestamp_s);

// One line of the acknowledgement file (docs/formats/truth.md): arrival_id TAB partner_id TAB
// body SHA-256 (hex) LF.
struct AckLine {
  std::string arrival_id;
  std::string partner_id;
  std::string body_sha256;
};
std::string FormatAckLine(const AckLine& line);
Result<std::vector<AckLine>> ReadAckFile(const std::filesystem::path& path);

}  // namespace firehose::sim
