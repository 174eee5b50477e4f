// Fuzz target: the lake line readers (lake/lake_line.h) on arbitrary lines: RawLineParser in
// both modes (validating DOM and the ledger's fast On-Demand path), ToCanonicalEvent, and
// ParseQuarantineLine. Properties: no crash; errors are DataLoss (or InvalidArgument for a
// line whose values are wrong); and a line the validating parser accepts is read identically
// by the fast parser, so verify and the ledger can never disagree about a line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check.h"
#include "lake/lake_line.h"

namespace firehose::lake {
namespace {

void CheckSame(const RawLineView& full, const RawLineView& fast) {
  FH_CHECK(full.partner_id == fast.partner_id && full.txn_id == fast.txn_id, "ids differ");
  FH_CHECK(full.amount_minor == fast.amount_minor && full.currency == fast.currency,
           "money differs");
  FH_CHECK(full.status == fast.status && full.event_time_us == fast.event_time_us,
           "status/time differ");
  FH_CHECK(full.version == fast.version && full.error_code == fast.error_code,
           "version/error differ");
  FH_CHECK(full.arrival_id == fast.arrival_id && full.event_index == fast.event_index &&
               full.queue_offset == fast.queue_offset && full.received_at_us == fast.received_at_us,
           "envelope differs");
}

}  // namespace
}  // namespace firehose::lake

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firehose;
  using namespace firehose::lake;
  static RawLineParser full_parser(/*with_raw=*/true);
  static RawLineParser fast_parser(/*with_raw=*/false);
  const std::string line(reinterpret_cast<const char*>(data), size);

  RawLineView full;
  const Status full_status = full_parser.Parse(line, &full);
  RawLineView fast;
  const Status fast_status = fast_parser.Parse(line, &fast);
  if (full_status.ok()) {
    FH_CHECK(fast_status.ok(), "the fast parser refused a line the validating parser read: " +
                                   fast_status.ToString());
    lake::CheckSame(full, fast);
    Result<CanonicalEvent> event = ToCanonicalEvent(full);
    FH_CHECK(event.ok() || event.status().code() == StatusCode::kDataLoss ||
                 event.status().code() == StatusCode::kInvalidArgument,
             event.status().ToString());
  } else {
    FH_CHECK(full_status.code() == StatusCode::kDataLoss, full_status.ToString());
  }

  Result<QuarantineLine> quarantined = ParseQuarantineLine(line);
  // A writer never puts a NUL byte in a line; a reader that accepts one reads something else
  // than what is there (nlohmann stops at a NUL).
  FH_CHECK(!quarantined.ok() || line.find('\0') == std::string::npos,
           "a quarantine line with a NUL byte was accepted");
  FH_CHECK(!full_status.ok() || line.find('\0') == std::string::npos,
           "a raw line with a NUL byte was accepted");
  FH_CHECK(quarantined.ok() || quarantined.status().code() == StatusCode::kDataLoss,
           quarantined.status().ToString());
  return 0;
}
