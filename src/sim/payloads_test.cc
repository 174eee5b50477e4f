#include "sim/payloads.h"

#include <gtest/gtest.h>

#include "core/mapping.h"

namespace firehose::sim {
namespace {

constexpr std::int64_t kSecondUs = 1'000'000;
// 2025-11-27T10:11:12Z
constexpr std::int64_t kMorningUs = 1764238272LL * kSecondUs;

SimEvent Event(Shape shape, std::string_view currency, std::int64_t amount, TxnStatus status) {
  SimEvent event;
  event.txn_id = shape == Shape::kAdyen ? "8815329842815468" : "txn_0001";
  event.amount = AmountMinor(amount);
  event.currency = *Currency::FromCode(currency);
  event.status = status;
  event.event_time =
      TimestampUs(kMorningUs + (InfoOf(shape).time_precision_us < kSecondUs ? 345'000 : 0));
  if (shape == Shape::kAdyen) event.version = 3;
  if (shape == Shape::kPaypal) event.version = kMorningUs + 90 * kSecondUs;
  if (status == TxnStatus::kFailed && shape != Shape::kPaypal) event.error_code = "card_declined";
  event.delivery_id = "evt_1";
  return event;
}

class PayloadsTest : public ::testing::Test {
 protected:
  MappedArrival Map(Shape shape, std::string_view body) {
    return mapper_.Map(partner_, *MappingFor(shape), body);
  }

  void ExpectMapsTo(Shape shape, const SimEvent& intended) {
    const std::string body = WrapBody(shape, {RenderEvent(shape, intended)});
    const MappedArrival arrival = Map(shape, body);
    ASSERT_EQ(arrival.events.size(), 1u)
        << body << "\n"
        << (arrival.unmapped.empty() ? "" : arrival.unmapped[0].detail);
    const CanonicalEvent& event = arrival.events[0].event;
    EXPECT_EQ(event.txn_id.str(), intended.txn_id) << body;
    EXPECT_EQ(event.amount, intended.amount) << body;
    EXPECT_EQ(event.currency, intended.currency) << body;
    EXPECT_EQ(event.status, intended.status) << body;
    EXPECT_EQ(event.event_time, intended.event_time) << body;
    EXPECT_EQ(event.version, intended.version) << body;
    EXPECT_EQ(event.error_code, intended.error_code) << body;
  }

  Limits limits_;
  Mapper mapper_{limits_};
  PartnerId partner_ = *PartnerId::Parse("p000-test");
};

TEST_F(PayloadsTest, EveryShapeMapsToTheIntendedEventInEveryExponent) {
  for (int s = 0; s < kShapeCount; ++s) {
    const auto shape = static_cast<Shape>(s);
    for (TxnStatus status : StatusesOf(shape)) {
      ExpectMapsTo(shape, Event(shape, "USD", 1234, status));
      ExpectMapsTo(shape, Event(shape, "JPY", 1500, status));
      ExpectMapsTo(shape, Event(shape, "KWD", 1005, status));
      ExpectMapsTo(shape, Event(shape, "EUR", 7, status));
    }
  }
}

TEST_F(PayloadsTest, AmountsAbove2To53MinorUnitsSurviveInEveryShape) {
  // 2^53 + 1: the first integer a double cannot hold.
  constexpr std::int64_t kBig = (std::int64_t{1} << 53) + 1;
  for (int s = 0; s < kShapeCount; ++s) {
    const auto shape = static_cast<Shape>(s);
    ExpectMapsTo(shape, Event(shape, "USD", kBig, TxnStatus::kSucceeded));
    ExpectMapsTo(shape, Event(shape, "KWD", kBig, TxnStatus::kSucceeded));
  }
  const std::string paypal =
      RenderEvent(Shape::kPaypal, Event(Shape::kPaypal, "USD", kBig, TxnStatus::kSucceeded));
  EXPECT_NE(paypal.find(R"("total":90071992547409.93)"), std::string::npos) << paypal;
}

TEST_F(PayloadsTest, ShapesLookLikeTheirFamilies) {
  const std::string stripe =
      RenderEvent(Shape::kStripe, Event(Shape::kStripe, "USD", 1234, TxnStatus::kFailed));
  EXPECT_EQ(
      stripe,
      R"({"id":"evt_1","object":"event","type":"charge.failed","created":1764238272,"livemode":false,)"
      R"("data":{"object":{"id":"txn_0001","object":"charge","amount":1234,"currency":"usd",)"
      R"("status":"failed","failure_code":"card_declined"}}})");
  const std::string batch = WrapBody(
      Shape::kBatch,
      {RenderEvent(Shape::kBatch, Event(Shape::kBatch, "EUR", 1234, TxnStatus::kSucceeded))});
  EXPECT_EQ(
      batch,
      R"({"type":"payments","data":[{"txn":"txn_0001","amount":"12.34","ccy":"EUR","state":"SETTLED",)"
      R"("ts":"2025-11-27T10:11:12.345Z"}]})");
  const std::string batch_ms = RenderEvent(
      Shape::kBatchUnixMs, Event(Shape::kBatchUnixMs, "EUR", 1234, TxnStatus::kSucceeded));
  EXPECT_NE(batch_ms.find(R"("ts":1764238272345)"), std::string::npos) << batch_ms;
  const std::string adyen =
      RenderEvent(Shape::kAdyen, Event(Shape::kAdyen, "JPY", 1500, TxnStatus::kSucceeded));
  EXPECT_EQ(
      adyen,
      R"({"eventCode":"AUTHORISATION","pspReference":8815329842815468,"merchantReference":"order-evt_1",)"
      R"("amount":{"value":1500,"currency":"JPY"},"success":"true","eventDate":"2025-11-27T11:11:12+01:00",)"
      R"("version":3})");
  const std::string paypal =
      RenderEvent(Shape::kPaypal, Event(Shape::kPaypal, "KWD", 1005, TxnStatus::kRefunded));
  EXPECT_EQ(
      paypal,
      R"({"id":"evt_1","event_type":"PAYMENT.SALE.REFUNDED","resource":{"id":"txn_0001","state":"refunded",)"
      R"("amount":{"total":1.005,"currency_code":"KWD"}},"create_time":"2025-11-27T10:11:12Z",)"
      R"("update_time":"2025-11-27T10:12:42Z"})");
}

TEST_F(PayloadsTest, EveryMalformationGetsItsQuarantineReasonInEveryShape) {
  for (int s = 0; s < kShapeCount; ++s) {
    const auto shape = static_cast<Shape>(s);
    const SimEvent carrier = Event(shape, "USD", 1234, TxnStatus::kSucceeded);
    for (Malformation malformation : MalformationsFor(shape)) {
      std::string body;
      if (BreaksWholeBody(malformation)) {
        body = BreakBody(WrapBody(shape, {RenderEvent(shape, carrier)}), malformation);
      } else {
        body = WrapBody(shape, {RenderMalformedEvent(shape, carrier, malformation)});
      }
      const MappedArrival arrival = Map(shape, body);
      ASSERT_EQ(arrival.unmapped.size(), 1u) << body;
      EXPECT_TRUE(arrival.events.empty()) << body;
      EXPECT_EQ(arrival.unmapped[0].reason, ReasonOf(malformation)) << body << "\n"
                                                                    << arrival.unmapped[0].detail;
    }
  }
}

TEST_F(PayloadsTest, ABrokenBatchElementIsQuarantinedAloneAndTheRestMaps) {
  const SimEvent good = Event(Shape::kBatch, "EUR", 1234, TxnStatus::kSucceeded);
  SimEvent other = good;
  other.txn_id = "txn_0002";
  const std::string body = WrapBody(
      Shape::kBatch, {RenderEvent(Shape::kBatch, good), RenderEvent(Shape::kBatch, other),
                      RenderMalformedEvent(Shape::kBatch, good, Malformation::kUnknownCurrency)});
  const MappedArrival arrival = Map(Shape::kBatch, body);
  ASSERT_EQ(arrival.events.size(), 2u);
  EXPECT_EQ(arrival.events[1].event.txn_id.str(), "txn_0002");
  ASSERT_EQ(arrival.unmapped.size(), 1u);
  EXPECT_EQ(arrival.unmapped[0].event_index, 2);
  EXPECT_EQ(arrival.unmapped[0].reason, "unknown_currency");
}

TEST(FormatRfc3339Test, FractionDigitsAndOffsets) {
  const TimestampUs time(kMorningUs + 123'456);
  EXPECT_EQ(FormatRfc3339(time, 0), "2025-11-27T10:11:12Z");
  EXPECT_EQ(FormatRfc3339(time, 3), "2025-11-27T10:11:12.123Z");
  EXPECT_EQ(FormatRfc3339(time, 6), "2025-11-27T10:11:12.123456Z");
  EXPECT_EQ(FormatRfc3339(time, 0, 60), "2025-11-27T11:11:12+01:00");
  EXPECT_EQ(FormatRfc3339(time, 0, -330), "2025-11-27T04:41:12-05:30");
  EXPECT_EQ(FormatRfc3339(TimestampUs(1764201599LL * kSecondUs), 0, 60),
            "2025-11-27T00:59:59+01:00");
  for (int offset : {0, 60, -330}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339(time, 6, offset)), time);
  }
}

}  // namespace
}  // namespace firehose::sim
