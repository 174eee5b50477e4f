// Timestamps on the event path: parsing partner time formats into UTC microseconds, and the
// business date of an instant in the configured IANA zone.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace firehose {

// RFC 3339 date-time: "2026-11-27T10:00:00Z", "...T10:00:00.123456+02:00". 't'/'z' and a
// space separator are accepted (RFC 3339 §5.6 note). Fractions beyond microseconds are
// truncated toward the earlier instant; leap second 60 is rejected.
Result<TimestampUs> ParseRfc3339(std::string_view text);

// "2026-11-27T10:00:00.123456Z": always six fraction digits, always UTC.
std::string FormatRfc3339Micros(TimestampUs time);

// Unix time as an integer or decimal text: seconds ("1764237600", "1764237600.25") or
// milliseconds ("1764237600123"). Negative values and more than 6 (s) or 3 (ms) fraction
// digits are rejected.
Result<TimestampUs> ParseUnixSeconds(std::string_view text);
Result<TimestampUs> ParseUnixMillis(std::string_view text);

// The wall clock, in one place so that tests can see what time the code saw.
TimestampUs NowUs();

// Maps instants to business dates in one IANA zone ("UTC", "America/New_York").
// Thread-safe after construction.
class BusinessCalendar {
 public:
  static Result<BusinessCalendar> ForZone(std::string_view zone_name);
  BusinessCalendar();  // UTC
  BusinessDate DateOf(TimestampUs time) const;
  // The first instant of `date` in the zone (midnight, or the first valid time after a gap).
  TimestampUs StartOf(BusinessDate date) const;
  const std::string& zone_name() const { return zone_name_; }

 private:
  struct Zone;
  std::shared_ptr<const Zone> zone_;
  std::string zone_name_;
};

}  // namespace firehose
