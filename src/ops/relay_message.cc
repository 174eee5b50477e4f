#include "ops/relay_message.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/json_integer.h"
#include "core/json_writer.h"
#include "core/types.h"

namespace firehose::ops {

namespace {

constexpr std::string_view kSubjectPrefix = "firehose.ops.";
constexpr std::string_view kSubjectSuffix = ".errors";

bool IsSenderByte(char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; }

bool IsValidSender(std::string_view sender) {
  return !sender.empty() && sender.size() <= kRelaySenderBytesMax &&
         std::all_of(sender.begin(), sender.end(), IsSenderByte);
}

// Everything before "errors"'s first entry.
std::string Envelope(std::string_view sender, std::uint64_t seq, TimestampUs at) {
  std::string text;
  JsonWriter json(&text);
  json.BeginObject()
      .Field("format", kRelayFormat)
      .Field("format_version", kRelayFormatVersion)
      .Field("sender", sender)
      .Field("seq", seq)
      .Field("at_us", at.value());
  text += ",\"errors\":[";
  return text;
}

std::string Entry(const RelayCount& count, std::uint64_t value) {
  std::string text;
  JsonWriter json(&text);
  json.BeginObject()
      .Field("source", RelaySourceName(count.source))
      .Field("partner", count.partner)
      .Field("reason", count.reason)
      .Field("count", value)
      .EndObject();
  return text;
}

constexpr std::string_view kClose = "]}";

Status Invalid(std::string_view what) {
  return InvalidArgument("ops relay message: " + std::string(what));
}

Result<RelayCount> DecodeEntry(const nlohmann::json& entry) {
  if (!entry.is_object()) return Invalid("an errors entry is not an object");
  const auto source = entry.find("source");
  const auto partner = entry.find("partner");
  const auto reason = entry.find("reason");
  const auto count = entry.find("count");
  if (source == entry.end() || partner == entry.end() || reason == entry.end() ||
      count == entry.end() || !source->is_string() || !partner->is_string() ||
      !reason->is_string()) {
    return Invalid("an errors entry lacks source, partner, reason (strings) or count");
  }
  RelayCount decoded;
  const auto& source_text = source->get_ref<const std::string&>();
  if (source_text == RelaySourceName(RelaySource::kWebhook)) {
    decoded.source = RelaySource::kWebhook;
  } else if (source_text == RelaySourceName(RelaySource::kPoll)) {
    decoded.source = RelaySource::kPoll;
  } else {
    return Invalid("unknown source in an errors entry");
  }
  decoded.partner = partner->get<std::string>();
  if (!IsValidRelayPartner(decoded.partner))
    return Invalid("an errors entry's partner is not a partner id");
  decoded.reason = reason->get<std::string>();
  if (!IsValidRelayReason(decoded.reason))
    return Invalid("an errors entry's reason is not [a-z0-9_]{1,64}");
  const std::optional<std::uint64_t> value = JsonInteger<std::uint64_t>(*count);
  if (!value || *value == 0 || *value > kRelayCountMax) {
    return Invalid("an errors entry's count is not an integer in 1.." +
                   std::to_string(kRelayCountMax) + ": " + count->dump());
  }
  decoded.count = *value;
  return decoded;
}

}  // namespace

bool IsValidRelayPartner(std::string_view partner) { return PartnerId::IsValid(partner); }

bool IsValidRelayReason(std::string_view reason) {
  return !reason.empty() && reason.size() <= kRelayReasonBytesMax &&
         std::all_of(reason.begin(), reason.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

std::string ErrorRelaySubject(std::string_view stream) {
  std::string subject(kSubjectPrefix);
  subject += stream;
  subject += kSubjectSuffix;
  return subject;
}

std::string_view RelaySourceName(RelaySource source) {
  switch (source) {
    case RelaySource::kWebhook:
      return "webhook";
    case RelaySource::kPoll:
      return "poll";
  }
  return "webhook";
}

std::string RelaySenderName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "unknown");
  std::string sender = std::string(host) + ":" + std::to_string(::getpid());
  for (char& c : sender) {
    if (!IsSenderByte(c)) c = '_';
  }
  if (sender.size() > kRelaySenderBytesMax) sender.erase(0, sender.size() - kRelaySenderBytesMax);
  return sender;
}

std::vector<EncodedRelayMessage> EncodeRelayMessages(std::string_view sender,
                                                     std::uint64_t first_seq, TimestampUs at,
                                                     const std::vector<RelayCount>& counts,
                                                     std::size_t message_bytes_max) {
  FH_CHECK(IsValidSender(sender), "relay sender name");
  FH_CHECK(message_bytes_max >= kRelayEnvelopeBytesMax + kRelayEntryBytesMax,
           "ops_relay_message_bytes_max below a message's envelope and one entry");
  std::vector<EncodedRelayMessage> messages;
  std::uint64_t seq = first_seq;
  EncodedRelayMessage current;
  auto finish = [&] {
    if (current.errors == 0) return;
    current.text += kClose;
    messages.push_back(std::move(current));
    current = EncodedRelayMessage{};
  };
  for (const RelayCount& count : counts) {
    FH_CHECK(IsValidRelayPartner(count.partner) && IsValidRelayReason(count.reason),
             "relay entry with an invalid partner or reason");
    for (std::uint64_t left = count.count; left > 0;) {
      const std::uint64_t value = std::min(left, kRelayCountMax);
      left -= value;
      const std::string entry = Entry(count, value);
      if (current.errors > 0 &&
          current.text.size() + 1 + entry.size() + kClose.size() > message_bytes_max) {
        finish();
      }
      if (current.errors == 0) {
        current.text = Envelope(sender, seq++, at);
      } else {
        current.text += ',';
      }
      current.text += entry;
      current.errors += value;
    }
  }
  finish();
  return messages;
}

Result<RelayMessage> DecodeRelayMessage(std::string_view text, std::size_t message_bytes_max) {
  if (text.size() > message_bytes_max) {
    return ResourceExhausted(
        "ops relay message of " + std::to_string(text.size()) +
        " bytes is over ops_relay_message_bytes_max = " + std::to_string(message_bytes_max));
  }
  const nlohmann::json root = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Invalid("not JSON");
  if (!root.is_object()) return Invalid("not a JSON object");
  const auto format = root.find("format");
  if (format == root.end() || !format->is_string() ||
      format->get_ref<const std::string&>() != kRelayFormat) {
    return Invalid("format is not \"" + std::string(kRelayFormat) + "\"");
  }
  const auto version = root.find("format_version");
  if (version == root.end() || !version->is_number_integer()) {
    return Invalid("format_version is missing or not an integer");
  }
  if (JsonInteger<int>(*version) != kRelayFormatVersion) {
    return FailedPrecondition("ops relay message format_version " + version->dump() + " is not " +
                              std::to_string(kRelayFormatVersion));
  }
  const auto sender = root.find("sender");
  const auto seq = root.find("seq");
  const auto at_us = root.find("at_us");
  const auto errors = root.find("errors");
  if (sender == root.end() || !sender->is_string() || !IsValidSender(sender->get<std::string>())) {
    return Invalid("sender is missing or not printable text of at most " +
                   std::to_string(kRelaySenderBytesMax) + " bytes");
  }
  RelayMessage message;
  message.sender = sender->get<std::string>();
  const std::optional<std::uint64_t> seq_value =
      seq == root.end() ? std::nullopt : JsonInteger<std::uint64_t>(*seq);
  const std::optional<std::int64_t> at_value =
      at_us == root.end() ? std::nullopt : JsonInteger<std::int64_t>(*at_us);
  if (!seq_value || !at_value || *at_value <= 0) {
    return Invalid("seq or at_us is missing or not a positive integer (sender " + message.sender +
                   ")");
  }
  message.seq = *seq_value;
  message.at = TimestampUs(*at_value);
  if (errors == root.end() || !errors->is_array()) {
    return Invalid("errors is missing or not an array (sender " + message.sender + ")");
  }
  message.errors.reserve(errors->size());
  for (const nlohmann::json& entry : *errors) {
    auto decoded = DecodeEntry(entry);
    if (!decoded.ok()) return decoded.status().WithContext("sender " + message.sender);
    message.errors.push_back(std::move(decoded).value());
  }
  return message;
}

}  // namespace firehose::ops
