#include "core/mapping.h"

#include <gtest/gtest.h>

namespace firehose {
namespace {

Mapping StripeLike() {
  Mapping mapping;
  mapping.name = "stripe_like";
  mapping.txn_id_pointer = "/data/object/id";
  mapping.amount_pointer = "/data/object/amount";
  mapping.amount_format = AmountFormat::kMinorUnits;
  mapping.currency_pointer = "/data/object/currency";
  mapping.status_pointer = "/data/object/status";
  mapping.status_table = {{"succeeded", TxnStatus::kSucceeded}, {"failed", TxnStatus::kFailed}};
  mapping.event_time_pointer = "/created";
  mapping.event_time_format = TimeFormat::kUnixSeconds;
  mapping.error_code_pointer = "/data/object/failure_code";
  return mapping;
}

Mapping DecimalBatch() {
  Mapping mapping;
  mapping.name = "decimal_batch";
  mapping.batch_pointer = "/events";
  mapping.txn_id_pointer = "/ref";
  mapping.amount_pointer = "/amount/value";
  mapping.amount_format = AmountFormat::kDecimal;
  mapping.currency_pointer = "/amount/currency";
  mapping.status_pointer = "/state";
  mapping.status_table = {{"OK", TxnStatus::kSucceeded}, {"KO", TxnStatus::kFailed}, {"true", TxnStatus::kSucceeded}};
  mapping.event_time_pointer = "/at";
  mapping.version_pointer = "/updated_at";
  mapping.version_format = VersionFormat::kRfc3339;
  return mapping;
}

class MapperTest : public ::testing::Test {
 protected:
  MappedArrival Map(const Mapping& mapping, std::string_view body) {
    return mapper_.Map(partner_, mapping, body);
  }
  std::string Reason(const Mapping& mapping, std::string_view body) {
    const MappedArrival arrival = Map(mapping, body);
    EXPECT_TRUE(arrival.events.empty()) << body;
    return arrival.unmapped.empty() ? "(mapped)" : arrival.unmapped.front().reason;
  }

  Limits limits_;
  Mapper mapper_{limits_};
  PartnerId partner_ = *PartnerId::Parse("acme");
};

constexpr std::string_view kStripeBody =
    R"({"id":"evt_1","created":1764201600,"data":{"object":{"id":"ch_1","amount":1234,)"
    R"("currency":"usd","status":"failed","failure_code":"card_declined"}}})";

TEST_F(MapperTest, MapsASingleEventThroughNestedPointers) {
  const Mapping mapping = StripeLike();
  const MappedArrival arrival = Map(mapping, kStripeBody);
  ASSERT_EQ(arrival.events.size(), 1u);
  ASSERT_TRUE(arrival.unmapped.empty()) << arrival.unmapped.front().detail;
  const CanonicalEvent& event = arrival.events[0].event;
  EXPECT_EQ(event.partner_id.str(), "acme");
  EXPECT_EQ(event.txn_id.str(), "ch_1");
  EXPECT_EQ(event.amount.value(), 1234);
  EXPECT_EQ(event.currency.code(), "USD");
  EXPECT_EQ(event.status, TxnStatus::kFailed);
  EXPECT_EQ(event.event_time.value(), 1764201600LL * 1'000'000);
  EXPECT_EQ(event.error_code, "card_declined");
  EXPECT_FALSE(event.version.has_value());
  EXPECT_EQ(arrival.events[0].raw, kStripeBody);
}

TEST_F(MapperTest, DecimalAmountsAreReadFromTheLiteralNotADouble) {
  Mapping mapping = StripeLike();
  mapping.amount_format = AmountFormat::kDecimal;
  const std::string body =
      R"({"created":1764201600,"data":{"object":{"id":"x","amount":90071992547409.93,"currency":"USD","status":"succeeded"}}})";
  const MappedArrival arrival = Map(mapping, body);
  ASSERT_EQ(arrival.events.size(), 1u);
  EXPECT_EQ(arrival.events[0].event.amount.value(), 9007199254740993);

  const std::string kwd = R"({"created":1764201600,"data":{"object":{"id":"x","amount":"1.234","currency":"KWD","status":"succeeded"}}})";
  EXPECT_EQ(Map(mapping, kwd).events.at(0).event.amount.value(), 1234);
  const std::string jpy = R"({"created":1764201600,"data":{"object":{"id":"x","amount":"1.5","currency":"JPY","status":"succeeded"}}})";
  EXPECT_EQ(Reason(mapping, jpy), "amount_too_many_fraction_digits");
  const std::string exponent = R"({"created":1764201600,"data":{"object":{"id":"x","amount":1e3,"currency":"USD","status":"succeeded"}}})";
  EXPECT_EQ(Reason(mapping, exponent), "amount_exponent_notation");
}

TEST_F(MapperTest, BatchElementsMapOneByOneWithVerbatimRawBytes) {
  const Mapping mapping = DecimalBatch();
  const std::string first = R"({"ref":"a","amount":{"value":"1.50","currency":"EUR"},"state":"OK","at":"2025-11-27T10:00:00Z","updated_at":"2025-11-27T10:00:01Z"})";
  const std::string bad = R"({"ref":"b","amount":{"value":"2","currency":"EUR"},"state":"WHAT","at":"2025-11-27T10:00:00Z","updated_at":"2025-11-27T10:00:01Z"})";
  const std::string third = R"({ "ref" : "c", "amount":{"value":"3","currency":"EUR"},"state":true,"at":"2025-11-27T10:00:00Z","updated_at":"2025-11-27T10:00:02Z" })";
  const std::string body = R"({"batch_id":7,"events":[)" + first + ",\n  " + bad + "," + third + "]}";
  const MappedArrival arrival = Map(mapping, body);
  ASSERT_EQ(arrival.events.size(), 2u);
  ASSERT_EQ(arrival.unmapped.size(), 1u);
  EXPECT_EQ(arrival.events[0].raw, first);
  EXPECT_EQ(arrival.events[0].event_index, 0u);
  EXPECT_EQ(arrival.events[0].event.amount.value(), 150);
  EXPECT_EQ(arrival.events[1].raw, third);
  EXPECT_EQ(arrival.events[1].event_index, 2u);
  EXPECT_EQ(arrival.events[1].event.status, TxnStatus::kSucceeded);
  EXPECT_EQ(*arrival.events[1].event.version - *arrival.events[0].event.version, 1'000'000);
  EXPECT_EQ(arrival.unmapped[0].event_index, 1);
  EXPECT_EQ(arrival.unmapped[0].reason, "unknown_status");
  EXPECT_EQ(arrival.unmapped[0].raw, bad);
  EXPECT_FALSE(arrival.whole_arrival_unmapped());
}

TEST_F(MapperTest, BatchLimitsAndShape) {
  Limits limits;
  limits.batch_events_max = 2;
  Mapper small(limits);
  const Mapping mapping = DecimalBatch();
  const MappedArrival big = small.Map(partner_, mapping, R"({"events":[{},{},{}]})");
  EXPECT_TRUE(big.batch_too_large);
  EXPECT_EQ(big.unmapped.at(0).reason, "batch_too_large");
  EXPECT_EQ(Reason(mapping, R"({"events":[]})"), "batch_empty");
  EXPECT_EQ(Reason(mapping, R"({"events":{}})"), "batch_not_array");
  EXPECT_EQ(Reason(mapping, R"({"other":[]})"), "missing_field");
  const MappedArrival scalars = Map(mapping, R"({"events":[1,"x"]})");
  EXPECT_EQ(scalars.unmapped.size(), 2u);
  EXPECT_EQ(scalars.unmapped[0].reason, "not_an_object");
}

TEST_F(MapperTest, EveryMalformedBodyHasItsOwnReason) {
  const Mapping mapping = StripeLike();
  EXPECT_EQ(Reason(mapping, ""), "empty_body");
  EXPECT_EQ(Reason(mapping, "{"), "invalid_json");
  EXPECT_EQ(Reason(mapping, "not json"), "invalid_json");
  EXPECT_EQ(Reason(mapping, std::string(kStripeBody) + " trailing"), "invalid_json");
  EXPECT_EQ(Reason(mapping, "[1,2]"), "not_an_object");
  EXPECT_EQ(Reason(mapping, "\"just a string\""), "not_an_object");
  EXPECT_EQ(Reason(mapping, "{\"a\":\"\xff\"}"), "invalid_utf8");
  EXPECT_EQ(Reason(mapping, R"({"a":1,"a":2})"), "duplicate_key");
  EXPECT_EQ(Reason(mapping, R"({"a":01})"), "invalid_json");
  EXPECT_EQ(Reason(mapping, R"({"a":"\x"})"), "invalid_json");
  EXPECT_EQ(Reason(mapping, std::string(std::string_view("{\"a\":\"\0\"}", 9))), "invalid_json");
  EXPECT_EQ(Reason(mapping, "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}"), "too_deep");
  EXPECT_EQ(Reason(mapping, "{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}"), "too_deep");
  std::string deep_object;
  for (int i = 0; i < 70; ++i) deep_object += "{\"k\":";
  deep_object += "1" + std::string(70, '}');
  EXPECT_EQ(Reason(mapping, deep_object), "too_deep");
}

// Duplicate keys are looked for within one object: the same key in a parent and its child, or
// in two sibling objects, is no duplicate. The mapper keeps its walk's storage between events,
// so an event that fails mid-walk must leave nothing behind for the next one.
TEST_F(MapperTest, DuplicateKeysAreCheckedPerObject) {
  const Mapping mapping = StripeLike();
  const std::string nested_same_keys =
      R"({"created":1764201600,"id":"outer","data":{"id":"inner","object":{"id":"pi_1","amount":1,)"
      R"("currency":"usd","status":"failed","meta":{"id":"m","amount":2}},"meta":{"id":"n"}}})";
  EXPECT_EQ(Map(mapping, nested_same_keys).events.size(), 1u);
  EXPECT_EQ(Reason(mapping, R"({"created":1,"data":{"object":{"id":"a","x":{"k":1,"k":2}}}})"), "duplicate_key");
  EXPECT_EQ(Reason(mapping, R"({"created":1,"data":{"object":{"id":"a","id":"b"}}})"), "duplicate_key");
  EXPECT_EQ(Reason(mapping, R"({"created":1,"data":{"object":{"id":"a","amount":[1,{"z":1,"z":1}]}}})"), "duplicate_key");
  // After those failures, the same mapper maps the well-formed event, its keys checked afresh.
  const MappedArrival again = Map(mapping, nested_same_keys);
  ASSERT_EQ(again.events.size(), 1u);
  EXPECT_EQ(again.events[0].event.txn_id.str(), "pi_1");
}

// Objects with many keys are checked through a hash set past the first few keys: a duplicate is
// found wherever it is, and so is its absence.
TEST_F(MapperTest, DuplicateKeysAreFoundInObjectsWithManyKeys) {
  const Mapping mapping = StripeLike();
  auto event_with_meta = [](int keys, int duplicate_of) {
    std::string meta = "{";
    for (int i = 0; i < keys; ++i) meta += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    if (duplicate_of >= 0) meta += "\"k" + std::to_string(duplicate_of) + "\":0,";
    meta += "\"end\":1}";
    return R"({"created":1764201600,"data":{"object":{"id":"pi_1","amount":1,"currency":"usd",)"
           R"("status":"failed","meta":)" + meta + "}}}";
  };
  for (int keys : {15, 16, 17, 5000}) {
    EXPECT_EQ(Map(mapping, event_with_meta(keys, -1)).events.size(), 1u) << keys;
    EXPECT_EQ(Reason(mapping, event_with_meta(keys, 0)), "duplicate_key") << keys;
    EXPECT_EQ(Reason(mapping, event_with_meta(keys, keys - 1)), "duplicate_key") << keys;
  }
  // After a hashed object failed mid-walk, the next event's small objects are checked afresh.
  EXPECT_EQ(Map(mapping, event_with_meta(3, -1)).events.size(), 1u);
  EXPECT_EQ(Reason(mapping, event_with_meta(3, 1)), "duplicate_key");
}

TEST_F(MapperTest, FieldLevelErrors) {
  const Mapping mapping = StripeLike();
  const auto body = [](std::string_view object) {
    return std::string(R"({"created":1764201600,"data":{"object":)") + std::string(object) + "}}";
  };
  EXPECT_EQ(Reason(mapping, body(R"({"amount":1,"currency":"usd","status":"failed"})")), "missing_field");
  EXPECT_EQ(Reason(mapping, body(R"({"id":null,"amount":1,"currency":"usd","status":"failed"})")), "missing_field");
  EXPECT_EQ(Reason(mapping, body(R"({"id":"x","amount":1,"currency":"zzz","status":"failed"})")), "unknown_currency");
  EXPECT_EQ(Reason(mapping, body(R"({"id":"x","amount":1,"currency":"usd","status":"lost"})")), "unknown_status");
  EXPECT_EQ(Reason(mapping, body(R"({"id":"x","amount":"1.5","currency":"usd","status":"failed"})")), "amount_too_many_fraction_digits");
  EXPECT_EQ(Reason(mapping, body(R"({"id":"x","amount":99999999999999999999,"currency":"usd","status":"failed"})")), "amount_overflow");
  EXPECT_EQ(Reason(mapping, body(R"({"id":{},"amount":1,"currency":"usd","status":"failed"})")), "wrong_type");
  EXPECT_EQ(Reason(mapping, body(R"({"id":1.5,"amount":1,"currency":"usd","status":"failed"})")), "wrong_type");
  EXPECT_EQ(Reason(mapping, body("{\"id\":\"" + std::string(129, 'x') + R"(","amount":1,"currency":"usd","status":"failed"})")), "txn_id_too_long");
  EXPECT_EQ(Reason(mapping, body(R"({"id":"a\nb","amount":1,"currency":"usd","status":"failed"})")), "txn_id_invalid");
  EXPECT_EQ(Reason(mapping, R"({"created":"yesterday","data":{"object":{"id":"x","amount":1,"currency":"usd","status":"failed"}}})"), "time_invalid");
  // Integer transaction ids are taken as their decimal text.
  const MappedArrival numeric = Map(mapping, body(R"({"id":12345,"amount":1,"currency":"usd","status":"failed"})"));
  ASSERT_EQ(numeric.events.size(), 1u);
  EXPECT_EQ(numeric.events[0].event.txn_id.str(), "12345");
}

TEST_F(MapperTest, PointersUnescapeTildeAndSlash) {
  Mapping mapping = StripeLike();
  mapping.txn_id_pointer = "/a~1b/m~0n";
  const std::string body = R"({"a/b":{"m~n":"weird"},"created":1764201600,"data":{"object":{"amount":1,"currency":"usd","status":"failed"}}})";
  const MappedArrival arrival = Map(mapping, body);
  ASSERT_EQ(arrival.events.size(), 1u);
  EXPECT_EQ(arrival.events[0].event.txn_id.str(), "weird");
}

TEST_F(MapperTest, AMapperIsReusableAcrossBodies) {
  const Mapping stripe = StripeLike();
  const Mapping batch = DecimalBatch();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Map(stripe, kStripeBody).events.size(), 1u);
    EXPECT_EQ(Reason(stripe, "{"), "invalid_json");
    EXPECT_EQ(Map(batch, R"({"events":[{"ref":"a","amount":{"value":"1","currency":"EUR"},"state":"OK","at":"2025-11-27T10:00:00Z","updated_at":"2025-11-27T10:00:01Z"}]})").events.size(), 1u);
  }
}

}  // namespace
}  // namespace firehose
