#include "sim/poll_feeds.h"

#include <thread>

namespace firehose::sim {

std::vector<bool> PollOffer::Delivered(const std::vector<std::size_t>& served_end) const {
  std::vector<bool> delivered(feed_of_send.size(), false);
  for (std::size_t i = 0; i < feed_of_send.size(); ++i) {
    if (feed_of_send[i] < 0) continue;
    delivered[i] = served_end.at(static_cast<std::size_t>(feed_of_send[i])) >= end_of_send[i];
  }
  return delivered;
}

PollOffer OfferPolls(const Fleet& fleet, const Plan& plan) {
  PollOffer offer;
  std::vector<std::int32_t> feed_of_partner(fleet.partners.size(), -1);
  for (std::size_t p = 0; p < fleet.partners.size(); ++p) {
    const SimPartner& partner = fleet.partners[p];
    if (!partner.polled) continue;
    feed_of_partner[p] = static_cast<std::int32_t>(offer.feeds.size());
    PollFeed feed;
    feed.partner = partner.id;
    feed.pagination = partner.pagination;
    feed.auth = partner.auth;
    feed.auth_header = std::string(kPollAuthHeader);
    feed.basic_user = std::string(kPollBasicUser);
    feed.secret = std::string(partner.secret.Reveal());
    offer.feeds.push_back(std::move(feed));
  }
  offer.feed_of_send.assign(plan.sends.size(), -1);
  offer.end_of_send.assign(plan.sends.size(), 0);
  for (std::size_t i = 0; i < plan.sends.size(); ++i) {
    const PlannedSend* send = &plan.sends[i];
    const std::int32_t feed_index = feed_of_partner.at(send->partner);
    if (feed_index < 0 || send->bad_signature != BadSignature::kNone) continue;
    while (send->copy_of >= 0) send = &plan.sends.at(static_cast<std::size_t>(send->copy_of));
    if (send->malformation && BreaksWholeBody(*send->malformation)) continue;
    const Shape shape = fleet.partners.at(send->partner).shape;
    PollFeed& feed = offer.feeds[static_cast<std::size_t>(feed_index)];
    for (std::uint32_t event : send->events)
      feed.items.push_back(RenderEvent(shape, plan.events.at(event)));
    if (send->carrier >= 0 && send->malformation) {
      feed.items.push_back(RenderMalformedEvent(
          shape, plan.carriers.at(static_cast<std::size_t>(send->carrier)), *send->malformation));
    }
    offer.feed_of_send[i] = feed_index;
    offer.end_of_send[i] = feed.items.size();
  }
  return offer;
}

PollDelivery AwaitPolls(const PollServer& server, const PollOffer& offer,
                        std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!server.AllServed() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  PollDelivery delivery;
  delivery.all_served = server.AllServed();
  std::vector<std::size_t> served_end;
  for (const PollFeed& feed : offer.feeds) {
    delivery.stats.push_back(server.Stats(feed.partner));
    served_end.push_back(delivery.stats.back().served_end);
  }
  delivery.delivered = offer.Delivered(served_end);
  return delivery;
}

Result<std::vector<std::vector<PollFaultWindow>>> ParsePollFaults(std::string_view name,
                                                                  std::size_t feeds) {
  using std::chrono::milliseconds;
  std::vector<std::vector<PollFaultWindow>> schedule(feeds);
  if (name == "none") return schedule;
  if (name != "default")
    return InvalidArgument("poll faults are 'none' or 'default', not '" + std::string(name) + "'");
  for (std::size_t f = 0; f < feeds; ++f) {
    switch (f % 4) {
      case 0:
        schedule[f] = {{PollFaultKind::kThrottle, milliseconds(1000), milliseconds(4000), 1}};
        break;
      case 1:
        schedule[f] = {{PollFaultKind::kOutage, milliseconds(1500), milliseconds(5000), 2}};
        break;
      case 2:
        schedule[f] = {
            {PollFaultKind::kSlow, milliseconds(500), milliseconds(2500), 0, milliseconds(3000)}};
        break;
      default:
        schedule[f] = {{PollFaultKind::kMalformed, milliseconds(1000), milliseconds(2000)},
                       {PollFaultKind::kSilent, milliseconds(3000), milliseconds(4000)}};
        break;
    }
  }
  return schedule;
}

}  // namespace firehose::sim
