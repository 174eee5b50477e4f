#include "ops/relay_message.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace firehose::ops {
namespace {

constexpr std::size_t kBytesMax = 65536;
const TimestampUs kAt(1'764'201'600'123'456);

RelayCount Webhook(std::string partner, std::string reason, std::uint64_t count) {
  return {RelaySource::kWebhook, std::move(partner), std::move(reason), count};
}

std::string OneMessage(const std::vector<RelayCount>& counts) {
  const auto messages = EncodeRelayMessages("host:1", 1, kAt, counts, kBytesMax);
  EXPECT_EQ(messages.size(), 1u);
  return messages.empty() ? "" : messages[0].text;
}

// A message as the sender would write it, with `field` replaced by `value` (raw JSON).
std::string WithField(const std::string& field, const nlohmann::json& value) {
  nlohmann::json root = nlohmann::json::parse(OneMessage({Webhook("p000", "rate_limited", 1)}));
  root[field] = value;
  return root.dump();
}

std::string WithEntry(const nlohmann::json& entry) {
  return WithField("errors", nlohmann::json::array({entry}));
}

TEST(RelayMessageTest, RoundTripsEveryField) {
  const std::vector<RelayCount> counts = {Webhook("p000", "signature_no_match", 3),
                                          Webhook("_unknown", "unknown_partner", 1),
                                          {RelaySource::kPoll, "q001", "connect", 7}};
  const auto messages = EncodeRelayMessages("host-a:4242", 17, kAt, counts, kBytesMax);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].errors, 11u);
  auto decoded = DecodeRelayMessage(messages[0].text, kBytesMax);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString() << "\n" << messages[0].text;
  EXPECT_EQ(decoded->sender, "host-a:4242");
  EXPECT_EQ(decoded->seq, 17u);
  EXPECT_EQ(decoded->at, kAt);
  EXPECT_EQ(decoded->errors, counts);
}

TEST(RelayMessageTest, NothingToSendIsNoMessage) {
  EXPECT_TRUE(EncodeRelayMessages("h:1", 1, kAt, {}, kBytesMax).empty());
  EXPECT_TRUE(EncodeRelayMessages("h:1", 1, kAt, {Webhook("p000", "x", 0)}, kBytesMax).empty());
}

TEST(RelayMessageTest, SplitsToFitTheSizeLimitAndNumbersTheMessages) {
  std::vector<RelayCount> counts;
  std::uint64_t total = 0;
  for (int i = 0; i < 500; ++i) {
    counts.push_back(Webhook("partner" + std::to_string(i), "signature_timestamp_too_old",
                             static_cast<std::uint64_t>(i + 1)));
    total += static_cast<std::uint64_t>(i + 1);
  }
  constexpr std::size_t kSmall = 1024;
  const auto messages = EncodeRelayMessages("h:1", 100, kAt, counts, kSmall);
  ASSERT_GT(messages.size(), 50u);
  std::vector<RelayCount> decoded_counts;
  std::uint64_t seq = 100;
  std::uint64_t carried = 0;
  for (const EncodedRelayMessage& message : messages) {
    EXPECT_LE(message.text.size(), kSmall);
    auto decoded = DecodeRelayMessage(message.text, kSmall);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->seq, seq++);
    std::uint64_t in_message = 0;
    for (const RelayCount& count : decoded->errors) in_message += count.count;
    EXPECT_EQ(in_message, message.errors);
    carried += in_message;
    decoded_counts.insert(decoded_counts.end(), decoded->errors.begin(), decoded->errors.end());
  }
  EXPECT_EQ(carried, total);
  EXPECT_EQ(decoded_counts, counts);
}

TEST(RelayMessageTest, SplitsACountOverTheEntryMaximum) {
  const std::uint64_t big = 3 * kRelayCountMax + 5;
  const auto messages = EncodeRelayMessages("h:1", 1, kAt, {Webhook("p000", "x", big)}, kBytesMax);
  ASSERT_EQ(messages.size(), 1u);
  auto decoded = DecodeRelayMessage(messages[0].text, kBytesMax);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->errors.size(), 4u);
  std::uint64_t sum = 0;
  for (const RelayCount& count : decoded->errors) {
    EXPECT_LE(count.count, kRelayCountMax);
    sum += count.count;
  }
  EXPECT_EQ(sum, big);
}

// The floor of ops_relay_message_bytes_max holds the largest envelope and entry there can be.
TEST(RelayMessageTest, TheLargestEnvelopeAndEntryFitTheirBounds) {
  const std::string sender(kRelaySenderBytesMax, 's');
  const RelayCount largest{RelaySource::kWebhook, std::string(64, 'p'),
                           std::string(kRelayReasonBytesMax, 'r'), kRelayCountMax};
  const auto one = EncodeRelayMessages(sender, UINT64_MAX, TimestampUs(INT64_MAX), {largest},
                                       kRelayEnvelopeBytesMax + kRelayEntryBytesMax);
  ASSERT_EQ(one.size(), 1u);
  const auto two = EncodeRelayMessages(sender, UINT64_MAX - 1, TimestampUs(INT64_MAX),
                                       {largest, largest}, 1 << 20);
  ASSERT_EQ(two.size(), 1u);
  const std::size_t entry_bytes = two[0].text.size() - one[0].text.size() - 1;  // one comma
  EXPECT_LE(entry_bytes, kRelayEntryBytesMax);
  EXPECT_LE(one[0].text.size() - entry_bytes, kRelayEnvelopeBytesMax);
  EXPECT_LE(kRelayEnvelopeBytesMax + kRelayEntryBytesMax, 1024u) << "limits.h's floor";
  EXPECT_TRUE(DecodeRelayMessage(one[0].text, kBytesMax).ok());
}

TEST(RelayMessageTest, RefusesAMessageOverTheLimitBeforeParsingIt) {
  const std::string text = OneMessage({Webhook("p000", "rate_limited", 1)});
  auto decoded = DecodeRelayMessage(text, text.size() - 1);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(DecodeRelayMessage(text, text.size()).ok());
}

TEST(RelayMessageTest, RefusesAnotherFormatVersionAsSuch) {
  auto decoded = DecodeRelayMessage(WithField("format_version", 2), kBytesMax);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(decoded.status().message().find("format_version 2"), std::string::npos);
}

TEST(RelayMessageTest, IgnoresUnknownFields) {
  EXPECT_TRUE(DecodeRelayMessage(WithField("added_later", {{"x", 1}}), kBytesMax).ok());
}

TEST(RelayMessageTest, RefusesMalformedMessagesWithAReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not JSON"},
      {"{\"format\":", "not JSON"},
      {"[1,2]", "not a JSON object"},
      {"{}", "format is not"},
      {WithField("format", "firehose-other"), "format is not"},
      {WithField("format_version", "1"), "format_version is missing or not an integer"},
      {WithField("format_version", 1.5), "format_version is missing or not an integer"},
      {WithField("sender", ""), "sender"},
      {WithField("sender", std::string(kRelaySenderBytesMax + 1, 'h')), "sender"},
      {WithField("sender", "a\nb"), "sender"},
      {WithField("seq", -1), "seq or at_us"},
      {WithField("at_us", 0), "seq or at_us"},
      {WithField("at_us", "now"), "seq or at_us"},
      {WithField("errors", {{"a", 1}}), "errors is missing or not an array"},
      {WithField("errors", 3), "errors is missing or not an array"},
      {WithEntry(1), "not an object"},
      {WithEntry({{"source", "webhook"}, {"partner", "p000"}, {"reason", "x"}}), "lacks"},
      {WithEntry({{"source", "smtp"}, {"partner", "p000"}, {"reason", "x"}, {"count", 1}}),
       "unknown source"},
      {WithEntry({{"source", "webhook"}, {"partner", "P0"}, {"reason", "x"}, {"count", 1}}),
       "partner"},
      {WithEntry({{"source", "webhook"},
                  {"partner", std::string(65, 'p')},
                  {"reason", "x"},
                  {"count", 1}}),
       "partner"},
      {WithEntry({{"source", "webhook"}, {"partner", "p0"}, {"reason", "no-dash"}, {"count", 1}}),
       "reason"},
      {WithEntry({{"source", "webhook"}, {"partner", "p0"}, {"reason", ""}, {"count", 1}}),
       "reason"},
      {WithEntry({{"source", "webhook"}, {"partner", "p0"}, {"reason", "x"}, {"count", 0}}),
       "count"},
      {WithEntry({{"source", "webhook"}, {"partner", "p0"}, {"reason", "x"}, {"count", -3}}),
       "count"},
      {WithEntry({{"source", "webhook"}, {"partner", "p0"}, {"reason", "x"}, {"count", 2.5}}),
       "count"},
      {WithEntry({{"source", "webhook"},
                  {"partner", "p0"},
                  {"reason", "x"},
                  {"count", kRelayCountMax + 1}}),
       "count"},
      {R"({"format":"firehose-ops-relay","format_version":1,"sender":"h:1","seq":1,"at_us":1,)"
       R"("errors":[{"source":"webhook","partner":"p0","reason":"x","count":1e30}]})",
       "count"},
  };
  for (const auto& [text, expected] : cases) {
    auto decoded = DecodeRelayMessage(text, kBytesMax);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(decoded.status().message().find(expected), std::string::npos)
        << text << " -> " << decoded.status().ToString();
  }
}

// Deep nesting is refused as not this format, without exhausting the stack.
TEST(RelayMessageTest, DeepNestingIsJustMalformed) {
  const std::string deep = std::string(30000, '[') + std::string(30000, ']');
  auto decoded = DecodeRelayMessage(deep, kBytesMax);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
}

TEST(RelayMessageTest, TheSubjectIsOutsideTheStreamsSubjects) {
  EXPECT_EQ(ErrorRelaySubject("FIREHOSE"), "firehose.ops.FIREHOSE.errors");
  EXPECT_NE(ErrorRelaySubject("FIREHOSE").rfind("firehose.raw.", 0), 0u);
}

TEST(RelayMessageTest, TheSenderNameIsValid) {
  const std::string sender = RelaySenderName();
  EXPECT_NE(sender.find(':' + std::to_string(::getpid())), std::string::npos) << sender;
  const auto messages = EncodeRelayMessages(sender, 1, kAt, {Webhook("p0", "x", 1)}, kBytesMax);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(DecodeRelayMessage(messages[0].text, kBytesMax).ok());
}

}  // namespace
}  // namespace firehose::ops
