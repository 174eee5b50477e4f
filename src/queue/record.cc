#include "queue/record.h"

#include <algorithm>
#include <cstring>

#include "core/limits.h"
#include "core/little_endian.h"

namespace firehose {

namespace {

constexpr std::size_t kFixedBytes = 1 + 1 + 2 + 8 + ArrivalId::kChars + 1 + 2 + 1 + 4;
static_assert(kFixedBytes + PartnerId::kBytesMax + kSignatureIdBytesMax + kRemoteAddressBytesMax <=
                  static_cast<std::size_t>(kRecordEnvelopeBytesMax),
              "the config's body_bytes_max check assumes a smaller envelope");

char* PutBytes(char* out, std::string_view bytes) {
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  return out + bytes.size();
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  bool Get(T* value) {
    if (bytes_.size() < sizeof(T)) return false;
    *value = GetLittleEndian<T>(bytes_.data());
    bytes_.remove_prefix(sizeof(T));
    return true;
  }
  bool Take(std::size_t size, std::string_view* out) {
    if (bytes_.size() < size) return false;
    *out = bytes_.substr(0, size);
    bytes_.remove_prefix(size);
    return true;
  }
  bool done() const { return bytes_.empty(); }

 private:
  std::string_view bytes_;
};

}  // namespace

std::string_view ArrivalSourceName(ArrivalSource source) {
  return source == ArrivalSource::kPoll ? "poll" : "webhook";
}

std::size_t EncodedRecordSize(const QueueRecord& record) {
  return kFixedBytes + record.partner_id.str().size() +
         std::min(record.signature_id.size(), kSignatureIdBytesMax) +
         std::min(record.remote_address.size(), kRemoteAddressBytesMax) + record.body.size();
}

void EncodeRecord(const QueueRecord& record, std::string* out) {
  const std::size_t at = out->size();
  out->resize(at + EncodedRecordSize(record));
  EncodeRecordInto(record, out->data() + at);
}

void EncodeRecordInto(const QueueRecord& record, char* out) {
  FH_CHECK(record.arrival_id.str().size() == ArrivalId::kChars, "record without an arrival id");
  FH_CHECK(!record.partner_id.empty(), "record without a partner id");
  FH_CHECK(record.body.size() <= UINT32_MAX, "record body over 4 GiB");
  const std::string_view signature_id =
      std::string_view(record.signature_id).substr(0, kSignatureIdBytesMax);
  const std::string_view remote_address =
      std::string_view(record.remote_address).substr(0, kRemoteAddressBytesMax);
  out = PutLittleEndian<std::uint8_t>(out, kRecordVersion);
  out = PutLittleEndian<std::uint8_t>(out, static_cast<std::uint8_t>(record.source));
  out = PutLittleEndian<std::uint16_t>(out, 0);
  out = PutLittleEndian<std::int64_t>(out, record.received_at.value());
  out = PutBytes(out, record.arrival_id.str());
  out =
      PutLittleEndian<std::uint8_t>(out, static_cast<std::uint8_t>(record.partner_id.str().size()));
  out = PutBytes(out, record.partner_id.str());
  out = PutLittleEndian<std::uint16_t>(out, static_cast<std::uint16_t>(signature_id.size()));
  out = PutBytes(out, signature_id);
  out = PutLittleEndian<std::uint8_t>(out, static_cast<std::uint8_t>(remote_address.size()));
  out = PutBytes(out, remote_address);
  out = PutLittleEndian<std::uint32_t>(out, static_cast<std::uint32_t>(record.body.size()));
  PutBytes(out, record.body);
}

Result<QueueRecord> DecodeRecord(std::string_view bytes) {
  Reader reader(bytes);
  std::uint8_t version = 0, source = 0, partner_size = 0, address_size = 0;
  std::uint16_t reserved = 0, signature_size = 0;
  std::uint32_t body_size = 0;
  std::int64_t received_at = 0;
  std::string_view arrival_id, partner_id, signature_id, remote_address, body;
  const bool complete = reader.Get(&version) && reader.Get(&source) && reader.Get(&reserved) &&
                        reader.Get(&received_at) && reader.Take(ArrivalId::kChars, &arrival_id) &&
                        reader.Get(&partner_size) && reader.Take(partner_size, &partner_id) &&
                        reader.Get(&signature_size) && reader.Take(signature_size, &signature_id) &&
                        reader.Get(&address_size) && reader.Take(address_size, &remote_address) &&
                        reader.Get(&body_size) && reader.Take(body_size, &body) && reader.done();
  if (!complete) return DataLoss("queue record is truncated or has trailing bytes");
  if (version != kRecordVersion)
    return DataLoss("queue record version " + std::to_string(version) + " is unknown");
  // The writer never sets these (the reserved field is 0, metadata is cut to its maximum): a
  // record that has them was not written by EncodeRecord, and accepting it would let a reader
  // and the writer disagree about the same record.
  if (reserved != 0)
    return DataLoss("queue record reserved field is " + std::to_string(reserved) + ", not 0");
  if (signature_id.size() > kSignatureIdBytesMax) {
    return DataLoss("queue record signature id is longer than " +
                    std::to_string(kSignatureIdBytesMax) + " bytes");
  }
  if (source != static_cast<std::uint8_t>(ArrivalSource::kWebhook) &&
      source != static_cast<std::uint8_t>(ArrivalSource::kPoll)) {
    return DataLoss("queue record source " + std::to_string(source) + " is unknown");
  }
  auto parsed_arrival = ArrivalId::Parse(arrival_id);
  auto parsed_partner = PartnerId::Parse(partner_id);
  if (!parsed_arrival.ok() || !parsed_partner.ok())
    return DataLoss("queue record has a malformed id");
  QueueRecord record;
  record.arrival_id = std::move(parsed_arrival).value();
  record.partner_id = std::move(parsed_partner).value();
  record.source = static_cast<ArrivalSource>(source);
  record.received_at = TimestampUs(received_at);
  record.signature_id = std::string(signature_id);
  record.remote_address = std::string(remote_address);
  record.body = std::string(body);
  return record;
}

}  // namespace firehose
