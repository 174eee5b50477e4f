#include "sim/payloads.h"

#include <array>
#include <cstdio>

#include "core/check.h"
#include "core/json_writer.h"

namespace firehose::sim {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
constexpr int kAdyenOffsetMinutes = 60;  // Adyen reports local time with its offset (+01:00)

// The JSON literal of each mapped field, exactly as it appears in the body. An empty literal
// leaves the field out.
struct Literals {
  std::string txn_id;
  std::string amount;
  std::string currency;
  std::string status;
  std::string event_time;
  std::string version;
  std::string error_code;
};

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string Decimal(const SimEvent& event) {
  return FormatAmount(event.amount, event.currency.exponent());
}

std::string EventTimeLiteral(Shape shape, TimestampUs time) {
  switch (shape) {
    case Shape::kStripe:
      return std::to_string(time.value() / kMicrosPerSecond);
    case Shape::kBatch:
      return Quoted(FormatRfc3339(time, 3));
    case Shape::kBatchUnixMs:
      return std::to_string(time.value() / 1000);
    case Shape::kAdyen:
      return Quoted(FormatRfc3339(time, 0, kAdyenOffsetMinutes));
    case Shape::kPaypal:
      return Quoted(FormatRfc3339(time, 0));
  }
  return "null";
}

Literals LiteralsOf(Shape shape, const SimEvent& event) {
  Literals literals;
  literals.txn_id = shape == Shape::kAdyen ? event.txn_id : Quoted(event.txn_id);
  switch (shape) {
    case Shape::kStripe:
    case Shape::kAdyen:
      literals.amount = std::to_string(event.amount.value());
      break;
    case Shape::kBatch:
    case Shape::kBatchUnixMs:
      literals.amount = Quoted(Decimal(event));
      break;
    case Shape::kPaypal:
      literals.amount = Decimal(event);
      break;  // a JSON number
  }
  const std::string_view code = event.currency.code();
  literals.currency = Quoted(shape == Shape::kStripe ? Lower(code) : std::string(code));
  const auto status = PartnerStatusValue(shape, event.status);
  FH_CHECK(status.has_value(), "the simulator generated a status its shape cannot express");
  literals.status = Quoted(*status);
  literals.event_time = EventTimeLiteral(shape, event.event_time);
  if (event.version) {
    literals.version = shape == Shape::kPaypal
                           ? Quoted(FormatRfc3339(TimestampUs(*event.version), 0))
                           : std::to_string(*event.version);
  }
  if (!event.error_code.empty()) literals.error_code = Quoted(event.error_code);
  return literals;
}

// "12.345" in USD: one fraction digit more than the currency has.
std::string TooManyFractionDigits(const SimEvent& event) {
  const int exponent = event.currency.exponent();
  const std::int64_t magnitude = event.amount.value() < 0 ? 1 : event.amount.value();
  std::int64_t major = magnitude;
  for (int i = 0; i < exponent; ++i) major /= 10;
  return std::to_string(major) + "." + std::string(static_cast<std::size_t>(exponent), '4') + "5";
}

void Break(Shape shape, const SimEvent& event, Malformation malformation, Literals* literals) {
  const bool string_amount = shape == Shape::kBatch || shape == Shape::kBatchUnixMs;
  const auto amount = [&](std::string text) { return string_amount ? Quoted(text) : text; };
  switch (malformation) {
    case Malformation::kInvalidJson:
    case Malformation::kDuplicateKey:
      break;  // BreakBody's job
    case Malformation::kUnknownStatus:
      literals->status = Quoted("mystery_state");
      break;
    case Malformation::kTooManyFractionDigits:
      literals->amount = amount(TooManyFractionDigits(event));
      break;
    case Malformation::kUnknownCurrency:
      literals->currency = Quoted(shape == Shape::kStripe ? "zzz" : "ZZZ");
      break;
    case Malformation::kMissingTxnId:
      literals->txn_id.clear();
      break;
    case Malformation::kBadEventTime:
      literals->event_time = Quoted(shape == Shape::kBatch ? "2025-13-45T25:00:00Z" : "yesterday");
      break;
    case Malformation::kExponentAmount:
      literals->amount = amount("15e2");
      break;
    case Malformation::kAmountOverflow:
      literals->amount = amount("99999999999999999999");
      break;
    case Malformation::kBadVersion:
      literals->version = shape == Shape::kPaypal ? Quoted("last tuesday") : Quoted("two");
      break;
    case Malformation::kTxnIdTooLong:
      literals->txn_id =
          shape == Shape::kAdyen ? "1" + std::string(128, '0') : Quoted(std::string(129, 'x'));
      break;
  }
}

// Writes `"key":literal` when the literal is set.
void Field(JsonWriter& writer, std::string_view key, const std::string& literal) {
  if (!literal.empty()) writer.Key(key).Raw(literal);
}

std::string RenderStripe(const SimEvent& event, const Literals& literals) {
  std::string out;
  JsonWriter writer(&out);
  const std::string status = PartnerStatusValue(Shape::kStripe, event.status).value_or("unknown");
  writer.BeginObject().Field("id", event.delivery_id).Field("object", "event");
  writer.Field("type", "charge." + status);
  Field(writer, "created", literals.event_time);
  writer.Field("livemode", false);
  writer.Key("data").BeginObject().Key("object").BeginObject();
  Field(writer, "id", literals.txn_id);
  writer.Field("object", "charge");
  Field(writer, "amount", literals.amount);
  Field(writer, "currency", literals.currency);
  Field(writer, "status", literals.status);
  writer.Key("failure_code").Raw(literals.error_code.empty() ? "null" : literals.error_code);
  writer.EndObject().EndObject().EndObject();
  return out;
}

std::string RenderBatchElement(const Literals& literals) {
  std::string out;
  JsonWriter writer(&out);
  writer.BeginObject();
  Field(writer, "txn", literals.txn_id);
  Field(writer, "amount", literals.amount);
  Field(writer, "ccy", literals.currency);
  Field(writer, "state", literals.status);
  Field(writer, "ts", literals.event_time);
  Field(writer, "decline_reason", literals.error_code);
  writer.EndObject();
  return out;
}

std::string RenderAdyen(const SimEvent& event, const Literals& literals) {
  std::string out;
  JsonWriter writer(&out);
  writer.BeginObject().Field("eventCode", "AUTHORISATION");
  Field(writer, "pspReference", literals.txn_id);
  writer.Field("merchantReference", "order-" + event.delivery_id);
  writer.Key("amount").BeginObject();
  Field(writer, "value", literals.amount);
  Field(writer, "currency", literals.currency);
  writer.EndObject();
  Field(writer, "success", literals.status);
  Field(writer, "eventDate", literals.event_time);
  Field(writer, "version", literals.version);
  Field(writer, "reason", literals.error_code);
  writer.EndObject();
  return out;
}

std::string RenderPaypal(const SimEvent& event, const Literals& literals) {
  std::string out;
  JsonWriter writer(&out);
  const std::string state = PartnerStatusValue(Shape::kPaypal, event.status).value_or("unknown");
  writer.BeginObject().Field("id", event.delivery_id);
  writer.Field("event_type", "PAYMENT.SALE." + Upper(state));
  writer.Key("resource").BeginObject();
  Field(writer, "id", literals.txn_id);
  Field(writer, "state", literals.status);
  writer.Key("amount").BeginObject();
  Field(writer, "total", literals.amount);
  Field(writer, "currency_code", literals.currency);
  writer.EndObject().EndObject();
  Field(writer, "create_time", literals.event_time);
  Field(writer, "update_time", literals.version);
  writer.EndObject();
  return out;
}

std::string Render(Shape shape, const SimEvent& event, const Literals& literals) {
  switch (shape) {
    case Shape::kStripe:
      return RenderStripe(event, literals);
    case Shape::kBatch:
    case Shape::kBatchUnixMs:
      return RenderBatchElement(literals);
    case Shape::kAdyen:
      return RenderAdyen(event, literals);
    case Shape::kPaypal:
      return RenderPaypal(event, literals);
  }
  return "{}";
}

}  // namespace

std::string_view ReasonOf(Malformation malformation) {
  static constexpr std::array<std::string_view, kMalformationCount> kReasons = {
      "invalid_json",     "duplicate_key",   "unknown_status", "amount_too_many_fraction_digits",
      "unknown_currency", "missing_field",   "time_invalid",   "amount_exponent_notation",
      "amount_overflow",  "version_invalid", "txn_id_too_long"};
  return kReasons[static_cast<std::size_t>(malformation)];
}

bool BreaksWholeBody(Malformation malformation) {
  return malformation == Malformation::kInvalidJson || malformation == Malformation::kDuplicateKey;
}

const std::vector<Malformation>& MalformationsFor(Shape shape) {
  static const std::vector<Malformation> kUnversioned = {
      Malformation::kInvalidJson,           Malformation::kUnknownStatus,
      Malformation::kTooManyFractionDigits, Malformation::kUnknownCurrency,
      Malformation::kMissingTxnId,          Malformation::kBadEventTime,
      Malformation::kExponentAmount,        Malformation::kAmountOverflow,
      Malformation::kDuplicateKey,          Malformation::kTxnIdTooLong};
  static const std::vector<Malformation> kVersioned = [] {
    std::vector<Malformation> all = kUnversioned;
    all.insert(all.begin() + 3, Malformation::kBadVersion);
    return all;
  }();
  return InfoOf(shape).versioned ? kVersioned : kUnversioned;
}

std::string RenderEvent(Shape shape, const SimEvent& event) {
  return Render(shape, event, LiteralsOf(shape, event));
}

std::string RenderMalformedEvent(Shape shape, const SimEvent& event, Malformation malformation) {
  Literals literals = LiteralsOf(shape, event);
  Break(shape, event, malformation, &literals);
  return Render(shape, event, literals);
}

std::string WrapBody(Shape shape, const std::vector<std::string>& elements) {
  if (!InfoOf(shape).batched) {
    FH_CHECK(elements.size() == 1, "a single-event shape carries exactly one event per body");
    return elements.front();
  }
  std::string body = R"({"type":"payments","data":[)";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) body += ',';
    body += elements[i];
  }
  return body + "]}";
}

std::string BreakBody(std::string body, Malformation malformation) {
  if (malformation == Malformation::kInvalidJson) {
    body.resize(body.size() / 2);
  } else if (malformation == Malformation::kDuplicateKey && body.size() > 1) {
    body.insert(1, R"("sim_note":"first","sim_note":"second",)");
  }
  return body;
}

std::optional<std::string> PartnerStatusValue(Shape shape, TxnStatus status) {
  for (const auto& [partner_value, canonical] : MappingFor(shape)->status_table) {
    if (canonical == status) return partner_value;
  }
  return std::nullopt;
}

std::vector<TxnStatus> StatusesOf(Shape shape) {
  std::vector<TxnStatus> statuses;
  for (int i = 0; i < kTxnStatusCount; ++i) {
    const auto status = static_cast<TxnStatus>(i);
    if (PartnerStatusValue(shape, status)) statuses.push_back(status);
  }
  return statuses;
}

std::string FormatRfc3339(TimestampUs time, int fraction_digits, int offset_minutes) {
  const std::int64_t local = time.value() + offset_minutes * 60 * kMicrosPerSecond;
  std::int64_t days = local / kMicrosPerDay;
  std::int64_t rest = local % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    --days;
  }
  const std::int64_t seconds = rest / kMicrosPerSecond;
  std::string out = BusinessDate(static_cast<std::int32_t>(days)).ToString();
  char clock[32];
  std::snprintf(clock, sizeof clock, "T%02lld:%02lld:%02lld",
                static_cast<long long>(seconds / 3600), static_cast<long long>(seconds / 60 % 60),
                static_cast<long long>(seconds % 60));
  out += clock;
  if (fraction_digits > 0) {
    char fraction[16];
    std::snprintf(fraction, sizeof fraction, ".%06lld",
                  static_cast<long long>(rest % kMicrosPerSecond));
    out.append(fraction, static_cast<std::size_t>(fraction_digits) + 1);
  }
  if (offset_minutes == 0) return out + "Z";
  const int magnitude = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  char offset[16];
  std::snprintf(offset, sizeof offset, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+',
                magnitude / 60, magnitude % 60);
  return out + offset;
}

}  // namespace firehose::sim
