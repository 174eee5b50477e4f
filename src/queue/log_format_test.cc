#include "queue/log_format.h"

#include <gtest/gtest.h>

#include "core/crc32c.h"

namespace firehose::log_format {
namespace {

std::string MakeFrame(std::string_view payload, std::uint64_t offset, std::uint32_t group_index) {
  std::string frame(kFrameHeaderBytes, '\0');
  EncodeFrameHeader(static_cast<std::uint32_t>(payload.size()), QueueOffset(offset), group_index,
                    crc32c::Value(payload), frame.data());
  frame.append(payload);
  return frame;
}

TEST(LogFormat, SegmentNamesAreTwentyDigitsOfTheBaseOffset) {
  EXPECT_EQ(SegmentFileName(QueueOffset(0)), "00000000000000000000.log");
  EXPECT_EQ(SegmentFileName(QueueOffset(42)), "00000000000000000042.log");
  EXPECT_EQ(ParseSegmentFileName("00000000000000000042.log"), QueueOffset(42));
  EXPECT_EQ(ParseSegmentFileName(SegmentFileName(QueueOffset(UINT64_MAX))),
            QueueOffset(UINT64_MAX));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000042.log"));  // 19 digits
  EXPECT_FALSE(ParseSegmentFileName("00000000000000000042.log.tmp"));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000004x.log"));
  EXPECT_FALSE(ParseSegmentFileName("99999999999999999999.log"));  // over 2^64
}

TEST(LogFormat, SegmentHeaderRoundTripsAndRejectsAnyFlippedBit) {
  const std::string bytes = EncodeSegmentHeader({QueueOffset(7), TimestampUs(123)});
  ASSERT_EQ(bytes.size(), kSegmentHeaderBytes);
  auto header = DecodeSegmentHeader(bytes);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->base_offset, QueueOffset(7));
  EXPECT_EQ(header->created_at, TimestampUs(123));
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string damaged = bytes;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(DecodeSegmentHeader(damaged).status().code(), StatusCode::kDataLoss) << "bit " << bit;
  }
  EXPECT_EQ(DecodeSegmentHeader(bytes.substr(0, 31)).status().code(), StatusCode::kDataLoss);
}

TEST(LogFormat, FrameParsesAndEveryPrefixIsTruncated) {
  const std::string frame = MakeFrame("payload bytes", 9, 2);
  Frame parsed;
  ASSERT_EQ(ParseFrame(frame, &parsed), FrameCheck::kOk);
  EXPECT_EQ(parsed.offset, QueueOffset(9));
  EXPECT_EQ(parsed.group_index, 2u);
  EXPECT_EQ(parsed.group_first_offset(), 7u);
  EXPECT_EQ(parsed.payload, "payload bytes");
  EXPECT_EQ(parsed.bytes, frame.size());
  for (std::size_t size = 0; size < frame.size(); ++size) {
    std::uint64_t needed = 0;
    EXPECT_EQ(ParseFrame(std::string_view(frame).substr(0, size), &parsed, &needed),
              FrameCheck::kTruncated)
        << size;
    EXPECT_GT(needed, size);
  }
}

TEST(LogFormat, FrameDamageIsDetected) {
  const std::string frame = MakeFrame("payload bytes", 9, 0);
  Frame parsed;
  for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
    std::string damaged = frame;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    const FrameCheck check = ParseFrame(damaged, &parsed);
    // A flipped length bit may also read as a frame longer than the bytes at hand.
    EXPECT_NE(check, FrameCheck::kOk) << "bit " << bit;
  }
  EXPECT_EQ(ParseFrame(std::string(64, '\0'), &parsed), FrameCheck::kBadMagic);
  EXPECT_EQ(ParseFrame(std::string(2, '\0'), &parsed), FrameCheck::kBadMagic);
}

// A frame's length is bounded by the format, not by the configurable record_bytes_max: a
// header claiming up to kFramePayloadBytesMax asks for its bytes; one claiming more is corrupt.
TEST(LogFormat, FrameLengthIsBoundedByTheFormatMaximum) {
  Frame parsed;
  std::uint64_t needed = 0;
  std::string header(kFrameHeaderBytes, '\0');
  EncodeFrameHeader(kFramePayloadBytesMax, QueueOffset(3), 0, 0, header.data());
  EXPECT_EQ(ParseFrame(header, &parsed, &needed), FrameCheck::kTruncated);
  EXPECT_EQ(needed, FrameBytes(kFramePayloadBytesMax));
  EncodeFrameHeader(kFramePayloadBytesMax + 1, QueueOffset(3), 0, 0, header.data());
  EXPECT_EQ(ParseFrame(header, &parsed, &needed), FrameCheck::kTooLarge);
}

TEST(LogFormat, CursorFileTakesTheNewestValidSlot) {
  const std::string slot0 = EncodeCursorSlot({4, QueueOffset(100)});
  const std::string slot1 = EncodeCursorSlot({5, QueueOffset(120)});
  auto both = DecodeCursorFile(slot0 + slot1);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->sequence, 5u);
  EXPECT_EQ(both->committed_next, QueueOffset(120));

  std::string torn = slot0 + slot1;
  torn[kCursorSlotBytes + 17] ^= 0x40;  // the newer slot was torn: the older one stands
  auto fallback = DecodeCursorFile(torn);
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->committed_next, QueueOffset(100));

  EXPECT_EQ(DecodeCursorFile(std::string(kCursorFileBytes, '\0')).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCursorFile(slot0).status().code(), StatusCode::kDataLoss);
  // A slot must sit at the position its sequence selects.
  EXPECT_EQ(DecodeCursorFile(slot1 + slot0).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace firehose::log_format
