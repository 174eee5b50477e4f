#include "queue/log_format.h"

#include <algorithm>
#include <cstring>

#include "core/crc32c.h"
#include "core/limits.h"
#include "core/little_endian.h"

namespace firehose::log_format {

namespace {

// Both fixed 32-byte records (segment header, cursor slot) end with a CRC of their first 28.
constexpr std::size_t kFixedCrcPosition = 28;

void SealFixedRecord(char* record) {
  PutLittleEndian<std::uint32_t>(record + kFixedCrcPosition,
                                 crc32c::Value(record, kFixedCrcPosition));
}

constexpr std::int64_t RecordBytesMaxAccepted() {
  for (const LimitSpec& spec : kLimitSpecs) {
    if (spec.name == "record_bytes_max") return spec.max;
  }
  return -1;
}
// A record the config lets Append store must be readable. Raising the config's bound past the
// format's maximum is a format change (and the lake's line limit must follow).
static_assert(RecordBytesMaxAccepted() > 0 &&
                  RecordBytesMaxAccepted() <= static_cast<std::int64_t>(kFramePayloadBytesMax),
              "limits.record_bytes_max may exceed log_format::kFramePayloadBytesMax");

bool FixedRecordCrcMatches(const char* record) {
  return GetLittleEndian<std::uint32_t>(record + kFixedCrcPosition) ==
         crc32c::Value(record, kFixedCrcPosition);
}

std::uint32_t FrameCrc(std::uint32_t payload_crc, const char* header) {
  return crc32c::Extend(payload_crc, header, kFrameHeaderBytes - 4);
}

}  // namespace

std::string SegmentFileName(QueueOffset base_offset) {
  std::string digits = std::to_string(base_offset.value());
  return std::string(kSegmentNameDigits - digits.size(), '0') + digits +
         std::string(kSegmentSuffix);
}

std::optional<QueueOffset> ParseSegmentFileName(std::string_view file_name) {
  if (file_name.size() != kSegmentNameDigits + kSegmentSuffix.size()) return std::nullopt;
  if (file_name.substr(kSegmentNameDigits) != kSegmentSuffix) return std::nullopt;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < kSegmentNameDigits; ++i) {
    const char c = file_name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return QueueOffset(value);
}

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string bytes(kSegmentHeaderBytes, '\0');
  char* out = bytes.data();
  PutLittleEndian<std::uint32_t>(out, kSegmentMagic);
  PutLittleEndian<std::uint16_t>(out + 4, kVersion);
  PutLittleEndian<std::uint16_t>(out + 6, static_cast<std::uint16_t>(kSegmentHeaderBytes));
  PutLittleEndian<std::uint64_t>(out + 8, header.base_offset.value());
  PutLittleEndian<std::int64_t>(out + 16, header.created_at.value());
  SealFixedRecord(out);
  return bytes;
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes) {
    return DataLoss("segment header is truncated (" + std::to_string(bytes.size()) + " bytes)");
  }
  const char* in = bytes.data();
  if (GetLittleEndian<std::uint32_t>(in) != kSegmentMagic)
    return DataLoss("segment header has a bad magic");
  if (!FixedRecordCrcMatches(in)) return DataLoss("segment header fails its CRC");
  const auto version = GetLittleEndian<std::uint16_t>(in + 4);
  if (version != kVersion || GetLittleEndian<std::uint16_t>(in + 6) != kSegmentHeaderBytes) {
    return DataLoss("segment format version " + std::to_string(version) + " is unknown");
  }
  return SegmentHeader{QueueOffset(GetLittleEndian<std::uint64_t>(in + 8)),
                       TimestampUs(GetLittleEndian<std::int64_t>(in + 16))};
}

void EncodeFrameHeader(std::uint32_t payload_bytes, QueueOffset offset, std::uint32_t group_index,
                       std::uint32_t payload_crc, char* out) {
  PutLittleEndian<std::uint32_t>(out, kFrameMagic);
  PutLittleEndian<std::uint32_t>(out + 4, payload_bytes);
  PutLittleEndian<std::uint64_t>(out + 8, offset.value());
  PutLittleEndian<std::uint32_t>(out + 16, group_index);
  PutLittleEndian<std::uint32_t>(out + 20, FrameCrc(payload_crc, out));
}

std::string_view FrameCheckName(FrameCheck check) {
  switch (check) {
    case FrameCheck::kOk:
      return "ok";
    case FrameCheck::kTruncated:
      return "truncated frame";
    case FrameCheck::kBadMagic:
      return "bad frame magic";
    case FrameCheck::kTooLarge:
      return "frame length over the format's maximum";
    case FrameCheck::kBadCrc:
      return "frame CRC mismatch";
  }
  return "unknown";
}

FrameCheck ParseFrame(std::string_view bytes, Frame* frame, std::uint64_t* needed_bytes) {
  // A short tail is checked for the magic first, so that zeros read as kBadMagic, not as a
  // truncated frame that more bytes could complete.
  if (bytes.empty()) {
    if (needed_bytes != nullptr) *needed_bytes = kFrameHeaderBytes;
    return FrameCheck::kTruncated;
  }
  const std::size_t magic_bytes = std::min<std::size_t>(bytes.size(), 4);
  char magic[4];
  PutLittleEndian<std::uint32_t>(magic, kFrameMagic);
  if (std::memcmp(bytes.data(), magic, magic_bytes) != 0) return FrameCheck::kBadMagic;
  if (bytes.size() < kFrameHeaderBytes) {
    if (needed_bytes != nullptr) *needed_bytes = kFrameHeaderBytes;
    return FrameCheck::kTruncated;
  }
  const char* in = bytes.data();
  const auto payload_bytes = GetLittleEndian<std::uint32_t>(in + 4);
  if (payload_bytes > kFramePayloadBytesMax) return FrameCheck::kTooLarge;
  const std::uint64_t total = FrameBytes(payload_bytes);
  if (bytes.size() < total) {
    if (needed_bytes != nullptr) *needed_bytes = total;
    return FrameCheck::kTruncated;
  }
  const std::string_view payload = bytes.substr(kFrameHeaderBytes, payload_bytes);
  const std::uint32_t expected = FrameCrc(crc32c::Value(payload), in);
  if (GetLittleEndian<std::uint32_t>(in + 20) != expected) return FrameCheck::kBadCrc;
  frame->offset = QueueOffset(GetLittleEndian<std::uint64_t>(in + 8));
  frame->group_index = GetLittleEndian<std::uint32_t>(in + 16);
  frame->payload = payload;
  frame->bytes = total;
  return FrameCheck::kOk;
}

std::string EncodeCursorSlot(const CursorSlot& slot) {
  std::string bytes(kCursorSlotBytes, '\0');
  char* out = bytes.data();
  PutLittleEndian<std::uint32_t>(out, kCursorMagic);
  PutLittleEndian<std::uint16_t>(out + 4, kVersion);
  PutLittleEndian<std::uint64_t>(out + 8, slot.sequence);
  PutLittleEndian<std::uint64_t>(out + 16, slot.committed_next.value());
  SealFixedRecord(out);
  return bytes;
}

Result<CursorSlot> DecodeCursorFile(std::string_view bytes) {
  if (bytes.size() != kCursorFileBytes) {
    return DataLoss("cursor file is " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(kCursorFileBytes));
  }
  std::optional<CursorSlot> best;
  for (std::size_t index = 0; index < 2; ++index) {
    const char* in = bytes.data() + index * kCursorSlotBytes;
    if (GetLittleEndian<std::uint32_t>(in) != kCursorMagic || !FixedRecordCrcMatches(in)) continue;
    if (GetLittleEndian<std::uint16_t>(in + 4) != kVersion) continue;
    const CursorSlot slot{GetLittleEndian<std::uint64_t>(in + 8),
                          QueueOffset(GetLittleEndian<std::uint64_t>(in + 16))};
    if (CursorSlotIndex(slot.sequence) != index) continue;
    if (!best || slot.sequence > best->sequence) best = slot;
  }
  if (!best) return DataLoss("neither cursor slot is valid");
  return *best;
}

}  // namespace firehose::log_format
