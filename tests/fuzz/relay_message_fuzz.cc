// Fuzz target: the ops error relay's message reader (ops/relay_message.h), which reads whatever
// arrives on the relay's NATS subject. Input: the message. Properties: no crash; a refusal has
// a reason; an accepted message respects every bound of the format, and encoding what was read
// and reading it again gives the same counts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "ops/relay_message.h"

namespace firehose::ops {
namespace {

constexpr std::size_t kBytesMax = 65536;

void CheckMessage(const std::string& text) {
  const Result<RelayMessage> message = DecodeRelayMessage(text, kBytesMax);
  if (!message.ok()) {
    FH_CHECK(!message.status().message().empty(), "a refused message without a reason");
    return;
  }
  FH_CHECK(text.size() <= kBytesMax, "a message over the limit accepted");
  FH_CHECK(message->at.value() > 0, "a message with at_us <= 0 accepted");
  for (const RelayCount& count : message->errors) {
    FH_CHECK(count.count >= 1 && count.count <= kRelayCountMax, "a count out of range");
    FH_CHECK(IsValidRelayPartner(count.partner) && IsValidRelayReason(count.reason),
             "an invalid partner or reason accepted");
  }
  // Encode aborts on anything the reader should have refused.
  const auto again =
      EncodeRelayMessages(message->sender, message->seq, message->at, message->errors, kBytesMax);
  std::vector<RelayCount> read_again;
  for (const EncodedRelayMessage& encoded : again) {
    const Result<RelayMessage> decoded = DecodeRelayMessage(encoded.text, kBytesMax);
    FH_CHECK(decoded.ok(), "a re-encoded message does not read");
    read_again.insert(read_again.end(), decoded->errors.begin(), decoded->errors.end());
  }
  FH_CHECK(read_again == message->errors, "the counts changed through an encode and a read");
}

}  // namespace
}  // namespace firehose::ops

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The message in its own allocation, so ASan sees any read past its end.
  firehose::ops::CheckMessage(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
