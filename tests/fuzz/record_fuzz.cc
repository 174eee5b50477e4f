// Fuzz target: the queue's frame reader and record decoder (queue/log_format.h,
// queue/record.h) on arbitrary bytes, as recovery and consumers meet them on disk. Properties:
// no crash; a frame ParseFrame accepts lies inside the bytes, has the length it claims and a
// payload within the format's maximum (kFramePayloadBytesMax); a record DecodeRecord accepts
// re-encodes to the same bytes (the encoding is canonical, so a reader and writer cannot
// disagree about a record); segment headers and cursor files decode or give DataLoss.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check.h"
#include "queue/log_format.h"
#include "queue/record.h"

namespace firehose {
namespace {

void CheckRecord(std::string_view bytes) {
  Result<QueueRecord> record = DecodeRecord(bytes);
  if (!record.ok()) {
    FH_CHECK(record.status().code() == StatusCode::kDataLoss,
             "a decode error that is not DataLoss");
    return;
  }
  std::string encoded;
  EncodeRecord(*record, &encoded);
  FH_CHECK(encoded.size() == EncodedRecordSize(*record),
           "EncodedRecordSize disagrees with EncodeRecord");
  FH_CHECK(encoded == bytes, "a decoded record does not re-encode to its bytes");
}

void WalkFrames(std::string_view bytes) {
  while (!bytes.empty()) {
    log_format::Frame frame;
    std::uint64_t needed = 0;
    const log_format::FrameCheck check = log_format::ParseFrame(bytes, &frame, &needed);
    FH_CHECK(!log_format::FrameCheckName(check).empty(), "a frame check without a name");
    if (check != log_format::FrameCheck::kOk) {
      FH_CHECK(check != log_format::FrameCheck::kTruncated || needed == 0 || needed > bytes.size(),
               "a truncated frame that needs no more bytes");
      return;
    }
    FH_CHECK(
        frame.bytes == log_format::FrameBytes(frame.payload.size()) && frame.bytes <= bytes.size(),
        "a frame longer than its bytes");
    FH_CHECK(frame.payload.size() <= log_format::kFramePayloadBytesMax,
             "a frame over the format's maximum");
    FH_CHECK(frame.payload.data() >= bytes.data() &&
                 frame.payload.data() + frame.payload.size() <= bytes.data() + bytes.size(),
             "a payload outside the frame");
    CheckRecord(frame.payload);
    bytes.remove_prefix(frame.bytes);
  }
}

}  // namespace
}  // namespace firehose

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firehose;
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      CheckRecord(bytes);
      break;
    case 1:
      WalkFrames(bytes);
      break;
    case 2: {
      Result<log_format::SegmentHeader> header = log_format::DecodeSegmentHeader(bytes);
      if (header.ok()) {
        FH_CHECK(log_format::EncodeSegmentHeader(*header) ==
                     bytes.substr(0, log_format::kSegmentHeaderBytes),
                 "a segment header does not re-encode");
      }
      (void)log_format::ParseSegmentFileName(bytes);
      break;
    }
    default: {
      Result<log_format::CursorSlot> slot = log_format::DecodeCursorFile(bytes);
      FH_CHECK(slot.ok() || slot.status().code() == StatusCode::kDataLoss,
               "a cursor error that is not DataLoss");
      break;
    }
  }
  return 0;
}
