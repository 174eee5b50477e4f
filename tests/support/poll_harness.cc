#include "support/poll_harness.h"

#include <gtest/gtest.h>

#include <set>

#include "core/mapping.h"

namespace firehose::testing {

std::vector<std::string> MakeItems(const std::string& partner, std::size_t count) {
  std::vector<std::string> items;
  items.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    items.push_back(R"({"id":")" + partner + "-" + std::to_string(i) + R"(","amount":")" +
                    std::to_string(i) +
                    R"(.25","currency":"USD","status":"ok","ts":"2026-11-28T10:)" +
                    (i % 60 < 10 ? "0" : "") + std::to_string(i % 60) + R"(:00Z"})");
  }
  return items;
}

std::vector<sim::PollFeed> MakeFeeds(const std::vector<PollPartnerSpec>& specs) {
  std::vector<sim::PollFeed> feeds;
  for (const PollPartnerSpec& spec : specs) {
    sim::PollFeed feed;
    feed.partner = *PartnerId::Parse(spec.id);
    feed.pagination = spec.pagination;
    feed.auth = spec.auth;
    feed.auth_header = "X-Api-Key";
    feed.basic_user = "firehose";
    feed.secret = "secret-" + spec.id;
    feed.items = MakeItems(spec.id, spec.items);
    feed.faults = spec.faults;
    feeds.push_back(std::move(feed));
  }
  return feeds;
}

std::string PollConfigText(const std::vector<PollPartnerSpec>& specs, std::uint16_t server_port,
                           const std::filesystem::path& data_dir, const std::string& limits,
                           std::uint16_t listen_port) {
  constexpr std::string_view kFields = R"(txn_id = "/id"
amount = "/amount"
currency = "/currency"
status = "/status"
status_map = { ok = "succeeded" }
event_time = "/ts"
)";
  std::string text = "data_dir = \"" + data_dir.string() + "\"\n";
  text += "[server]\nlisten = \"127.0.0.1:" + std::to_string(listen_port) + "\"\n";
  text += "[limits]\n" + limits + "\n";
  text += "[mappings.single]\n" + std::string(kFields);
  text += "[mappings.paged]\nbatch = \"/data\"\n" + std::string(kFields);
  for (const PollPartnerSpec& spec : specs) {
    text += "\n[[partners]]\nid = \"" + spec.id + "\"\nmode = \"poll\"\nmapping = \"" +
            (spec.batch_mapping ? "paged" : "single") + "\"\n[partners.poll]\n";
    const std::string url =
        spec.url_override.empty()
            ? "http://127.0.0.1:" + std::to_string(server_port) + "/poll/" + spec.id
            : spec.url_override;
    text += "url = \"" + url +
            "\"\ninterval_ms = 100\npage_size = " + std::to_string(spec.page_size) +
            "\nbackoff_initial_ms = 50\nbackoff_max_ms = 400\nbreaker_failures = 4\n"
            "breaker_open_ms = 300\n";
    text += "auth_secret = \"secret-" + spec.id + "\"\n";
    switch (spec.auth) {
      case PollAuthKind::kNone:
        text += "auth = \"none\"\n";
        break;
      case PollAuthKind::kBearer:
        text += "auth = \"bearer\"\n";
        break;
      case PollAuthKind::kBasic:
        text += "auth = \"basic\"\nbasic_user = \"firehose\"\n";
        break;
      case PollAuthKind::kHeader:
        text += "auth = \"header\"\nauth_header = \"X-Api-Key\"\n";
        break;
    }
    if (spec.pagination == PollPagination::kSince) {
      text += "pagination = \"since\"\ncursor_param = \"since\"\nsince_field = \"/seq\"\n";
    }
  }
  return text;
}

std::map<std::string, std::multiset<std::string>> ReadPolledTxnIds(Queue& queue,
                                                                   const Config& config) {
  std::map<std::string, std::multiset<std::string>> ids;
  auto consumer = queue.OpenConsumer("check");
  EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
  if (!consumer.ok()) return ids;
  Mapper mapper(config.limits);
  for (;;) {
    auto deliveries = (*consumer)->Fetch(10000, 64 << 20, std::chrono::milliseconds(200));
    EXPECT_TRUE(deliveries.ok()) << deliveries.status().ToString();
    if (!deliveries.ok() || deliveries->empty()) break;
    for (const Delivery& delivery : *deliveries) {
      const QueueRecord& record = delivery.record;
      EXPECT_EQ(record.source, ArrivalSource::kPoll);
      const PartnerConfig* partner = config.FindPartner(record.partner_id.view());
      EXPECT_NE(partner, nullptr) << record.partner_id.str();
      if (partner == nullptr) continue;
      const MappedArrival mapped = mapper.Map(record.partner_id, *partner->mapping, record.body);
      EXPECT_TRUE(mapped.unmapped.empty())
          << record.partner_id.str() << ": " << mapped.unmapped.front().reason << " in "
          << record.body;
      for (const MappedEvent& event : mapped.events) {
        ids[record.partner_id.str()].insert(event.event.txn_id.str());
      }
    }
    EXPECT_TRUE((*consumer)->Commit(deliveries->back().offset).ok());
  }
  return ids;
}

}  // namespace firehose::testing
