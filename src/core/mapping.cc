#include "core/mapping.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/time.h"

namespace firehose {

namespace ondemand = simdjson::ondemand;

namespace {

enum Field : int { kTxnId, kAmount, kCurrency, kStatus, kEventTime, kVersion, kErrorCode, kFieldCount };
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "txn_id", "amount", "currency", "status", "event_time", "version", "error_code"};
constexpr std::size_t kErrorCodeBytesMax = 256;
// An object's keys are compared one by one up to this many; past it they are hashed.
constexpr std::size_t kLinearKeysMax = 16;

// A JSON pointer split into unescaped reference tokens ("/a~1b/0" -> {"a/b", "0"}).
struct CompiledPointer {
  bool set = false;
  std::vector<std::string> segments;
  std::string text;
};

CompiledPointer CompilePointer(std::string_view pointer) {
  CompiledPointer compiled;
  compiled.set = !pointer.empty();
  compiled.text = std::string(pointer);
  std::size_t position = 1;
  while (compiled.set && position <= pointer.size()) {
    const std::size_t slash = std::min(pointer.find('/', position), pointer.size());
    std::string segment;
    for (std::size_t i = position; i < slash; ++i) {
      if (pointer[i] == '~' && i + 1 < slash) {
        segment += pointer[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        segment += pointer[i];
      }
    }
    compiled.segments.push_back(std::move(segment));
    position = slash + 1;
  }
  return compiled;
}

struct CompiledMapping {
  CompiledPointer batch;
  std::array<CompiledPointer, kFieldCount> fields;
};

enum class ValueKind : std::uint8_t { kAbsent, kString, kNumber, kBool, kNull, kComposite };

struct Captured {
  ValueKind kind = ValueKind::kAbsent;
  std::string_view text;  // unescaped string, or the literal token of a number/bool
};

struct Failure {
  std::string reason;
  std::string detail;
};

// JSON number grammar (RFC 8259 §6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view token) {
  std::size_t i = 0;
  const auto digit = [&](std::size_t at) { return at < token.size() && token[at] >= '0' && token[at] <= '9'; };
  if (i < token.size() && token[i] == '-') ++i;
  if (!digit(i)) return false;
  if (token[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < token.size() && token[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    if (i < token.size() && (token[i] == '+' || token[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == token.size();
}

std::string_view TrimTrailingSpace(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  return token;
}

Failure JsonFailure(simdjson::error_code error) {
  switch (error) {
    case simdjson::UTF8_ERROR: return {"invalid_utf8", "the body is not valid UTF-8"};
    case simdjson::DEPTH_ERROR: return {"too_deep", "JSON nesting is deeper than json_depth_max"};
    default: return {"invalid_json", simdjson::error_message(error)};
  }
}

// A walk's working storage, kept by the Mapper between events so that mapping one needs no
// allocation once the vectors have grown to the partner's shape.
struct WalkScratch {
  std::vector<std::string_view> path;
  std::vector<std::string_view> keys;     // the keys of every object being walked, outermost first
  std::deque<std::string> index_names;    // stable storage for array index path segments
};

// One depth-first pass over a JSON document that validates all of it and captures the values
// at the compiled pointers. When `batch` is set, the array it names is not descended into:
// each element's raw bytes are collected instead (they are walked later, one by one).
class Walker {
 public:
  Walker(const CompiledMapping& mapping, bool capture_fields, bool collect_batch, int depth_max,
         WalkScratch& scratch)
      : mapping_(mapping), capture_fields_(capture_fields), collect_batch_(collect_batch),
        depth_max_(depth_max), path_(scratch.path), keys_(scratch.keys),
        index_names_(scratch.index_names) {
    path_.clear();
    keys_.clear();
    index_names_.clear();
  }

  std::optional<Failure> WalkDocument(ondemand::document& document) {
    ondemand::json_type type;
    if (auto error = document.type().get(type)) return JsonFailure(error);
    if (type != ondemand::json_type::object) return NotAnObject(document, type);
    ondemand::value root;
    if (auto error = document.get_value().get(root)) return JsonFailure(error);
    if (auto failure = Walk(root, 1)) return failure;
    const char* trailing = nullptr;
    if (document.current_location().get(trailing) == simdjson::SUCCESS) {
      return Failure{"invalid_json", "there is content after the JSON value"};
    }
    return std::nullopt;
  }

  // A root that is not an object: "not_an_object" if it is valid JSON, else "invalid_json".
  static Failure NotAnObject(ondemand::document& document, ondemand::json_type type) {
    bool valid = false;
    if (type == ondemand::json_type::array) {
      ondemand::array array;
      std::string_view raw;
      valid = !document.get_array().get(array) && !array.raw_json().get(raw);
    } else if (type == ondemand::json_type::string) {
      std::string_view text;
      valid = !document.get_string().get(text);
    } else {
      std::string_view token;
      valid = !document.raw_json_token().get(token);
      token = TrimTrailingSpace(token);
      valid = valid && (token == "null" || token == "true" || token == "false" || IsJsonNumber(token));
    }
    if (!valid) return {"invalid_json", "the body is not a JSON value"};
    return {"not_an_object", "the event is not a JSON object"};
  }

  const std::array<Captured, kFieldCount>& captured() const { return captured_; }
  bool batch_found() const { return batch_found_; }
  bool batch_is_array() const { return batch_is_array_; }
  // Raw bytes of each batch element, and whether it was an object.
  const std::vector<std::pair<std::string_view, bool>>& batch_elements() const { return elements_; }

 private:
  bool PathIs(const CompiledPointer& pointer) const {
    if (!pointer.set || pointer.segments.size() != path_.size()) return false;
    for (std::size_t i = 0; i < path_.size(); ++i) {
      if (pointer.segments[i] != path_[i]) return false;
    }
    return true;
  }

  void Capture(ValueKind kind, std::string_view text) {
    if (!capture_fields_) return;
    for (int field = 0; field < kFieldCount; ++field) {
      if (PathIs(mapping_.fields[field])) captured_[field] = {kind, text};
    }
  }

  std::optional<Failure> Walk(ondemand::value value, int depth) {
    if (depth > depth_max_) return Failure{"too_deep", "JSON nesting is deeper than json_depth_max"};
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return JsonFailure(error);
    if (collect_batch_ && PathIs(mapping_.batch)) {
      batch_found_ = true;
      if (type == ondemand::json_type::array) return CollectBatch(value);
    }
    switch (type) {
      case ondemand::json_type::object: return WalkObject(value, depth);
      case ondemand::json_type::array: return WalkArray(value, depth);
      case ondemand::json_type::string: {
        std::string_view text;
        if (auto error = value.get_string().get(text)) return JsonFailure(error);
        Capture(ValueKind::kString, text);
        return std::nullopt;
      }
      case ondemand::json_type::number: {
        const std::string_view token = TrimTrailingSpace(value.raw_json_token());
        if (!IsJsonNumber(token)) return Failure{"invalid_json", "malformed number '" + std::string(token.substr(0, 40)) + "'"};
        Capture(ValueKind::kNumber, token);
        return std::nullopt;
      }
      case ondemand::json_type::boolean: {
        bool flag = false;
        if (auto error = value.get_bool().get(flag)) return JsonFailure(error);
        Capture(ValueKind::kBool, flag ? "true" : "false");
        return std::nullopt;
      }
      case ondemand::json_type::null: {
        bool is_null = false;
        if (auto error = value.is_null().get(is_null)) return JsonFailure(error);
        if (!is_null) return Failure{"invalid_json", "malformed literal"};
        Capture(ValueKind::kNull, "null");
        return std::nullopt;
      }
    }
    return Failure{"invalid_json", "unknown JSON value type"};
  }

  std::optional<Failure> WalkObject(ondemand::value value, int depth) {
    Capture(ValueKind::kComposite, "");
    ondemand::object object;
    if (auto error = value.get_object().get(object)) return JsonFailure(error);
    const std::size_t first_key = keys_.size();  // this object's keys follow its parents'
    // Past kLinearKeysMax keys an object's keys are also hashed: a linear scan per key is
    // quadratic, and one signed 1 MiB object of 80 k keys held an io thread (and then the lake
    // and ops consumers, which map every record again) for 7 s.
    std::optional<std::unordered_set<std::string_view>> hashed;
    for (auto field : object) {
      std::string_view key;
      if (auto error = field.unescaped_key().get(key)) return JsonFailure(error);
      const auto object_keys = keys_.begin() + static_cast<std::ptrdiff_t>(first_key);
      bool duplicate = false;
      if (hashed) {
        duplicate = !hashed->insert(key).second;
      } else if (keys_.size() - first_key < kLinearKeysMax) {
        duplicate = std::find(object_keys, keys_.end(), key) != keys_.end();
      } else {
        hashed.emplace(object_keys, keys_.end());
        duplicate = !hashed->insert(key).second;
      }
      if (duplicate) {
        return Failure{"duplicate_key", "key '" + std::string(key.substr(0, 64)) + "' appears twice in one object"};
      }
      keys_.push_back(key);
      ondemand::value child;
      if (auto error = field.value().get(child)) return JsonFailure(error);
      path_.push_back(key);
      auto failure = Walk(child, depth + 1);
      path_.pop_back();
      if (failure) return failure;
    }
    keys_.resize(first_key);
    return std::nullopt;
  }

  std::optional<Failure> WalkArray(ondemand::value value, int depth) {
    Capture(ValueKind::kComposite, "");
    ondemand::array array;
    if (auto error = value.get_array().get(array)) return JsonFailure(error);
    std::size_t index = 0;
    for (auto element : array) {
      ondemand::value child;
      if (auto error = element.get(child)) return JsonFailure(error);
      index_names_.push_back(std::to_string(index++));
      path_.push_back(index_names_.back());
      auto failure = Walk(child, depth + 1);
      path_.pop_back();
      if (failure) return failure;
    }
    return std::nullopt;
  }

  std::optional<Failure> CollectBatch(ondemand::value value) {
    batch_is_array_ = true;
    ondemand::array array;
    if (auto error = value.get_array().get(array)) return JsonFailure(error);
    for (auto element : array) {
      ondemand::value child;
      if (auto error = element.get(child)) return JsonFailure(error);
      ondemand::json_type type;
      if (auto error = child.type().get(type)) return JsonFailure(error);
      std::string_view raw;
      simdjson::error_code error = simdjson::SUCCESS;
      if (type == ondemand::json_type::object) {
        ondemand::object object;
        error = child.get_object().get(object);
        if (!error) error = object.raw_json().get(raw);
      } else if (type == ondemand::json_type::array) {
        ondemand::array inner;
        error = child.get_array().get(inner);
        if (!error) error = inner.raw_json().get(raw);
      } else {
        raw = TrimTrailingSpace(child.raw_json_token());
      }
      if (error) return JsonFailure(error);
      elements_.emplace_back(raw, type == ondemand::json_type::object);
    }
    return std::nullopt;
  }

  const CompiledMapping& mapping_;
  const bool capture_fields_;
  const bool collect_batch_;
  const int depth_max_;
  std::vector<std::string_view>& path_;
  std::vector<std::string_view>& keys_;
  std::deque<std::string>& index_names_;
  std::array<Captured, kFieldCount> captured_{};
  bool batch_found_ = false;
  bool batch_is_array_ = false;
  std::vector<std::pair<std::string_view, bool>> elements_;
};

std::string_view KindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kAbsent: return "absent";
    case ValueKind::kString: return "a string";
    case ValueKind::kNumber: return "a number";
    case ValueKind::kBool: return "a boolean";
    case ValueKind::kNull: return "null";
    case ValueKind::kComposite: return "an object or array";
  }
  return "?";
}

// Turns captured field values into a canonical event, or the first reason it cannot be one.
class EventBuilder {
 public:
  EventBuilder(const Mapping& mapping, const CompiledMapping& compiled,
               const std::array<Captured, kFieldCount>& captured)
      : mapping_(mapping), compiled_(compiled), captured_(captured) {}

  std::optional<Failure> Build(CanonicalEvent* event) {
    std::string_view text;
    if (auto failure = Required(kTxnId, /*allow_number=*/true, &text)) return failure;
    if (captured_[kTxnId].kind == ValueKind::kNumber && text.find_first_of(".eE") != std::string_view::npos) {
      return Wrong(kTxnId, "an integer or a string");
    }
    auto txn_id = TxnId::Parse(text);
    if (!txn_id.ok()) {
      const bool too_long = text.size() > TxnId::kBytesMax;
      return Failure{too_long ? "txn_id_too_long" : "txn_id_invalid", txn_id.status().message()};
    }
    event->txn_id = std::move(txn_id).value();

    if (auto failure = Required(kCurrency, /*allow_number=*/false, &text)) return failure;
    auto currency = Currency::FromCode(text);
    if (!currency.ok()) return Failure{"unknown_currency", currency.status().message()};
    event->currency = *currency;

    if (auto failure = Required(kAmount, /*allow_number=*/true, &text)) return failure;
    const MoneyParse amount = mapping_.amount_format == AmountFormat::kDecimal
                                  ? ParseDecimalAmount(text, event->currency.exponent())
                                  : ParseMinorUnits(text);
    if (!amount.ok) {
      return Failure{std::string(MoneyErrorName(amount.error)),
                     MoneyErrorStatus(amount.error, text, event->currency.code()).message()};
    }
    event->amount = amount.amount;

    if (auto failure = Status(event)) return failure;
    if (auto failure = Time(kEventTime, mapping_.event_time_format, &event->event_time)) return failure;
    if (auto failure = Version(event)) return failure;
    return ErrorCode(event);
  }

 private:
  std::string Where(Field field) const {
    return std::string(kFieldNames[field]) + " at '" + compiled_.fields[field].text + "'";
  }
  Failure Wrong(Field field, std::string_view expected) const {
    return {"wrong_type", Where(field) + " is " + std::string(KindName(captured_[field].kind)) +
                              ", expected " + std::string(expected)};
  }

  std::optional<Failure> Required(Field field, bool allow_number, std::string_view* text) const {
    const Captured& value = captured_[field];
    if (value.kind == ValueKind::kAbsent || value.kind == ValueKind::kNull) {
      return Failure{"missing_field", Where(field) + " is missing"};
    }
    const bool ok = value.kind == ValueKind::kString || (allow_number && value.kind == ValueKind::kNumber);
    if (!ok) return Wrong(field, allow_number ? "a string or a number" : "a string");
    *text = value.text;
    return std::nullopt;
  }

  std::optional<Failure> Status(CanonicalEvent* event) const {
    const Captured& value = captured_[kStatus];
    if (value.kind == ValueKind::kAbsent || value.kind == ValueKind::kNull) {
      return Failure{"missing_field", Where(kStatus) + " is missing"};
    }
    if (value.kind == ValueKind::kComposite) return Wrong(kStatus, "a string, number or boolean");
    const auto found = mapping_.status_table.find(value.text);
    if (found == mapping_.status_table.end()) {
      return Failure{"unknown_status", "status '" + std::string(value.text.substr(0, 64)) +
                                           "' is not in the partner's status_map"};
    }
    event->status = found->second;
    return std::nullopt;
  }

  std::optional<Failure> ParseTime(Field field, TimeFormat format, std::string_view reason,
                                   TimestampUs* out) const {
    const Captured& value = captured_[field];
    const bool ok_kind = format == TimeFormat::kRfc3339
                             ? value.kind == ValueKind::kString
                             : value.kind == ValueKind::kString || value.kind == ValueKind::kNumber;
    if (!ok_kind) return Wrong(field, format == TimeFormat::kRfc3339 ? "an RFC 3339 string" : "a number");
    Result<TimestampUs> time = format == TimeFormat::kRfc3339       ? ParseRfc3339(value.text)
                               : format == TimeFormat::kUnixSeconds ? ParseUnixSeconds(value.text)
                                                                    : ParseUnixMillis(value.text);
    if (!time.ok()) return Failure{std::string(reason), Where(field) + ": " + time.status().message()};
    *out = *time;
    return std::nullopt;
  }

  std::optional<Failure> Time(Field field, TimeFormat format, TimestampUs* out) const {
    const Captured& value = captured_[field];
    if (value.kind == ValueKind::kAbsent || value.kind == ValueKind::kNull) {
      return Failure{"missing_field", Where(field) + " is missing"};
    }
    return ParseTime(field, format, "time_invalid", out);
  }

  std::optional<Failure> Version(CanonicalEvent* event) const {
    if (mapping_.version_format == VersionFormat::kNone) return std::nullopt;
    const Captured& value = captured_[kVersion];
    if (value.kind == ValueKind::kAbsent || value.kind == ValueKind::kNull) {
      return Failure{"missing_field", Where(kVersion) + " is missing"};
    }
    if (mapping_.version_format == VersionFormat::kInteger) {
      if (value.kind != ValueKind::kNumber && value.kind != ValueKind::kString) {
        return Wrong(kVersion, "an integer");
      }
      const MoneyParse parsed = ParseMinorUnits(value.text);  // same exact integer grammar
      if (!parsed.ok) return Failure{"version_invalid", Where(kVersion) + " is not an integer"};
      event->version = parsed.amount.value();
      return std::nullopt;
    }
    const TimeFormat format = mapping_.version_format == VersionFormat::kRfc3339 ? TimeFormat::kRfc3339
                              : mapping_.version_format == VersionFormat::kUnixSeconds
                                  ? TimeFormat::kUnixSeconds
                                  : TimeFormat::kUnixMillis;
    TimestampUs time;
    if (auto failure = ParseTime(kVersion, format, "version_invalid", &time)) return failure;
    event->version = time.value();
    return std::nullopt;
  }

  std::optional<Failure> ErrorCode(CanonicalEvent* event) const {
    const Captured& value = captured_[kErrorCode];
    if (value.kind == ValueKind::kAbsent || value.kind == ValueKind::kNull) return std::nullopt;
    if (value.kind != ValueKind::kString && value.kind != ValueKind::kNumber) {
      return Wrong(kErrorCode, "a string or a number");
    }
    if (value.text.size() > kErrorCodeBytesMax) {
      return Failure{"error_code_too_long", Where(kErrorCode) + " is longer than 256 bytes"};
    }
    event->error_code = std::string(value.text);
    return std::nullopt;
  }

  const Mapping& mapping_;
  const CompiledMapping& compiled_;
  const std::array<Captured, kFieldCount>& captured_;
};

// A copy of JSON text with the zeroed padding simdjson reads past the end.
class PaddedBuffer {
 public:
  std::string_view Assign(std::string_view text) {
    if (storage_.size() < text.size() + simdjson::SIMDJSON_PADDING) {
      storage_.resize(text.size() + simdjson::SIMDJSON_PADDING);
    }
    std::memcpy(storage_.data(), text.data(), text.size());
    std::memset(storage_.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    size_ = text.size();
    return {storage_.data(), size_};
  }
  const char* data() const { return storage_.data(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return storage_.size(); }

 private:
  std::vector<char> storage_;
  std::size_t size_ = 0;
};

}  // namespace

struct Mapper::State {
  explicit State(const Limits& limits_in) : limits(limits_in) {}

  const CompiledMapping& Compile(const Mapping& mapping) {
    auto found = compiled_cache.find(&mapping);
    if (found != compiled_cache.end()) return found->second;
    CompiledMapping result;
    result.batch = CompilePointer(mapping.batch_pointer);
    const std::array<const std::string*, kFieldCount> pointers = {
        &mapping.txn_id_pointer, &mapping.amount_pointer,   &mapping.currency_pointer,
        &mapping.status_pointer, &mapping.event_time_pointer, &mapping.version_pointer,
        &mapping.error_code_pointer};
    for (int field = 0; field < kFieldCount; ++field) result.fields[field] = CompilePointer(*pointers[field]);
    return compiled_cache.emplace(&mapping, std::move(result)).first->second;
  }

  // Validates one event's JSON and builds its canonical event.
  std::optional<Failure> MapEvent(const Mapping& mapping, const CompiledMapping& compiled,
                                  const PaddedBuffer& buffer, CanonicalEvent* event) {
    ondemand::document document;
    if (auto error = parser.iterate(buffer.data(), buffer.size(), buffer.capacity()).get(document)) {
      return JsonFailure(error);
    }
    Walker walker(compiled, /*capture_fields=*/true, /*collect_batch=*/false,
                  static_cast<int>(limits.json_depth_max), scratch);
    if (auto failure = walker.WalkDocument(document)) return failure;
    return EventBuilder(mapping, compiled, walker.captured()).Build(event);
  }

  const Limits limits;
  ondemand::parser parser;
  PaddedBuffer body_buffer;
  PaddedBuffer element_buffer;
  WalkScratch scratch;
  std::unordered_map<const Mapping*, CompiledMapping> compiled_cache;
};

Mapper::Mapper(const Limits& limits) : state_(std::make_unique<State>(limits)) {}
Mapper::~Mapper() = default;

MappedArrival Mapper::Map(const PartnerId& partner, const Mapping& mapping, std::string_view body) {
  MappedArrival result;
  const auto whole_failure = [&](Failure failure) {
    result.unmapped.push_back({-1, std::move(failure.reason), std::move(failure.detail), body});
    return std::move(result);
  };
  if (body.empty()) return whole_failure({"empty_body", "the body is empty"});

  State& state = *state_;
  const CompiledMapping& compiled = state.Compile(mapping);
  state.body_buffer.Assign(body);

  if (!compiled.batch.set) {
    MappedEvent mapped;
    mapped.event.partner_id = partner;
    if (auto failure = state.MapEvent(mapping, compiled, state.body_buffer, &mapped.event)) {
      return whole_failure(std::move(*failure));
    }
    mapped.raw = body;
    result.events.push_back(std::move(mapped));
    return result;
  }

  ondemand::document document;
  if (auto error = state.parser
                       .iterate(state.body_buffer.data(), state.body_buffer.size(),
                                state.body_buffer.capacity())
                       .get(document)) {
    return whole_failure(JsonFailure(error));
  }
  Walker walker(compiled, /*capture_fields=*/false, /*collect_batch=*/true,
                static_cast<int>(state.limits.json_depth_max), state.scratch);
  if (auto failure = walker.WalkDocument(document)) return whole_failure(std::move(*failure));
  if (!walker.batch_found()) {
    return whole_failure({"missing_field", "batch array at '" + mapping.batch_pointer + "' is missing"});
  }
  if (!walker.batch_is_array()) {
    return whole_failure({"batch_not_array", "'" + mapping.batch_pointer + "' is not an array"});
  }
  const auto& elements = walker.batch_elements();
  if (elements.empty()) return whole_failure({"batch_empty", "the batch array is empty"});
  if (elements.size() > static_cast<std::size_t>(state.limits.batch_events_max)) {
    result.batch_too_large = true;
    return whole_failure({"batch_too_large", std::to_string(elements.size()) +
                                                 " events in one body, over batch_events_max " +
                                                 std::to_string(state.limits.batch_events_max)});
  }

  // Copy the element slices out of the body buffer: the next parse reuses the parser.
  std::vector<std::pair<std::string_view, bool>> slices;
  slices.reserve(elements.size());
  for (const auto& [raw, is_object] : elements) {
    const std::size_t offset = static_cast<std::size_t>(raw.data() - state.body_buffer.data());
    slices.emplace_back(body.substr(offset, raw.size()), is_object);
  }
  for (std::uint32_t index = 0; index < slices.size(); ++index) {
    const auto& [raw, is_object] = slices[index];
    if (!is_object) {
      result.unmapped.push_back({static_cast<std::int32_t>(index), "not_an_object",
                                 "batch element " + std::to_string(index) + " is not a JSON object", raw});
      continue;
    }
    state.element_buffer.Assign(raw);
    MappedEvent mapped;
    mapped.event.partner_id = partner;
    if (auto failure = state.MapEvent(mapping, compiled, state.element_buffer, &mapped.event)) {
      result.unmapped.push_back({static_cast<std::int32_t>(index), std::move(failure->reason),
                                 "batch element " + std::to_string(index) + ": " + failure->detail, raw});
      continue;
    }
    mapped.event_index = index;
    mapped.raw = raw;
    result.events.push_back(std::move(mapped));
  }
  return result;
}

const std::vector<std::string_view>& MappingReasons() {
  static const std::vector<std::string_view> kReasons = {
      "empty_body", "invalid_json", "invalid_utf8", "too_deep", "duplicate_key", "not_an_object",
      "batch_not_array", "batch_empty", "batch_too_large", "missing_field", "wrong_type",
      "txn_id_too_long", "txn_id_invalid", "unknown_currency", "unknown_status", "time_invalid",
      "version_invalid", "error_code_too_long", "amount_empty", "amount_whitespace",
      "amount_plus_sign", "amount_missing_digits", "amount_exponent_notation",
      "amount_invalid_character", "amount_too_many_fraction_digits", "amount_overflow"};
  return kReasons;
}

}  // namespace firehose
