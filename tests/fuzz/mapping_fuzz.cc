// Fuzz target: webhook body mapping (core/mapping.h), partner JSON -> canonical events, under
// every mapping option: nested and escaped JSON pointers (~0, ~1, array indexes), decimal and
// minor-unit amounts, RFC 3339 / unix_s / unix_ms event times, every version format
// (updated_at), error codes, and batches at two depths. Input: byte 0 picks the mapping, the rest
// is the body. Properties: no crash, and every answer keeps the mapper's promises: each event
// is either mapped or quarantined with a named reason (never both, never neither), a mapped
// event has a valid txn_id/currency and raw bytes inside the body, and a batch never yields
// more than batch_events_max parts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "core/config.h"
#include "core/mapping.h"

namespace firehose {
namespace {

constexpr std::int64_t kBatchEventsMax = 8;

constexpr std::string_view kStatusMap =
    R"(status_map = { succeeded = "succeeded", failed = "failed", "0" = "pending", "a/b~c" = "refunded" })";

// One mapping per option worth covering; the comment says what each one adds.
const char* const kMappingTables[] = {
    // single event, decimal amount, RFC 3339 time and updated_at, error code
    R"(txn_id = "/id"
amount = "/amount"
currency = "/currency"
status = "/status"
event_time = "/created_at"
version = "/updated_at"
version_format = "rfc3339"
error_code = "/failure")",
    // nested pointers, minor units, unix seconds, an integer version counter
    R"(txn_id = "/data/object/id"
amount = "/data/object/amount"
amount_format = "minor_units"
currency = "/data/object/currency"
status = "/data/object/status"
event_time = "/created"
event_time_format = "unix_s"
version = "/data/object/version"
version_format = "integer")",
    // a batch, unix milliseconds with a unix_ms version
    R"(batch = "/events"
txn_id = "/id"
amount = "/amount"
currency = "/currency"
status = "/status"
event_time = "/at"
event_time_format = "unix_ms"
version = "/seen"
version_format = "unix_ms")",
    // a deep batch, escaped pointer tokens (~1 is '/', ~0 is '~'), array indexes, unix_s version
    R"(batch = "/data/items"
txn_id = "/ids/0"
amount = "/money/a~1b"
amount_format = "minor_units"
currency = "/money/c~0d"
status = "/s"
event_time = "/t"
version = "/v"
version_format = "unix_s")",
    // the root array itself as the batch, the empty-string key as the txn_id
    R"(batch = ""
txn_id = "/"
amount = "/amount"
currency = "/currency"
status = "/status"
event_time = "/t"
event_time_format = "unix_s")",
};

struct Fixture {
  Limits limits;
  std::vector<Mapping> mappings;
  PartnerId partner;

  Fixture() {
    limits.batch_events_max = kBatchEventsMax;
    for (const char* table : kMappingTables) {
      const std::string text = std::string(table) + "\n" + std::string(kStatusMap) + "\n";
      Result<Mapping> mapping = ParseMappingToml(text, "fuzz" + std::to_string(mappings.size()));
      FH_CHECK(mapping.ok(), mapping.status().ToString());
      mappings.push_back(std::move(mapping).value());
    }
    partner = PartnerId::Parse("fuzz-partner").value();
  }
};

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void CheckArrival(const Fixture& fixture, const Mapping& mapping, std::string_view body,
                  const MappedArrival& arrival) {
  const auto& reasons = MappingReasons();
  std::set<std::int64_t> indexes;
  for (const UnmappedPart& part : arrival.unmapped) {
    FH_CHECK(std::find(reasons.begin(), reasons.end(), part.reason) != reasons.end(),
             "a quarantine reason that MappingReasons() does not list: " + part.reason);
    FH_CHECK(Inside(part.raw, body), "quarantined bytes outside the body");
    FH_CHECK(indexes.insert(part.event_index).second, "an event index quarantined twice");
  }
  if (arrival.whole_arrival_unmapped()) {
    FH_CHECK(arrival.events.empty() && arrival.unmapped.size() == 1,
             "a wholly unmapped arrival with other parts");
    return;
  }
  for (const MappedEvent& mapped : arrival.events) {
    const CanonicalEvent& event = mapped.event;
    FH_CHECK(event.partner_id == fixture.partner, "the partner id came from somewhere else");
    FH_CHECK(!event.txn_id.str().empty() && event.txn_id.str().size() <= TxnId::kBytesMax,
             "a txn_id outside its limits");
    FH_CHECK(Currency::FromCode(event.currency.code()).ok(), "an invalid currency was mapped");
    FH_CHECK(Inside(mapped.raw, body), "event bytes outside the body");
    FH_CHECK(indexes.insert(mapped.event_index).second, "an event both mapped and quarantined");
  }
  if (mapping.batch_pointer.empty()) {
    FH_CHECK(indexes.size() == 1 && *indexes.begin() == 0,
             "a single-event body gave other than one part");
    return;
  }
  FH_CHECK(static_cast<std::int64_t>(indexes.size()) <= kBatchEventsMax || arrival.batch_too_large,
           "a batch over batch_events_max was mapped");
  if (!indexes.empty()) {
    FH_CHECK(*indexes.rbegin() == static_cast<std::int64_t>(indexes.size()) - 1,
             "batch event indexes are not dense from 0");
  }
}

}  // namespace
}  // namespace firehose

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firehose;
  static const Fixture fixture;
  static Mapper mapper(fixture.limits);
  if (size == 0) return 0;
  const Mapping& mapping = fixture.mappings[data[0] % fixture.mappings.size()];
  // A copy of its own, so ASan sees any read past the body's end.
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const MappedArrival arrival = mapper.Map(fixture.partner, mapping, body);
  CheckArrival(fixture, mapping, body, arrival);
  return 0;
}
