// The embedded log's on-disk format, shared by its writer and its readers (recovery, consumers,
// tests). The prose specification is docs/formats/queue.md; change both together.
//
//   <dir>/00000000000000000000.log   segments, named by the offset of their first frame
//   <dir>/cursors/<consumer name>    one durable cursor per consumer
//   <dir>/<segment name>.free        a retired segment's file kept for a later segment
//
// Every integer is little-endian. Offsets are dense record indexes starting at 0.
//
// Segment header, 32 bytes, written to a temporary file, fsync'd and renamed into place, so a
// segment file always starts with a complete header:
//   u32 magic (kSegmentMagic)   u16 version (1)   u16 header bytes (32)
//   u64 base offset             the offset of its first frame; equals the file name
//   i64 created_at_us
//   u32 reserved (0)            u32 CRC32C of bytes [0, 28)
//
// Frame, a 24-byte header followed by the payload (an encoded queue record, queue/record.h):
//   u32 magic (kFrameMagic)     u32 payload bytes (at most kFramePayloadBytesMax)
//   u64 offset                  u32 group index: the frame's position in its group commit
//   u32 CRC32C of the payload followed by header bytes [0, 20)
// The group index lets recovery tell a write torn by a power loss (the frames of the last,
// never-acknowledged group persisted out of order) from corruption of acknowledged data.
//
// Cursor file, 64 bytes: two 32-byte slots written in turn, so that a torn write of one slot
// leaves the other intact. The valid slot with the higher sequence wins:
//   u32 magic (kCursorMagic)    u16 version (1)   u16 reserved (0)
//   u64 sequence                u64 committed_next (one past the last committed offset)
//   u32 reserved (0)            u32 CRC32C of bytes [0, 28)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace firehose::log_format {

inline constexpr std::uint16_t kVersion = 1;

inline constexpr std::uint32_t kSegmentMagic = 0x53514846;  // "FHQS"
inline constexpr std::size_t kSegmentHeaderBytes = 32;
inline constexpr std::string_view kSegmentSuffix = ".log";
inline constexpr std::size_t kSegmentNameDigits = 20;

// Bytes 0x51 0xEE 0xFF 0xC0: 0xFF never occurs in UTF-8 text, so a JSON body rarely holds it,
// and a zero-filled tail never does.
inline constexpr std::uint32_t kFrameMagic = 0xC0FFEE51;
inline constexpr std::size_t kFrameHeaderBytes = 24;
// The largest payload a frame may claim; a longer length field is corruption. A fixed figure of
// the format, never the configurable record_bytes_max: that limit is enforced by Append only,
// so a record appended under a higher limit stays readable (and is never cut as a torn tail)
// after the limit is lowered. It is the largest record_bytes_max the config accepts
// (core/limits.h; log_format.cc asserts it at compile time), and must never be lowered: logs
// written under it must stay readable. The lake's longest line (lake/lake_format.h) counts on it.
inline constexpr std::uint32_t kFramePayloadBytesMax = 64u << 20;

inline constexpr std::uint32_t kCursorMagic = 0x43514846;  // "FHQC"
inline constexpr std::size_t kCursorSlotBytes = 32;
inline constexpr std::size_t kCursorFileBytes = 2 * kCursorSlotBytes;

// ---- segment files ----

struct SegmentHeader {
  QueueOffset base_offset;
  TimestampUs created_at;
};

// "00000000000000000042.log"
std::string SegmentFileName(QueueOffset base_offset);
// The base offset named by a segment file name, or nullopt for any other name.
std::optional<QueueOffset> ParseSegmentFileName(std::string_view file_name);

std::string EncodeSegmentHeader(const SegmentHeader& header);
// DataLoss when the bytes are short, or the magic, version or CRC is wrong.
Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes);

// ---- frames ----

// Total bytes of a frame carrying `payload_bytes`.
constexpr std::uint64_t FrameBytes(std::uint64_t payload_bytes) {
  return kFrameHeaderBytes + payload_bytes;
}

// Writes a frame header into out[0, kFrameHeaderBytes). `payload_crc` is
// crc32c::Value(payload), computed by the caller (the appending thread, off the writer thread).
void EncodeFrameHeader(std::uint32_t payload_bytes, QueueOffset offset, std::uint32_t group_index,
                       std::uint32_t payload_crc, char* out);

enum class FrameCheck {
  kOk,
  kTruncated,  // the bytes end inside the frame's header or payload
  kBadMagic,   // includes a zero-filled tail
  kTooLarge,   // the length field claims more than kFramePayloadBytesMax
  kBadCrc,
};
std::string_view FrameCheckName(FrameCheck check);

struct Frame {
  QueueOffset offset;
  std::uint32_t group_index = 0;
  std::string_view payload;  // points into the bytes given to ParseFrame
  std::uint64_t bytes = 0;   // header + payload

  // The offset of the first frame of this frame's group commit.
  std::uint64_t group_first_offset() const { return offset.value() - group_index; }
};

// Parses the frame at the start of `bytes`. On kOk fills `frame`; on kTruncated, `needed_bytes`
// (if given) receives how many bytes the frame would need when its header is readable (at most
// FrameBytes(kFramePayloadBytesMax)).
FrameCheck ParseFrame(std::string_view bytes, Frame* frame, std::uint64_t* needed_bytes = nullptr);

// ---- cursor files ----

struct CursorSlot {
  std::uint64_t sequence = 0;
  QueueOffset committed_next;
};

std::string EncodeCursorSlot(const CursorSlot& slot);
// The slot a sequence number is written to.
constexpr std::size_t CursorSlotIndex(std::uint64_t sequence) { return sequence % 2; }
// Picks the valid slot with the higher sequence from a whole cursor file; DataLoss when neither
// slot is valid or the file has the wrong size.
Result<CursorSlot> DecodeCursorFile(std::string_view bytes);

}  // namespace firehose::log_format
