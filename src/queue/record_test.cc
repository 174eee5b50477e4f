#include "queue/record.h"

#include <gtest/gtest.h>

#include "core/arrival_id.h"

namespace firehose {
namespace {

QueueRecord Sample() {
  QueueRecord record;
  record.arrival_id = NewArrivalId(TimestampUs(1'700'000'000'000'000));
  record.partner_id = *PartnerId::Parse("acme");
  record.source = ArrivalSource::kPoll;
  record.received_at = TimestampUs(1'700'000'000'123'456);
  record.signature_id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
  record.remote_address = "127.0.0.1:50522";
  record.body = std::string("{\"a\":1}\0binary\xff", 16);
  return record;
}

TEST(QueueRecord, RoundTrips) {
  const QueueRecord record = Sample();
  std::string bytes;
  EncodeRecord(record, &bytes);
  EXPECT_EQ(bytes.size(), EncodedRecordSize(record));
  auto decoded = DecodeRecord(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->arrival_id, record.arrival_id);
  EXPECT_EQ(decoded->partner_id, record.partner_id);
  EXPECT_EQ(decoded->source, ArrivalSource::kPoll);
  EXPECT_EQ(decoded->received_at, record.received_at);
  EXPECT_EQ(decoded->signature_id, record.signature_id);
  EXPECT_EQ(decoded->remote_address, record.remote_address);
  EXPECT_EQ(decoded->body, record.body);
}

TEST(QueueRecord, EveryTruncationAndVersionChangeIsDataLoss) {
  std::string bytes;
  EncodeRecord(Sample(), &bytes);
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_EQ(DecodeRecord(std::string_view(bytes).substr(0, size)).status().code(), StatusCode::kDataLoss);
  }
  std::string longer = bytes + "x";
  EXPECT_EQ(DecodeRecord(longer).status().code(), StatusCode::kDataLoss);
  std::string other_version = bytes;
  other_version[0] = 2;
  EXPECT_EQ(DecodeRecord(other_version).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace firehose
