// The queue record: one arrival as the edge received it (DESIGN §4). The same encoding is the
// payload of an embedded-log frame and of a JetStream message. Format: docs/formats/queue.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace firehose {

enum class ArrivalSource : std::uint8_t { kWebhook = 1, kPoll = 2 };
std::string_view ArrivalSourceName(ArrivalSource source);  // "webhook" | "poll"

struct QueueRecord {
  ArrivalId arrival_id;
  PartnerId partner_id;
  ArrivalSource source = ArrivalSource::kWebhook;
  TimestampUs received_at;
  // Request metadata worth keeping: the signature's id (Standard Webhooks webhook-id, or the
  // Stripe-Signature timestamp) and the client's address. Never a secret.
  std::string signature_id;
  std::string remote_address;
  std::string body;  // the raw bytes exactly as received
};

// Record encoding, version 1 (all integers little-endian):
//   u8  version (=1)        u8  source         u16 reserved (0)
//   i64 received_at_us      26B arrival_id (ASCII ULID)
//   u8  partner_id length   partner_id bytes
//   u16 signature_id length signature_id bytes
//   u8  remote_address length remote_address bytes
//   u32 body length         body bytes
inline constexpr std::uint8_t kRecordVersion = 1;
inline constexpr std::size_t kSignatureIdBytesMax = 1024;
inline constexpr std::size_t kRemoteAddressBytesMax = 255;

// Appends the encoding of `record` to `out`. Metadata longer than its field allows is truncated.
void EncodeRecord(const QueueRecord& record, std::string* out);
// Writes the encoding of `record` to out[0, EncodedRecordSize(record)).
void EncodeRecordInto(const QueueRecord& record, char* out);
// Size EncodeRecord will append.
std::size_t EncodedRecordSize(const QueueRecord& record);
// Decodes one record; DataLoss if the bytes are not a well-formed version-1 record.
Result<QueueRecord> DecodeRecord(std::string_view bytes);

}  // namespace firehose
