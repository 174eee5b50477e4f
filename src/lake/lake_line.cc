#include "lake/lake_line.h"

#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/json_integer.h"
#include "core/json_writer.h"
#include "core/money.h"
#include "core/time.h"
#include "edge/signature.h"

namespace firehose::lake {

const std::size_t kLinePaddingBytes = simdjson::SIMDJSON_PADDING;

namespace {

// Keys are plain ASCII constants: they are written without escaping.
void AppendFirstKey(std::string* out, std::string_view key) {
  out->append("{\"");
  out->append(key);
  out->append("\":");
}

void AppendKey(std::string* out, std::string_view key) {
  out->append(",\"");
  out->append(key);
  out->append("\":");
}

template <typename Integer>
void AppendInteger(std::string* out, Integer value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out->append(buffer, result.ptr);
}

// A string known to need no escaping (ids, codes, dates, formatted times).
void AppendPlainString(std::string* out, std::string_view text) {
  out->push_back('"');
  out->append(text);
  out->push_back('"');
}

// JSON string escaping for text already known to be valid UTF-8 (the mapper validated it):
// bytes >= 0x80 are copied as they are, so the line holds exactly the partner's characters.
// Table-driven because `raw` is most of every line's bytes.
struct EscapeTable {
  constexpr EscapeTable() : needs_escape() {
    for (int c = 0; c < 0x20; ++c) needs_escape[c] = true;
    needs_escape[static_cast<unsigned char>('"')] = true;
    needs_escape[static_cast<unsigned char>('\\')] = true;
  }
  bool needs_escape[256];
};
constexpr EscapeTable kEscape;

void AppendUtf8JsonString(std::string* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const char* run = text.data();
  const char* const end = text.data() + text.size();
  for (const char* at = run; at != end; ++at) {
    const auto c = static_cast<unsigned char>(*at);
    if (!kEscape.needs_escape[c]) [[likely]]
      continue;
    out->append(run, at);
    run = at + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(escaped, sizeof escaped);
      }
    }
  }
  out->append(run, end);
  out->push_back('"');
}

// "YYYY-MM-DD" of a day, remembering the last one: most lines of a file share their day, and
// BusinessDate::ToString formats with snprintf.
void AppendDateText(std::string* out, std::int32_t days) {
  thread_local std::int32_t cached_days = INT32_MIN;
  thread_local char cached_text[10];
  if (days != cached_days) {
    const std::string text = BusinessDate(days).ToString();
    FH_CHECK(text.size() == sizeof cached_text, "a date outside years 0000-9999");
    std::memcpy(cached_text, text.data(), sizeof cached_text);
    cached_days = days;
  }
  out->append(cached_text, sizeof cached_text);
}

void AppendDigits(std::string* out, std::int64_t value, int width) {
  char digits[8];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out->append(digits, static_cast<std::size_t>(width));
}

// The same text as FormatRfc3339Micros ("2026-11-27T10:00:00.123456Z"), without snprintf.
void AppendRfc3339Micros(std::string* out, TimestampUs time) {
  constexpr std::int64_t kMicrosPerDay = 86'400'000'000;
  std::int64_t days = time.value() / kMicrosPerDay;
  std::int64_t rest = time.value() % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    --days;
  }
  AppendDateText(out, static_cast<std::int32_t>(days));
  const std::int64_t seconds = rest / 1'000'000;
  out->push_back('T');
  AppendDigits(out, seconds / 3600, 2);
  out->push_back(':');
  AppendDigits(out, seconds / 60 % 60, 2);
  out->push_back(':');
  AppendDigits(out, seconds % 60, 2);
  out->push_back('.');
  AppendDigits(out, rest % 1'000'000, 6);
  out->push_back('Z');
}

void AppendEnvelopeTail(const LineEnvelope& envelope, std::string* out) {
  AppendKey(out, field::kReceivedAt);
  AppendPlainString(out, envelope.received_at_text);
  AppendKey(out, field::kReceivedAtUs);
  AppendInteger(out, envelope.received_at.value());
}

}  // namespace

void AppendRawLine(const LineEnvelope& envelope, const CanonicalEvent& event,
                   BusinessDate event_date, std::uint32_t event_index, std::string_view raw,
                   std::string* out) {
  out->reserve(out->size() + raw.size() + raw.size() / 8 + 512);
  AppendFirstKey(out, field::kPartnerId);
  AppendPlainString(out, envelope.partner_id);
  AppendKey(out, field::kTxnId);
  AppendUtf8JsonString(out, event.txn_id.view());
  AppendKey(out, field::kAmountMinor);
  AppendInteger(out, event.amount.value());
  AppendKey(out, field::kAmount);
  AppendPlainString(out, FormatAmount(event.amount, event.currency.exponent()));
  AppendKey(out, field::kCurrency);
  AppendPlainString(out, event.currency.code());
  AppendKey(out, field::kStatus);
  AppendPlainString(out, TxnStatusName(event.status));
  AppendKey(out, field::kEventTime);
  out->push_back('"');
  AppendRfc3339Micros(out, event.event_time);
  out->push_back('"');
  AppendKey(out, field::kEventTimeUs);
  AppendInteger(out, event.event_time.value());
  AppendKey(out, field::kEventDate);
  out->push_back('"');
  AppendDateText(out, event_date.days_since_epoch());
  out->push_back('"');
  AppendKey(out, field::kVersion);
  if (event.version) {
    AppendInteger(out, *event.version);
  } else {
    out->append("null");
  }
  AppendKey(out, field::kErrorCode);
  if (event.error_code.empty()) {
    out->append("null");
  } else {
    AppendUtf8JsonString(out, event.error_code);
  }
  AppendKey(out, field::kArrivalId);
  AppendPlainString(out, envelope.arrival_id);
  AppendKey(out, field::kEventIndex);
  AppendInteger(out, event_index);
  AppendEnvelopeTail(envelope, out);
  AppendKey(out, field::kSource);
  AppendPlainString(out, envelope.source);
  AppendKey(out, field::kQueueOffset);
  AppendInteger(out, envelope.queue_offset.value());
  AppendKey(out, field::kRaw);
  AppendUtf8JsonString(out, raw);
  out->append("}\n");
}

void AppendQuarantineLine(const LineEnvelope& envelope, BusinessDate arrival_date,
                          const QuarantinePart& part, std::string* out) {
  out->reserve(out->size() + part.raw.size() * 4 / 3 + part.detail.size() + 512);
  AppendFirstKey(out, field::kPartnerId);
  AppendPlainString(out, envelope.partner_id);
  AppendKey(out, field::kArrivalId);
  AppendPlainString(out, envelope.arrival_id);
  AppendKey(out, field::kEventIndex);
  AppendInteger(out, part.event_index);
  AppendKey(out, field::kReason);
  AppendJsonString(out, part.reason);
  AppendKey(out, field::kDetail);
  AppendJsonString(out, part.detail);
  AppendEnvelopeTail(envelope, out);
  AppendKey(out, field::kArrivalDate);
  AppendPlainString(out, arrival_date.ToString());
  AppendKey(out, field::kSource);
  AppendPlainString(out, envelope.source);
  AppendKey(out, field::kQueueOffset);
  AppendInteger(out, envelope.queue_offset.value());
  AppendKey(out, field::kRawBytes);
  AppendInteger(out, part.raw.size());
  AppendKey(out, field::kRawBase64);
  AppendPlainString(out, edge::Base64Encode(part.raw));
  out->append("}\n");
}

Result<CanonicalEvent> ToCanonicalEvent(const RawLineView& line) {
  const auto bad = [](std::string_view field_name, const Status& status) {
    return DataLoss("lake line: " + std::string(field_name) + ": " + status.message());
  };
  CanonicalEvent event;
  Result<PartnerId> partner = PartnerId::Parse(line.partner_id);
  if (!partner.ok()) return bad(field::kPartnerId, partner.status());
  event.partner_id = *partner;
  Result<TxnId> txn = TxnId::Parse(line.txn_id);
  if (!txn.ok()) return bad(field::kTxnId, txn.status());
  event.txn_id = *txn;
  Result<Currency> currency = Currency::FromCode(line.currency);
  if (!currency.ok()) return bad(field::kCurrency, currency.status());
  if (currency->code() != line.currency) {
    return DataLoss("lake line: currency '" + std::string(line.currency) + "' is not upper case");
  }
  event.currency = *currency;
  event.amount = AmountMinor(line.amount_minor);
  if (FormatAmount(event.amount, currency->exponent()) != line.amount) {
    return DataLoss("lake line: amount '" + std::string(line.amount) +
                    "' does not match amount_minor " + std::to_string(line.amount_minor));
  }
  const std::optional<TxnStatus> status = TxnStatusFromName(line.status);
  if (!status) return DataLoss("lake line: unknown status '" + std::string(line.status) + "'");
  event.status = *status;
  Result<TimestampUs> time = ParseRfc3339(line.event_time);
  if (!time.ok()) return bad(field::kEventTime, time.status());
  if (time->value() != line.event_time_us) {
    return DataLoss("lake line: event_time does not match event_time_us");
  }
  event.event_time = *time;
  event.version = line.version;
  if (line.error_code) event.error_code = std::string(*line.error_code);
  return event;
}

// with_raw uses the DOM API: it validates the whole line, which is what verify wants, and its
// kernels are chosen at run time (AVX2/AVX-512). Without raw, On-Demand skips the `raw` string
// (most of the line) entirely; its stage 1 is also chosen at run time, only the walk is compiled
// for the portable target.
struct RawLineParser::State {
  bool with_raw = true;
  simdjson::dom::parser parser;
  simdjson::ondemand::parser ondemand;
  std::vector<char> padded;
};

RawLineParser::RawLineParser(bool with_raw) : state_(std::make_unique<State>()) {
  state_->with_raw = with_raw;
}
RawLineParser::~RawLineParser() = default;

namespace {

constexpr std::size_t kRawFieldCount = std::size(kRawFields);

Status FieldError(std::size_t index, simdjson::error_code error) {
  return DataLoss("lake line: field '" + std::string(kRawFields[index]) +
                  "': " + simdjson::error_message(error));
}

simdjson::error_code ReadNullableInt(simdjson::dom::element value,
                                     std::optional<std::int64_t>* out) {
  if (value.is_null()) {
    out->reset();
    return simdjson::SUCCESS;
  }
  std::int64_t number = 0;
  if (auto error = value.get_int64().get(number)) return error;
  *out = number;
  return simdjson::SUCCESS;
}

simdjson::error_code ReadNullableString(simdjson::dom::element value,
                                        std::optional<std::string_view>* out) {
  if (value.is_null()) {
    out->reset();
    return simdjson::SUCCESS;
  }
  std::string_view text;
  if (auto error = value.get_string().get(text)) return error;
  *out = text;
  return simdjson::SUCCESS;
}

// Stores field number `index` (in kRawFields order) of a raw line.
simdjson::error_code ReadRawField(std::size_t index, simdjson::dom::element value, bool with_raw,
                                  RawLineView* out) {
  switch (index) {
    case 0:
      return value.get_string().get(out->partner_id);
    case 1:
      return value.get_string().get(out->txn_id);
    case 2:
      return value.get_int64().get(out->amount_minor);
    case 3:
      return value.get_string().get(out->amount);
    case 4:
      return value.get_string().get(out->currency);
    case 5:
      return value.get_string().get(out->status);
    case 6:
      return value.get_string().get(out->event_time);
    case 7:
      return value.get_int64().get(out->event_time_us);
    case 8:
      return value.get_string().get(out->event_date);
    case 9:
      return ReadNullableInt(value, &out->version);
    case 10:
      return ReadNullableString(value, &out->error_code);
    case 11:
      return value.get_string().get(out->arrival_id);
    case 12:
      return value.get_int64().get(out->event_index);
    case 13:
      return value.get_string().get(out->received_at);
    case 14:
      return value.get_int64().get(out->received_at_us);
    case 15:
      return value.get_string().get(out->source);
    case 16:
      return value.get_uint64().get(out->queue_offset);
    case 17:
      if (!with_raw) {
        out->raw = {};
        return value.is_string() ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
      }
      return value.get_string().get(out->raw);
    default:
      return simdjson::INCORRECT_TYPE;
  }
}

}  // namespace

namespace {

namespace ondemand = simdjson::ondemand;

// Reads the next field, which must be kRawFields[index], with the On-Demand API.
Status ReadOnDemand(ondemand::object& object, std::size_t index, RawLineView* out) {
  ondemand::value value;
  if (auto error = object.find_field(kRawFields[index]).get(value)) return FieldError(index, error);
  simdjson::error_code error = simdjson::SUCCESS;
  switch (index) {
    case 0:
      error = value.get_string().get(out->partner_id);
      break;
    case 1:
      error = value.get_string().get(out->txn_id);
      break;
    case 2:
      error = value.get_int64().get(out->amount_minor);
      break;
    case 3:
      error = value.get_string().get(out->amount);
      break;
    case 4:
      error = value.get_string().get(out->currency);
      break;
    case 5:
      error = value.get_string().get(out->status);
      break;
    case 6:
      error = value.get_string().get(out->event_time);
      break;
    case 7:
      error = value.get_int64().get(out->event_time_us);
      break;
    case 8:
      error = value.get_string().get(out->event_date);
      break;
    case 9: {
      bool is_null = false;
      error = value.is_null().get(is_null);
      if (!error && is_null) out->version.reset();
      std::int64_t number = 0;
      if (!error && !is_null && !(error = value.get_int64().get(number))) out->version = number;
      break;
    }
    case 10: {
      bool is_null = false;
      error = value.is_null().get(is_null);
      if (!error && is_null) out->error_code.reset();
      std::string_view text;
      if (!error && !is_null && !(error = value.get_string().get(text))) out->error_code = text;
      break;
    }
    case 11:
      error = value.get_string().get(out->arrival_id);
      break;
    case 12:
      error = value.get_int64().get(out->event_index);
      break;
    case 13:
      error = value.get_string().get(out->received_at);
      break;
    case 14:
      error = value.get_int64().get(out->received_at_us);
      break;
    case 15:
      error = value.get_string().get(out->source);
      break;
    case 16:
      error = value.get_uint64().get(out->queue_offset);
      break;
    case 17: {
      out->raw = {};
      ondemand::raw_json_string skipped;
      error = value.get_raw_json_string().get(skipped);
      break;
    }
    default:
      error = simdjson::INCORRECT_TYPE;
  }
  if (error) return FieldError(index, error);
  return Status::Ok();
}

}  // namespace

Status RawLineParser::ParseFast(std::string_view line, RawLineView* out) {
  ondemand::document document;
  if (auto error =
          state_->ondemand.iterate(line.data(), line.size(), line.size() + kLinePaddingBytes)
              .get(document)) {
    return DataLoss(std::string("lake line: not JSON: ") + simdjson::error_message(error));
  }
  ondemand::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS)
    return DataLoss("lake line: not a JSON object");
  for (std::size_t index = 0; index < kRawFieldCount; ++index) {
    FH_RETURN_IF_ERROR(ReadOnDemand(object, index, out));
  }
  return Status::Ok();
}

Status RawLineParser::ParsePadded(std::string_view line, RawLineView* out) {
  if (!state_->with_raw) return ParseFast(line, out);
  simdjson::dom::element root;
  if (auto error =
          state_->parser.parse(line.data(), line.size(), /*realloc_if_needed=*/false).get(root)) {
    return DataLoss(std::string("lake line: not JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS)
    return DataLoss("lake line: not a JSON object");
  std::size_t index = 0;
  for (const simdjson::dom::key_value_pair field : object) {
    if (index == kRawFieldCount) {
      return DataLoss("lake line: unexpected field '" + std::string(field.key) + "' after 'raw'");
    }
    if (field.key != kRawFields[index]) {
      return DataLoss("lake line: expected field '" + std::string(kRawFields[index]) +
                      "', found '" + std::string(field.key) + "'");
    }
    if (auto error = ReadRawField(index, field.value, state_->with_raw, out))
      return FieldError(index, error);
    ++index;
  }
  if (index != kRawFieldCount) {
    return DataLoss("lake line: field '" + std::string(kRawFields[index]) + "' is missing");
  }
  return Status::Ok();
}

Status RawLineParser::Parse(std::string_view line, RawLineView* out) {
  std::vector<char>& padded = state_->padded;
  if (padded.size() < line.size() + kLinePaddingBytes)
    padded.resize(line.size() + kLinePaddingBytes);
  std::memcpy(padded.data(), line.data(), line.size());
  return ParsePadded(std::string_view(padded.data(), line.size()), out);
}

namespace {

// A cursor over one raw-zone line for ScanLedgerFields: every method checks the exact bytes the
// writer produces and returns false at the first difference.
class LineScanner {
 public:
  explicit LineScanner(std::string_view line) : at_(line.data()), end_(line.data() + line.size()) {}

  // `{"key":` for the first field, `,"key":` for the others.
  bool Key(bool first, std::string_view key) {
    if (!Byte(first ? '{' : ',') || !Byte('"')) return false;
    if (static_cast<std::size_t>(end_ - at_) < key.size() + 2) return false;
    if (std::memcmp(at_, key.data(), key.size()) != 0) return false;
    at_ += key.size();
    return Byte('"') && Byte(':');
  }

  // A string with no escapes (ids, codes, dates): the view of its bytes.
  bool PlainString(std::string_view* out) {
    if (!Byte('"')) return false;
    const char* start = at_;
    while (at_ < end_ && *at_ != '"') {
      const auto c = static_cast<unsigned char>(*at_);
      if (c < 0x20 || c == '\\') return false;
      ++at_;
    }
    if (at_ == end_) return false;
    *out = std::string_view(start, static_cast<std::size_t>(at_ - start));
    ++at_;
    return true;
  }

  // Any JSON string: its unescaped value, in place when it has no escapes, else in `scratch`.
  bool String(std::string_view* out, std::string* scratch) {
    if (!Byte('"')) return false;
    const char* start = at_;
    while (at_ < end_ && *at_ != '"' && *at_ != '\\') {
      if (static_cast<unsigned char>(*at_) < 0x20) return false;
      ++at_;
    }
    if (at_ == end_) return false;
    if (*at_ == '"') {
      *out = std::string_view(start, static_cast<std::size_t>(at_ - start));
      ++at_;
      return true;
    }
    scratch->assign(start, at_);
    while (at_ < end_ && *at_ != '"') {
      const auto c = static_cast<unsigned char>(*at_);
      if (c < 0x20) return false;
      if (c != '\\') {
        scratch->push_back(*at_++);
        continue;
      }
      if (!Escape(scratch)) return false;
    }
    if (at_ == end_) return false;
    ++at_;
    *out = *scratch;
    return true;
  }

  bool SkipString() {
    thread_local std::string scratch;
    std::string_view ignored;
    return String(&ignored, &scratch);
  }

  // A JSON integer that fits int64: optional '-', no leading zeros.
  bool Int64(std::int64_t* out) {
    const char* start = at_;
    if (at_ < end_ && *at_ == '-') ++at_;
    const char* digits = at_;
    while (at_ < end_ && *at_ >= '0' && *at_ <= '9') ++at_;
    if (at_ == digits || (*digits == '0' && at_ - digits > 1)) return false;
    const auto [ptr, error] = std::from_chars(start, at_, *out);
    return error == std::errc() && ptr == at_;
  }

  bool Uint64() {
    const char* digits = at_;
    while (at_ < end_ && *at_ >= '0' && *at_ <= '9') ++at_;
    std::uint64_t value = 0;
    const auto [ptr, error] = std::from_chars(digits, at_, value);
    return at_ != digits && error == std::errc() && ptr == at_ &&
           !(*digits == '0' && at_ - digits > 1);
  }

  bool Null() {
    if (end_ - at_ < 4 || std::memcmp(at_, "null", 4) != 0) return false;
    at_ += 4;
    return true;
  }
  bool PeekNull() const { return at_ < end_ && *at_ == 'n'; }

  // What follows `"raw":`: a string that runs to the end of the line and closes the object. Its
  // content is not read (the ledger never needs the partner's bytes).
  bool RawTail() const {
    if (end_ - at_ < 3 || *at_ != '"' || end_[-1] != '}' || end_[-2] != '"') return false;
    // The closing quote must not be escaped: an even run of backslashes before it.
    const char* quote = end_ - 2;
    const char* back = quote;
    while (back > at_ + 1 && back[-1] == '\\') --back;
    return (quote - back) % 2 == 0 && quote > at_;
  }

 private:
  bool Byte(char expected) {
    if (at_ == end_ || *at_ != expected) return false;
    ++at_;
    return true;
  }

  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool Hex4(std::uint32_t* out) {
    if (end_ - at_ < 4) return false;
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = HexDigit(at_[i]);
      if (digit < 0) return false;
      value = value << 4 | static_cast<std::uint32_t>(digit);
    }
    at_ += 4;
    *out = value;
    return true;
  }

  static void AppendUtf8(std::uint32_t code_point, std::string* out) {
    if (code_point < 0x80) {
      out->push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800) {
      out->push_back(static_cast<char>(0xC0 | code_point >> 6));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | code_point >> 12));
      out->push_back(static_cast<char>(0x80 | (code_point >> 6 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | code_point >> 18));
      out->push_back(static_cast<char>(0x80 | (code_point >> 12 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point >> 6 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
  }

  // One escape sequence, at the backslash.
  bool Escape(std::string* out) {
    if (end_ - at_ < 2) return false;
    const char kind = at_[1];
    at_ += 2;
    switch (kind) {
      case '"':
      case '\\':
      case '/':
        out->push_back(kind);
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        return UnicodeEscape(out);
      default:
        return false;
    }
  }

  bool UnicodeEscape(std::string* out) {
    std::uint32_t unit = 0;
    if (!Hex4(&unit)) return false;
    if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a lone low surrogate
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      std::uint32_t low = 0;
      if (end_ - at_ < 2 || at_[0] != '\\' || at_[1] != 'u') return false;
      at_ += 2;
      if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
      unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(unit, out);
    return true;
  }

  const char* at_;
  const char* end_;
};

// Field numbers in kRawFields, for the scanner's error messages.
enum RawField : std::size_t {
  kFieldPartnerId,
  kFieldTxnId,
  kFieldAmountMinor,
  kFieldAmount,
  kFieldCurrency,
  kFieldStatus,
  kFieldEventTime,
  kFieldEventTimeUs,
  kFieldEventDate,
  kFieldVersion,
  kFieldErrorCode,
  kFieldArrivalId,
  kFieldEventIndex,
  kFieldReceivedAt,
  kFieldReceivedAtUs,
  kFieldSource,
  kFieldQueueOffset,
  kFieldRaw,
};

Status ScanError(std::size_t field) {
  return DataLoss("lake line: field '" + std::string(kRawFields[field]) +
                  "' is missing, out of order or malformed");
}

Status ScanKey(LineScanner& scan, LedgerFields* out, std::string* scratch) {
  if (!scan.Key(true, kRawFields[kFieldPartnerId]) || !scan.PlainString(&out->partner_id))
    return ScanError(kFieldPartnerId);
  if (!scan.Key(false, kRawFields[kFieldTxnId]) || !scan.String(&out->txn_id, scratch))
    return ScanError(kFieldTxnId);
  return Status::Ok();
}

}  // namespace

Status ScanLedgerKey(std::string_view line, LedgerFields* out, std::string* scratch) {
  LineScanner scan(line);
  return ScanKey(scan, out, scratch);
}

Status ScanLedgerFields(std::string_view line, LedgerFields* out, std::string* scratch) {
  LineScanner scan(line);
  FH_RETURN_IF_ERROR(ScanKey(scan, out, scratch));
  std::string_view ignored;
  const auto key = [&scan](std::size_t field) { return scan.Key(false, kRawFields[field]); };
  if (!key(kFieldAmountMinor) || !scan.Int64(&out->amount_minor))
    return ScanError(kFieldAmountMinor);
  if (!key(kFieldAmount) || !scan.PlainString(&ignored)) return ScanError(kFieldAmount);
  if (!key(kFieldCurrency) || !scan.PlainString(&out->currency)) return ScanError(kFieldCurrency);
  if (!key(kFieldStatus) || !scan.PlainString(&out->status)) return ScanError(kFieldStatus);
  if (!key(kFieldEventTime) || !scan.PlainString(&ignored)) return ScanError(kFieldEventTime);
  if (!key(kFieldEventTimeUs) || !scan.Int64(&out->event_time_us))
    return ScanError(kFieldEventTimeUs);
  if (!key(kFieldEventDate) || !scan.PlainString(&out->event_date))
    return ScanError(kFieldEventDate);
  if (!key(kFieldVersion)) return ScanError(kFieldVersion);
  if (scan.PeekNull()) {
    if (!scan.Null()) return ScanError(kFieldVersion);
    out->version.reset();
  } else {
    std::int64_t version = 0;
    if (!scan.Int64(&version)) return ScanError(kFieldVersion);
    out->version = version;
  }
  if (!key(kFieldErrorCode) || !(scan.PeekNull() ? scan.Null() : scan.SkipString()))
    return ScanError(kFieldErrorCode);
  if (!key(kFieldArrivalId) || !scan.PlainString(&ignored)) return ScanError(kFieldArrivalId);
  std::int64_t event_index = 0;
  if (!key(kFieldEventIndex) || !scan.Int64(&event_index)) return ScanError(kFieldEventIndex);
  if (!key(kFieldReceivedAt) || !scan.PlainString(&ignored)) return ScanError(kFieldReceivedAt);
  if (!key(kFieldReceivedAtUs) || !scan.Int64(&out->received_at_us))
    return ScanError(kFieldReceivedAtUs);
  if (!key(kFieldSource) || !scan.PlainString(&ignored)) return ScanError(kFieldSource);
  if (!key(kFieldQueueOffset) || !scan.Uint64()) return ScanError(kFieldQueueOffset);
  if (!key(kFieldRaw) || !scan.RawTail()) return ScanError(kFieldRaw);
  return Status::Ok();
}

namespace {

template <typename T>
Status Take(const nlohmann::ordered_json::const_iterator& it,
            const nlohmann::ordered_json::const_iterator& end, std::string_view name, T* out) {
  if (it == end || it.key() != name) {
    return DataLoss("quarantine line: expected field '" + std::string(name) + "' here");
  }
  try {
    *out = JsonGet<T>(it.value());
  } catch (const nlohmann::json::exception&) {
    return DataLoss("quarantine line: field '" + std::string(name) + "' has the wrong type");
  }
  return Status::Ok();
}

}  // namespace

Result<QuarantineLine> ParseQuarantineLine(std::string_view line) {
  // nlohmann's parser takes a NUL byte for the end of its input: without this check a line
  // with anything after a NUL would read as the object before it. A writer never puts one in
  // a quarantine line (the raw bytes are base64, the rest is escaped JSON).
  if (line.find('\0') != std::string_view::npos) return DataLoss("quarantine line: a NUL byte");
  const nlohmann::ordered_json object =
      nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return DataLoss("quarantine line: not a JSON object");
  }
  QuarantineLine out;
  std::uint64_t raw_bytes = 0;
  std::string raw_base64;
  auto it = object.cbegin();
  const auto end = object.cend();
  // Each field in order; the iterator moves only past a field that was there (never past end).
  auto next = [&it, &end](std::string_view name, auto* value) -> Status {
    FH_RETURN_IF_ERROR(Take(it, end, name, value));
    ++it;
    return Status::Ok();
  };
  FH_RETURN_IF_ERROR(next(field::kPartnerId, &out.partner_id));
  FH_RETURN_IF_ERROR(next(field::kArrivalId, &out.arrival_id));
  FH_RETURN_IF_ERROR(next(field::kEventIndex, &out.event_index));
  FH_RETURN_IF_ERROR(next(field::kReason, &out.reason));
  FH_RETURN_IF_ERROR(next(field::kDetail, &out.detail));
  FH_RETURN_IF_ERROR(next(field::kReceivedAt, &out.received_at));
  FH_RETURN_IF_ERROR(next(field::kReceivedAtUs, &out.received_at_us));
  FH_RETURN_IF_ERROR(next(field::kArrivalDate, &out.arrival_date));
  FH_RETURN_IF_ERROR(next(field::kSource, &out.source));
  FH_RETURN_IF_ERROR(next(field::kQueueOffset, &out.queue_offset));
  FH_RETURN_IF_ERROR(next(field::kRawBytes, &raw_bytes));
  FH_RETURN_IF_ERROR(next(field::kRawBase64, &raw_base64));
  if (it != end) return DataLoss("quarantine line: unexpected field '" + it.key() + "'");
  if (!edge::Base64Decode(raw_base64, &out.raw)) {
    return DataLoss("quarantine line: raw_base64 is not base64");
  }
  if (out.raw.size() != raw_bytes) {
    return DataLoss("quarantine line: raw_base64 decodes to " + std::to_string(out.raw.size()) +
                    " bytes, raw_bytes says " + std::to_string(raw_bytes));
  }
  return out;
}

}  // namespace firehose::lake
