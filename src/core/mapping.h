// Partner JSON -> canonical events (DESIGN §2), with a named reason for every way it can fail.
//
// One pass over each event with simdjson's On-Demand API: the whole JSON text is validated
// (UTF-8, structure, string escapes, number grammar, nesting depth, no duplicate keys, nothing
// after the root), the fields the mapping names are captured on the way, and numbers are read
// from their literal text so that a decimal amount never passes through a double.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/event.h"

namespace firehose {

// A mapped event and its verbatim bytes inside the arrival's body.
struct MappedEvent {
  CanonicalEvent event;
  std::uint32_t event_index = 0;  // position in the batch (0 for a single-event body)
  std::string_view raw;           // the element's bytes (the whole body for a single event)
};

// Something that could not be mapped: the whole arrival (event_index < 0) or one batch element.
struct UnmappedPart {
  std::int32_t event_index = -1;  // -1: the whole body
  std::string reason;             // stable snake_case code: "missing_field", "amount_overflow", ...
  std::string detail;             // for humans: which field, what was found
  std::string_view raw;           // the bytes concerned
};

struct MappedArrival {
  std::vector<MappedEvent> events;
  std::vector<UnmappedPart> unmapped;
  // The whole arrival is unmappable (bad JSON, batch missing, ...): `events` is empty and
  // `unmapped` has one part with event_index -1.
  bool whole_arrival_unmapped() const { return !unmapped.empty() && unmapped.front().event_index < 0; }
  // The batch held more elements than limits.batch_events_max (the edge answers 413).
  bool batch_too_large = false;
};

// Maps bodies for one thread. Not thread-safe: each thread keeps its own Mapper (it owns a
// parser and buffers that it reuses across calls). The string_views in a result point into
// `body` and stay valid as long as the caller's body does.
class Mapper {
 public:
  explicit Mapper(const Limits& limits);
  ~Mapper();
  Mapper(const Mapper&) = delete;
  Mapper& operator=(const Mapper&) = delete;

  MappedArrival Map(const PartnerId& partner, const Mapping& mapping, std::string_view body);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Every quarantine reason Map() can produce (for docs, metrics labels and tests).
const std::vector<std::string_view>& MappingReasons();

}  // namespace firehose
