// A small, fast JSON writer for hot paths (lake lines, API answers). Keys and strings are
// escaped per RFC 8259; commas are placed automatically. Not a validator: the caller nests
// Begin/End calls correctly (checked in debug builds by the depth counter).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace firehose {

// Appends `text` as a JSON string literal (with quotes). Bytes that are not valid UTF-8 are
// written as U+FFFD so that the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view text);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }

  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(std::int64_t value);
  JsonWriter& UInt(std::uint64_t value);
  JsonWriter& Double(double value);  // never on the money path
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Appends text that is already valid JSON (a nested document).
  JsonWriter& Raw(std::string_view json);

  // Key + value shorthands.
  JsonWriter& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, std::int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, std::uint64_t value) { return Key(key).UInt(value); }
  JsonWriter& Field(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, bool value) { return Key(key).Bool(value); }

 private:
  JsonWriter& Open(char bracket);
  JsonWriter& Close(char bracket);
  void BeforeValue();

  std::string* out_;
  bool need_comma_ = false;
  bool after_key_ = false;
};

}  // namespace firehose
