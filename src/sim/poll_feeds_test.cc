#include "sim/poll_feeds.h"

#include <gtest/gtest.h>

#include "core/mapping.h"

namespace firehose::sim {
namespace {

class PollFeedsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fleet = MakeFleet({9, 3, /*poll_partners=*/true});
    ASSERT_TRUE(fleet.ok());
    fleet_ = std::move(*fleet);
    GeneratorOptions options;
    options.seed = 5;
    options.transactions = 1500;
    options.day = *BusinessDate::Parse("2026-11-27");
    auto faults = ParseFaults(
        "duplicate=0.1,late=0.05,conflict=0.1,update=0.1,malformed=0.1,bad_signature=0.05");
    ASSERT_TRUE(faults.ok());
    options.faults = *faults;
    auto plan = GeneratePlan(fleet_, options);
    ASSERT_TRUE(plan.ok());
    plan_ = std::move(*plan);
  }
  Fleet fleet_;
  Plan plan_;
};

TEST_F(PollFeedsTest, EveryThirdSlotIsAPolledPartnerWithItsOwnShapePaginationAndAuth) {
  std::vector<const SimPartner*> polled;
  for (const SimPartner& partner : fleet_.partners) {
    if (partner.polled) polled.push_back(&partner);
  }
  ASSERT_EQ(polled.size(), 3U);
  EXPECT_EQ(polled[0]->id.str(), "p002-poll-batch");
  EXPECT_EQ(polled[1]->id.str(), "p005-poll-stripe");
  EXPECT_EQ(polled[0]->pagination, PollPagination::kCursor);
  EXPECT_EQ(polled[1]->pagination, PollPagination::kSince);
  EXPECT_NE(polled[0]->auth, polled[1]->auth);
  EXPECT_EQ(fleet_.reserved_poll_slots, 0);
  // Webhook partners keep the ids they have in a fleet without polled partners.
  auto webhook_only = MakeFleet({9, 3, false});
  ASSERT_TRUE(webhook_only.ok());
  EXPECT_EQ(webhook_only->partners[2].id, fleet_.partners[3].id);
  EXPECT_EQ(webhook_only->partners[2].secret.Reveal(), fleet_.partners[3].secret.Reveal());
}

// Each offered send's items, mapped with the partner's real mapping, give exactly the send's
// events (and one quarantined element when it carries a malformation); sends a polled API
// cannot express are not offered.
TEST_F(PollFeedsTest, FeedsHoldEveryExpressibleSendInPlanOrderAndMapToItsEvents) {
  const PollOffer offer = OfferPolls(fleet_, plan_);
  ASSERT_EQ(offer.feeds.size(), 3U);
  Mapper mapper(Limits{});
  std::vector<std::size_t> position(offer.feeds.size(), 0);
  std::size_t offered = 0;
  std::size_t not_offered_polled = 0;
  for (std::size_t i = 0; i < plan_.sends.size(); ++i) {
    const PlannedSend& send = plan_.sends[i];
    const SimPartner& partner = fleet_.partners[send.partner];
    const std::int32_t feed = offer.feed_of_send[i];
    if (!partner.polled) {
      EXPECT_EQ(feed, -1);
      continue;
    }
    const PlannedSend* source = &send;
    while (source->copy_of >= 0) source = &plan_.sends[static_cast<std::size_t>(source->copy_of)];
    const bool expressible = send.bad_signature == BadSignature::kNone &&
                             !(source->malformation && BreaksWholeBody(*source->malformation));
    if (!expressible) {
      EXPECT_EQ(feed, -1) << "send " << i;
      ++not_offered_polled;
      continue;
    }
    ASSERT_GE(feed, 0) << "send " << i;
    ++offered;
    const PollFeed& items = offer.feeds[static_cast<std::size_t>(feed)];
    std::vector<std::string> txn_ids;
    std::size_t quarantined = 0;
    for (std::size_t& at = position[static_cast<std::size_t>(feed)]; at < offer.end_of_send[i];
         ++at) {
      const MappedArrival mapped = mapper.Map(partner.id, *partner.mapping,
                                              partner.mapping->batch_pointer.empty()
                                                  ? items.items[at]
                                                  : "{\"data\":[" + items.items[at] + "]}");
      for (const MappedEvent& event : mapped.events) txn_ids.push_back(event.event.txn_id.str());
      quarantined += mapped.unmapped.size();
    }
    std::vector<std::string> expected;
    for (std::uint32_t event : source->events) expected.push_back(plan_.events[event].txn_id);
    EXPECT_EQ(txn_ids, expected) << "send " << i;
    EXPECT_EQ(quarantined, source->malformation ? 1U : 0U) << "send " << i;
  }
  EXPECT_GT(offered, 100U);
  EXPECT_GT(not_offered_polled, 0U);
  for (std::size_t f = 0; f < offer.feeds.size(); ++f)
    EXPECT_EQ(position[f], offer.feeds[f].items.size());

  // Delivered: every offered send once the feeds are served to their ends, none before.
  std::vector<std::size_t> ends;
  for (const PollFeed& feed : offer.feeds) ends.push_back(feed.items.size());
  const std::vector<bool> all = offer.Delivered(ends);
  const std::vector<bool> none = offer.Delivered(std::vector<std::size_t>(ends.size(), 0));
  for (std::size_t i = 0; i < plan_.sends.size(); ++i) {
    EXPECT_EQ(all[i], offer.feed_of_send[i] >= 0);
    EXPECT_FALSE(none[i]);
  }
}

TEST(WithSequence, PutsTheSequenceFirst) {
  EXPECT_EQ(WithSequence(R"({"id":1})", 7), R"({"seq":7,"id":1})");
  EXPECT_EQ(WithSequence("{ }", 1), R"({"seq":1 })");
}

}  // namespace
}  // namespace firehose::sim
