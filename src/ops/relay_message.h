// The ops error relay's message: ingest errors (webhook refusals before the queue, failed poll
// requests) counted in an `ingest` process and sent to the `ops` process over core NATS
// (ops/error_relay.h; prose and an example in docs/formats/ops-relay.md). Shared by the writer
// and the reader, so that both agree on every bound below.
//
// One message is one JSON object, at most limits.ops_relay_message_bytes_max bytes:
//   {"format":"firehose-ops-relay","format_version":1,"sender":"host:pid","seq":7,
//    "at_us":1764201600123456,
//    "errors":[{"source":"webhook","partner":"p000","reason":"signature_no_match","count":3},
//              {"source":"poll","partner":"q001","reason":"connect","count":1}]}
//   - sender: the sending process (host:pid; printable ASCII without quotes or backslashes,
//     at most kRelaySenderBytesMax bytes), for log lines; seq: that process's message
//     number, from 1 (diagnostic only: a gap means lost messages, which ops does not track).
//   - at_us: the sender's wall clock when it sent the counts (they happened in the interval
//     before). ops books them at min(at_us, its own now).
//   - errors: counts since the sender's previous message, one entry per (source, partner,
//     reason); partner is a partner id ([a-z0-9_-]{1,64}) or "_unknown", reason the edge's
//     JSON error code or the poller's failure reason ([a-z0-9_]{1,64}); count 1..kRelayCountMax.
//     A (source, partner, reason) may appear in several entries (a count split to fit).
//   Unknown fields are ignored (a later version-1 sender may add some); a different
//   format_version is refused as a whole, and so is a message with any invalid entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace firehose::ops {

inline constexpr std::string_view kRelayFormat = "firehose-ops-relay";
inline constexpr int kRelayFormatVersion = 1;
// Largest count one entry carries (a bigger count is sent as several entries): fits the
// series' 32-bit bucket counters with room to spare.
inline constexpr std::uint64_t kRelayCountMax = 1'000'000'000;
inline constexpr std::size_t kRelayReasonBytesMax = 64;
inline constexpr std::size_t kRelaySenderBytesMax = 255;
// The most a message's envelope and one entry take (a 255-byte sender, the largest seq and
// at_us, a 64-byte partner and reason, the largest count): limits.ops_relay_message_bytes_max
// has a floor (1024) above this, so every entry fits in a message.
inline constexpr std::size_t kRelayEnvelopeBytesMax = 400;
inline constexpr std::size_t kRelayEntryBytesMax = 200;

// The core NATS subject of a stream's relay: "firehose.ops.<stream>.errors". Outside the
// stream's subjects (firehose.raw.>), so it is never stored.
std::string ErrorRelaySubject(std::string_view stream);

enum class RelaySource : std::uint8_t {
  kWebhook,  // a webhook request refused before the queue: reason is its JSON error code
  kPoll,     // a failed poll request: reason is the poller's failure reason
};
std::string_view RelaySourceName(RelaySource source);  // "webhook", "poll"

struct RelayCount {
  RelaySource source = RelaySource::kWebhook;
  std::string partner;
  std::string reason;
  std::uint64_t count = 0;
  bool operator==(const RelayCount&) const = default;
};

struct RelayMessage {
  std::string sender;
  std::uint64_t seq = 0;
  TimestampUs at;
  std::vector<RelayCount> errors;
};

// Whether Decode takes `partner` / `reason` in an entry (see above).
bool IsValidRelayPartner(std::string_view partner);
bool IsValidRelayReason(std::string_view reason);

struct EncodedRelayMessage {
  std::string text;
  std::uint64_t errors = 0;  // the sum of its entries' counts
};

// The messages that carry `counts` (none if it is empty), each at most `message_bytes_max`
// bytes (>= kRelayEnvelopeBytesMax + kRelayEntryBytesMax), numbered from `first_seq`. A count
// over kRelayCountMax is split into several entries; a zero count is left out. Every entry must
// be valid (IsValidRelayPartner, IsValidRelayReason) and so must `sender` (RelaySenderName
// makes one): checked, a bug otherwise.
std::vector<EncodedRelayMessage> EncodeRelayMessages(std::string_view sender,
                                                     std::uint64_t first_seq, TimestampUs at,
                                                     const std::vector<RelayCount>& counts,
                                                     std::size_t message_bytes_max);

// "host:pid" of this process, made valid as a sender (other bytes become '_', truncated).
std::string RelaySenderName();

// Reads one message. ResourceExhausted: over `message_bytes_max`; FailedPrecondition: another
// format_version; InvalidArgument: anything else wrong (not JSON, not this format, a missing or
// mistyped field, an invalid partner, reason or count), with what it was.
Result<RelayMessage> DecodeRelayMessage(std::string_view text, std::size_t message_bytes_max);

}  // namespace firehose::ops
