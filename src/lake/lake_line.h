// One lake line, written and read (docs/formats/lake.md, "Lines"). The writer appends lines
// with the Append* functions; readers parse them with RawLineParser (the ledger's hot path)
// or ParseQuarantineLine. Both sides follow the field order in lake_format.h.
//
// The `raw` field of a raw-zone line is the partner's original JSON text for the event, as a
// JSON string: parsing the line and unescaping that string gives back exactly the bytes the
// partner sent. Quarantined bytes may be anything (invalid UTF-8 included), so a quarantine line
// carries them as base64.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/status.h"
#include "core/types.h"
#include "lake/lake_format.h"

namespace firehose::lake {

// What every line from one queue record shares.
struct LineEnvelope {
  std::string_view partner_id;
  std::string_view arrival_id;
  TimestampUs received_at;
  std::string_view received_at_text;  // FormatRfc3339Micros(received_at), formatted once
  std::string_view source;            // "webhook" | "poll"
  QueueOffset queue_offset;
};

// Appends one raw-zone line (with its trailing '\n'). `raw` must be valid UTF-8 (the mapper
// validated it): it is written as a JSON string whose unescaped value is exactly `raw`.
void AppendRawLine(const LineEnvelope& envelope, const CanonicalEvent& event,
                   BusinessDate event_date, std::uint32_t event_index, std::string_view raw,
                   std::string* out);

struct QuarantinePart {
  std::int64_t event_index = kWholeArrivalIndex;
  std::string_view reason;
  std::string_view detail;
  std::string_view raw;  // any bytes
};

// Appends one quarantine-zone line (with its trailing '\n').
void AppendQuarantineLine(const LineEnvelope& envelope, BusinessDate arrival_date,
                          const QuarantinePart& part, std::string* out);

// A parsed raw-zone line. The string_views point into the line or into the parser that
// produced it, and are valid until that parser's next Parse call.
struct RawLineView {
  std::string_view partner_id;
  std::string_view txn_id;
  std::int64_t amount_minor = 0;
  std::string_view amount;
  std::string_view currency;
  std::string_view status;
  std::string_view event_time;
  std::int64_t event_time_us = 0;
  std::string_view event_date;
  std::optional<std::int64_t> version;
  std::optional<std::string_view> error_code;
  std::string_view arrival_id;
  std::int64_t event_index = 0;
  std::string_view received_at;
  std::int64_t received_at_us = 0;
  std::string_view source;
  std::uint64_t queue_offset = 0;
  std::string_view raw;  // empty unless the parser was asked to unescape it
};

// Checks the values' meaning (ids, currency, status, amount vs amount_minor, date vs time is
// left to the caller, who knows the zone) and builds the canonical event.
Result<CanonicalEvent> ToCanonicalEvent(const RawLineView& line);

// Parses raw-zone lines with simdjson, reusing its buffers. Not thread-safe: one parser per
// thread. Every field must be present, in the order of kRawFields, with its type; anything else
// is a DataLoss naming the field. Two modes:
//   with_raw = true   simdjson's DOM: the whole line is validated (every string, nothing after
//                     the object) and `raw` is unescaped. For verify, cat, tools. ~1.3 M lines/s.
//   with_raw = false  simdjson's On-Demand: only the fields read are validated, `raw` is skipped
//                     without being unescaped. For the ledger's hot path. ~2-3 M lines/s.
// (bench/RESULTS.md "## Lake", ~600-byte lines, one core.)
class RawLineParser {
 public:
  explicit RawLineParser(bool with_raw = true);
  ~RawLineParser();
  RawLineParser(const RawLineParser&) = delete;
  RawLineParser& operator=(const RawLineParser&) = delete;

  // `line` without its '\n'. The bytes [line.data(), line.data() + line.size() + kLinePaddingBytes)
  // must be readable (LineReader guarantees it for the lines it returns); they are not changed.
  Status ParsePadded(std::string_view line, RawLineView* out);
  // Any line: copies it into a padded buffer first.
  Status Parse(std::string_view line, RawLineView* out);

 private:
  Status ParseFast(std::string_view line, RawLineView* out);

  struct State;
  std::unique_ptr<State> state_;
};

// Bytes a padded line must have readable after its end (simdjson's padding).
extern const std::size_t kLinePaddingBytes;

// The fields the ledger reads from a raw-zone line, found by a strict scanner that follows the
// writer's exact layout (kRawFields order, `"key":value` with no whitespace) and stops before
// `raw`: it never reads the partner's bytes, which are most of a line. String views point into
// the line, except `txn_id` when its JSON text had escapes (then into the caller's scratch).
struct LedgerFields {
  std::string_view partner_id;
  std::string_view txn_id;  // unescaped
  std::int64_t amount_minor = 0;
  std::string_view currency;
  std::string_view status;
  std::int64_t event_time_us = 0;
  std::string_view event_date;
  std::optional<std::int64_t> version;
  std::int64_t received_at_us = 0;
};

// Reads every LedgerFields field, checking each key, type and the JSON syntax of every value up
// to `raw`, and that the line ends with the closing `"}` of `raw` and the object. A line that
// does not follow the layout is a DataLoss naming the field (the lake's writer never writes
// one). ~1.4x RawLineParser's fast mode on ~650-byte lines (bench/ledger_bench.cc): no tape,
// no key lookups, no padding needed.
// `scratch` holds an unescaped txn_id; it is reused across calls.
Status ScanLedgerFields(std::string_view line, LedgerFields* out, std::string* scratch);
// Only partner_id and txn_id (the line's first two fields): for a reader that decides from the
// key whether the rest of the line matters.
Status ScanLedgerKey(std::string_view line, LedgerFields* out, std::string* scratch);

// A parsed quarantine-zone line, with the raw bytes decoded from base64.
struct QuarantineLine {
  std::string partner_id;
  std::string arrival_id;
  std::int64_t event_index = kWholeArrivalIndex;
  std::string reason;
  std::string detail;
  std::string received_at;
  std::int64_t received_at_us = 0;
  std::string arrival_date;
  std::string source;
  std::uint64_t queue_offset = 0;
  std::string raw;  // the exact bytes that could not be mapped
};

// DataLoss naming the field when the line is not a well-formed quarantine line (including a
// raw_base64 that does not decode to raw_bytes bytes).
Result<QuarantineLine> ParseQuarantineLine(std::string_view line);

}  // namespace firehose::lake
