// What the simulated poll partners offer: each polled partner's planned sends laid out as one
// feed of items, in plan order (so that "first received" is the plan's order, as for webhooks),
// and the fault schedule their poll APIs follow.
//
// A polled partner has no signature, so its bad-signature sends are not offered; a body broken
// as a whole (cut-in-half JSON) cannot be one item of a page, so those are not offered either.
// Every other send becomes its items: its events, then its malformed element if any (the lake
// quarantines it, as it would from a webhook).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/fleet.h"
#include "sim/generator.h"
#include "sim/poll_server.h"

namespace firehose::sim {

struct PollOffer {
  std::vector<PollFeed> feeds;  // one per polled partner, in fleet order
  // Per plan send: its feed (-1: not offered) and the feed position just past its last item.
  std::vector<std::int32_t> feed_of_send;
  std::vector<std::size_t> end_of_send;

  // A send counts as delivered (acknowledged, for the truth) once a page has reached past its
  // last item. `served_end[f]` is feeds[f]'s PollFeedStats::served_end.
  std::vector<bool> Delivered(const std::vector<std::size_t>& served_end) const;
};

PollOffer OfferPolls(const Fleet& fleet, const Plan& plan);

// What the poller has fetched of an offer, read from the poll server.
struct PollDelivery {
  bool all_served = false;      // every feed was read to its end
  std::vector<bool> delivered;  // per plan send (PollOffer::Delivered)
  std::vector<PollFeedStats> stats;  // per feed, in offer order
};

// Waits until some page reached the end of every feed (or `wait` passed), then reads what was
// served. The server keeps answering: a poller re-reading its last page is still served.
PollDelivery AwaitPolls(const PollServer& server, const PollOffer& offer,
                        std::chrono::milliseconds wait);

// "none", or "default": per polled partner, in turn, a 429 period, a 503 outage, slow answers
// (a 3 s hang) and a malformed-then-silent stretch, all within the first few seconds.
Result<std::vector<std::vector<PollFaultWindow>>> ParsePollFaults(std::string_view name,
                                                                  std::size_t feeds);

}  // namespace firehose::sim
