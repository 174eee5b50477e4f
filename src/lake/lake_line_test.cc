#include "lake/lake_line.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/time.h"

namespace firehose::lake {
namespace {

CanonicalEvent SampleEvent() {
  CanonicalEvent event;
  event.partner_id = *PartnerId::Parse("acme");
  event.txn_id = *TxnId::Parse("tx \"quoted\" \\ café 😀");
  event.amount = AmountMinor(9'007'199'254'740'993);  // 2^53 + 1: a double would round it
  event.currency = *Currency::FromCode("usd");
  event.status = TxnStatus::kRefunded;
  event.event_time = *ParseRfc3339("2026-11-27T23:59:59.999999Z");
  event.version = 42;
  event.error_code = "card_declined";
  return event;
}

LineEnvelope SampleEnvelope(const std::string& received_text) {
  return {"acme",
          "01JD0000000000000000000000",
          *ParseRfc3339(received_text),
          received_text,
          "webhook",
          QueueOffset(18'446'744'073'709'551'615ULL)};
}

TEST(LakeLine, RawLineRoundTripsTheEventAndTheExactBytes) {
  const std::string raw =
      "{\"id\":\"tx \\\"quoted\\\" \\\\ caf\\u00e9 \xF0\x9F\x98\x80\",\n\t\"note\":\"\xE2\x80\xA8 "
      "\x7F \"}";
  const CanonicalEvent event = SampleEvent();
  const std::string received = FormatRfc3339Micros(*ParseRfc3339("2026-11-28T00:00:01.5Z"));
  std::string line;
  AppendRawLine(SampleEnvelope(received), event, BusinessDate::FromCivil(2026, 11, 27), 7, raw,
                &line);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per event";
  line.pop_back();

  RawLineParser parser;
  RawLineView view;
  ASSERT_TRUE(parser.Parse(line, &view).ok());
  EXPECT_EQ(view.raw, raw);
  EXPECT_EQ(view.event_date, "2026-11-27");
  EXPECT_EQ(view.event_index, 7);
  EXPECT_EQ(view.queue_offset, 18'446'744'073'709'551'615ULL);
  EXPECT_EQ(view.received_at, "2026-11-28T00:00:01.500000Z");
  EXPECT_EQ(view.amount, "90071992547409.93");
  EXPECT_EQ(view.source, "webhook");
  Result<CanonicalEvent> back = ToCanonicalEvent(view);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->partner_id, event.partner_id);
  EXPECT_EQ(back->txn_id, event.txn_id);
  EXPECT_EQ(back->amount, event.amount);
  EXPECT_EQ(back->currency, event.currency);
  EXPECT_EQ(back->status, event.status);
  EXPECT_EQ(back->event_time, event.event_time);
  EXPECT_EQ(back->version, event.version);
  EXPECT_EQ(back->error_code, event.error_code);

  // An independent JSON parser sees the same: valid JSON, fields in the documented order.
  const nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& item : parsed.items()) keys.push_back(item.key());
  ASSERT_EQ(keys.size(), std::size(kRawFields));
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(keys[i], kRawFields[i]);
  EXPECT_EQ(parsed["raw"].get<std::string>(), raw);
  EXPECT_EQ(parsed["amount_minor"].get<std::int64_t>(), 9'007'199'254'740'993);
}

TEST(LakeLine, TheFastModeReadsTheSameFields) {
  const std::string received = FormatRfc3339Micros(*ParseRfc3339("2026-11-28T00:00:01.5Z"));
  std::string line;
  AppendRawLine(SampleEnvelope(received), SampleEvent(), BusinessDate::FromCivil(2026, 11, 27), 7,
                R"({"k":"v \" w"})", &line);
  line.pop_back();
  RawLineParser full;
  RawLineParser fast(/*with_raw=*/false);
  RawLineView a;
  RawLineView b;
  ASSERT_TRUE(full.Parse(line, &a).ok());
  ASSERT_TRUE(fast.Parse(line, &b).ok());
  const auto event_a = ToCanonicalEvent(a);
  const auto event_b = ToCanonicalEvent(b);
  ASSERT_TRUE(event_a.ok() && event_b.ok());
  EXPECT_EQ(event_a->txn_id, event_b->txn_id);
  EXPECT_EQ(event_a->amount, event_b->amount);
  EXPECT_EQ(event_a->version, event_b->version);
  EXPECT_EQ(event_a->error_code, event_b->error_code);
  EXPECT_EQ(a.arrival_id, b.arrival_id);
  EXPECT_EQ(a.received_at_us, b.received_at_us);
  EXPECT_EQ(a.queue_offset, b.queue_offset);
  EXPECT_EQ(a.event_index, b.event_index);
  EXPECT_EQ(a.raw, R"({"k":"v \" w"})");
  EXPECT_TRUE(b.raw.empty());
  std::string swapped = line;
  swapped.replace(swapped.find("\"currency\""), 10, "\"kurrency\"");
  EXPECT_EQ(fast.Parse(swapped, &b).code(), StatusCode::kDataLoss);
}

TEST(LakeLine, OptionalFieldsAreNull) {
  CanonicalEvent event = SampleEvent();
  event.version.reset();
  event.error_code.clear();
  const std::string received = FormatRfc3339Micros(TimestampUs(0));
  std::string line;
  AppendRawLine(SampleEnvelope(received), event, BusinessDate(0), 0, "{}", &line);
  EXPECT_NE(line.find(R"("version":null,"error_code":null)"), std::string::npos);
  RawLineParser parser(/*with_raw=*/false);
  RawLineView view;
  ASSERT_TRUE(parser.Parse(line.substr(0, line.size() - 1), &view).ok());
  EXPECT_FALSE(view.version.has_value());
  EXPECT_FALSE(view.error_code.has_value());
  EXPECT_TRUE(view.raw.empty()) << "not unescaped unless asked";
}

TEST(LakeLine, TimesDatesAndEscapesMatchTheCoreFormatters) {
  RawLineParser parser;
  RawLineView view;
  std::uint64_t state = 88172645463325252ULL;  // xorshift: deterministic instants 1970..2100
  for (int i = 0; i < 2000; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    CanonicalEvent event = SampleEvent();
    event.event_time = TimestampUs(static_cast<std::int64_t>(state % 4'102'444'800'000'000ULL));
    std::string control;
    for (int c = 1; c < 0x20; ++c) control.push_back(static_cast<char>(c));
    event.error_code = control + "\"" + "\\";
    const std::string received = FormatRfc3339Micros(event.event_time);
    std::string line;
    const BusinessDate date = BusinessCalendar().DateOf(event.event_time);
    AppendRawLine(SampleEnvelope(received), event, date, 0, "{}", &line);
    line.pop_back();
    ASSERT_TRUE(parser.Parse(line, &view).ok()) << line;
    ASSERT_EQ(view.event_time, FormatRfc3339Micros(event.event_time));
    ASSERT_EQ(view.event_date, date.ToString());
    ASSERT_EQ(view.error_code, std::optional<std::string_view>(event.error_code));
  }
}

TEST(LakeLine, QuarantineLineKeepsAnyBytesExactly) {
  std::string raw = "{\"a\":\"\xFF\xFE\"}\n\0tail";
  raw.push_back('\0');
  raw += "\xC3(";  // invalid UTF-8 continuation
  const std::string received = FormatRfc3339Micros(*ParseRfc3339("2026-11-27T10:00:00Z"));
  std::string line;
  AppendQuarantineLine(SampleEnvelope(received), BusinessDate::FromCivil(2026, 11, 27),
                       {3, "invalid_utf8", "the body is not \"valid\" UTF-8", raw}, &line);
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  Result<QuarantineLine> parsed = ParseQuarantineLine(line);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->raw, raw);
  EXPECT_EQ(parsed->event_index, 3);
  EXPECT_EQ(parsed->reason, "invalid_utf8");
  EXPECT_EQ(parsed->detail, "the body is not \"valid\" UTF-8");
  EXPECT_EQ(parsed->arrival_date, "2026-11-27");
  EXPECT_EQ(parsed->partner_id, "acme");
  const nlohmann::ordered_json json = nlohmann::ordered_json::parse(line);
  std::size_t i = 0;
  for (const auto& item : json.items()) EXPECT_EQ(item.key(), kQuarantineFields[i++]);
  EXPECT_EQ(i, std::size(kQuarantineFields));
}

TEST(LakeLine, MalformedLinesAreDataLossNamingTheField) {
  RawLineParser parser;
  RawLineView view;
  EXPECT_EQ(parser.Parse("not json", &view).code(), StatusCode::kDataLoss);
  EXPECT_NE(parser.Parse(R"({"partner_id":"acme"})", &view).message().find("txn_id"),
            std::string::npos);
  EXPECT_NE(parser.Parse(R"({"partner_id":"acme","txn_id":"x","amount_minor":"12"})", &view)
                .message()
                .find("amount_minor"),
            std::string::npos);

  std::string line;
  const std::string received = FormatRfc3339Micros(TimestampUs(0));
  AppendRawLine(SampleEnvelope(received), SampleEvent(), BusinessDate(0), 0, "{}", &line);
  line.pop_back();
  EXPECT_EQ(parser.Parse(line + " x", &view).code(), StatusCode::kDataLoss);
  std::string wrong_amount = line;
  wrong_amount.replace(wrong_amount.find("90071992547409.93"), 17, "90071992547409.94");
  ASSERT_TRUE(parser.Parse(wrong_amount, &view).ok());
  EXPECT_EQ(ToCanonicalEvent(view).status().code(), StatusCode::kDataLoss);

  EXPECT_EQ(ParseQuarantineLine("{}").status().code(), StatusCode::kDataLoss);
}

// A quarantine line's integers are integers that fit: nlohmann's get<> would read 1.5 as 1 and -1
// as 2^64 - 1, and casting a number beyond 64 bits (kept as a double) was undefined behaviour
// (lake_line_fuzz, tests/fuzz/corpus/lake_line_fuzz/regression_integer_beyond_64_bits).
TEST(LakeLine, QuarantineLineIntegersThatAreNotIntegersThatFitAreDataLoss) {
  const std::string received = FormatRfc3339Micros(*ParseRfc3339("2026-11-27T10:00:00Z"));
  std::string line;
  AppendQuarantineLine(SampleEnvelope(received), BusinessDate::FromCivil(2026, 11, 27),
                       {3, "invalid_json", "x", "{"}, &line);
  line.pop_back();
  ASSERT_TRUE(ParseQuarantineLine(line).ok()) << line;
  const auto with = [&](std::string_view field, std::string_view value) {
    nlohmann::ordered_json json = nlohmann::ordered_json::parse(line);
    json[std::string(field)] = nlohmann::ordered_json::parse(value);
    return ParseQuarantineLine(json.dump()).status();
  };
  EXPECT_TRUE(with("queue_offset", "18446744073709551615").ok());
  for (const auto& [field, value] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"received_at_us", "17642376010444444444400000"},
           {"received_at_us", "9223372036854775808"},
           {"event_index", "3.5"},
           {"event_index", "3.0"},
           {"queue_offset", "-1"},
           {"queue_offset", "18446744073709551616"},
           {"raw_bytes", "1e0"},
       }) {
    const Status status = with(field, value);
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << field << " = " << value;
    EXPECT_NE(status.message().find(std::string(field)), std::string::npos) << status.ToString();
  }
}

// The ledger's scanner reads what the DOM parser reads, on every shape of line the writer makes.
TEST(LakeLine, TheLedgerScannerAgreesWithTheParser) {
  const std::string received = FormatRfc3339Micros(*ParseRfc3339("2026-11-28T00:00:01.5Z"));
  std::vector<CanonicalEvent> events;
  events.push_back(SampleEvent());  // escapes and multi-byte characters in txn_id
  CanonicalEvent plain = SampleEvent();
  plain.txn_id = *TxnId::Parse("plain-1");
  plain.version.reset();
  plain.error_code.clear();
  plain.amount = AmountMinor(-5);
  events.push_back(plain);
  CanonicalEvent surrogate = SampleEvent();
  surrogate.txn_id = *TxnId::Parse("\xF0\x9F\x98\x80 \\/");
  surrogate.error_code = "with \"quotes\" \\ and \n";
  surrogate.amount = AmountMinor(INT64_MIN);
  surrogate.version = -3;
  events.push_back(surrogate);
  for (const CanonicalEvent& event : events) {
    std::string line;
    AppendRawLine(SampleEnvelope(received), event, BusinessDate::FromCivil(2026, 11, 27), 2,
                  "{\"x\":\"\\\\\"}", &line);
    line.pop_back();
    RawLineParser parser;
    RawLineView view;
    ASSERT_TRUE(parser.Parse(line, &view).ok());
    LedgerFields fields;
    std::string scratch;
    const Status status = ScanLedgerFields(line, &fields, &scratch);
    ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << line;
    EXPECT_EQ(fields.partner_id, view.partner_id);
    EXPECT_EQ(fields.txn_id, event.txn_id.view());
    EXPECT_EQ(fields.amount_minor, view.amount_minor);
    EXPECT_EQ(fields.currency, view.currency);
    EXPECT_EQ(fields.status, view.status);
    EXPECT_EQ(fields.event_time_us, view.event_time_us);
    EXPECT_EQ(fields.event_date, view.event_date);
    EXPECT_EQ(fields.version, view.version);
    EXPECT_EQ(fields.received_at_us, view.received_at_us);
    LedgerFields key;
    ASSERT_TRUE(ScanLedgerKey(line, &key, &scratch).ok());
    EXPECT_EQ(key.txn_id, event.txn_id.view());
  }
}

TEST(LakeLine, TheLedgerScannerRefusesWhatTheWriterNeverWrites) {
  std::string line;
  AppendRawLine(SampleEnvelope(FormatRfc3339Micros(TimestampUs(0))), SampleEvent(), BusinessDate(0),
                0, "{}", &line);
  line.pop_back();
  LedgerFields fields;
  std::string scratch;
  ASSERT_TRUE(ScanLedgerFields(line, &fields, &scratch).ok());
  const auto scan = [&](std::string text) { return ScanLedgerFields(text, &fields, &scratch); };
  const auto replaced = [&line](std::string_view from, std::string_view to) {
    std::string copy = line;
    copy.replace(copy.find(from), from.size(), to);
    return copy;
  };
  EXPECT_EQ(scan("").code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(line.substr(0, line.size() / 2)).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(line.substr(0, line.size() - 1)).code(), StatusCode::kDataLoss);  // no '}'
  EXPECT_EQ(scan(line + " ").code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("\"amount_minor\":", "\"amount_minor\": ")).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("9007199254740993", "9007199254740993.5")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("9007199254740993", "99999999999999999999")).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("9007199254740993", "09007199254740993")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("\"version\":42", "\"version\":\"42\"")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("\"version\":42", "\"version\":nul")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("\"currency\"", "\"Currency\"")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("\\\"quoted", "\\xquoted")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(scan(replaced("\"raw\":\"{}\"}", "\"raw\":\"{}\\\"}")).code(), StatusCode::kDataLoss)
      << "a raw string whose closing quote is escaped";
  const Status named = scan(replaced("\"status\":\"refunded\"", "\"status\":7"));
  EXPECT_NE(named.message().find("status"), std::string::npos) << named.ToString();
}

}  // namespace
}  // namespace firehose::lake
