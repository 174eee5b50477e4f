#include "core/time.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <chrono>
#include <cstdio>

namespace firehose {

namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
// Years outside [1970, 9999] are not payment times; bounding them keeps every later
// conversion far away from int64 overflow.
constexpr int kYearMin = 1970;
constexpr int kYearMax = 9999;

bool TakeDigits(std::string_view* text, std::size_t count, int* out) {
  if (text->size() < count) return false;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = (*text)[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  text->remove_prefix(count);
  *out = value;
  return true;
}

bool TakeChar(std::string_view* text, char expected) {
  if (text->empty() || (*text)[0] != expected) return false;
  text->remove_prefix(1);
  return true;
}

Status BadTime(std::string_view text, std::string_view why) {
  std::string message = "time_invalid: '";
  message += text.substr(0, 64);
  message += "' ";
  message += why;
  return InvalidArgument(std::move(message));
}

// Parses "<digits>[.<fraction>]" into an integer count of 10^-fraction_digits_max units.
Result<std::int64_t> ParseScaledInteger(std::string_view text, int fraction_digits_max,
                                        std::string_view original) {
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) {
    return BadTime(original, "is not a number");
  }
  if (fraction.size() > static_cast<std::size_t>(fraction_digits_max)) {
    return BadTime(original, "has too many fraction digits");
  }
  std::int64_t value = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return BadTime(original, "is not a non-negative number");
    if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value)) {
      return BadTime(original, "is out of range");
    }
  }
  for (int i = 0; i < fraction_digits_max; ++i) {
    const int digit = i < static_cast<int>(fraction.size()) ? fraction[i] - '0' : 0;
    if (digit < 0 || digit > 9) return BadTime(original, "is not a number");
    if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, digit, &value)) {
      return BadTime(original, "is out of range");
    }
  }
  return value;
}

Result<TimestampUs> CheckRange(std::int64_t micros, std::string_view original) {
  static const std::int64_t kMax =
      BusinessDate::FromCivil(kYearMax + 1, 1, 1).days_since_epoch() * kMicrosPerDay;
  if (micros < 0 || micros >= kMax) return BadTime(original, "is outside years 1970..9999");
  return TimestampUs(micros);
}

}  // namespace

Result<TimestampUs> ParseRfc3339(std::string_view text) {
  std::string_view rest = text;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!TakeDigits(&rest, 4, &year) || !TakeChar(&rest, '-') || !TakeDigits(&rest, 2, &month) ||
      !TakeChar(&rest, '-') || !TakeDigits(&rest, 2, &day)) {
    return BadTime(text, "is not an RFC 3339 date-time");
  }
  if (rest.empty() || (rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ')) {
    return BadTime(text, "is not an RFC 3339 date-time");
  }
  rest.remove_prefix(1);
  if (!TakeDigits(&rest, 2, &hour) || !TakeChar(&rest, ':') || !TakeDigits(&rest, 2, &minute) ||
      !TakeChar(&rest, ':') || !TakeDigits(&rest, 2, &second)) {
    return BadTime(text, "is not an RFC 3339 date-time");
  }
  std::int64_t fraction_us = 0;
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
      if (digits < 6) fraction_us = fraction_us * 10 + (rest[0] - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0 || digits > 9) return BadTime(text, "has a malformed fraction of a second");
    for (int i = digits; i < 6; ++i) fraction_us *= 10;
  }
  int offset_seconds = 0;
  if (!rest.empty() && (rest[0] == 'Z' || rest[0] == 'z')) {
    rest.remove_prefix(1);
  } else if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
    const int sign = rest[0] == '-' ? -1 : 1;
    rest.remove_prefix(1);
    int offset_hours = 0, offset_minutes = 0;
    if (!TakeDigits(&rest, 2, &offset_hours) || !TakeChar(&rest, ':') ||
        !TakeDigits(&rest, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return BadTime(text, "has a malformed UTC offset");
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return BadTime(text, "has no UTC offset (Z or +hh:mm)");
  }
  if (!rest.empty()) return BadTime(text, "has trailing characters");
  if (year < kYearMin - 1 || year > kYearMax || month < 1 || month > 12 || hour > 23 ||
      minute > 59 || second > 59) {
    return BadTime(text, "has a field out of range");
  }
  auto date = BusinessDate::Parse(std::string_view(text.data(), 10));
  if (!date.ok()) return BadTime(text, "names a day that does not exist");
  const std::int64_t seconds = static_cast<std::int64_t>(date->days_since_epoch()) * 86'400 +
                               hour * 3600 + minute * 60 + second - offset_seconds;
  return CheckRange(seconds * kMicrosPerSecond + fraction_us, text);
}

std::string FormatRfc3339Micros(TimestampUs time) {
  const std::int64_t micros = time.value();
  std::int64_t days = micros / kMicrosPerDay;
  std::int64_t rest = micros % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    --days;
  }
  const std::string date = BusinessDate(static_cast<std::int32_t>(days)).ToString();
  const std::int64_t seconds = rest / kMicrosPerSecond;
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%sT%02lld:%02lld:%02lld.%06lldZ", date.c_str(),
                static_cast<long long>(seconds / 3600), static_cast<long long>(seconds / 60 % 60),
                static_cast<long long>(seconds % 60),
                static_cast<long long>(rest % kMicrosPerSecond));
  return buffer;
}

Result<TimestampUs> ParseUnixSeconds(std::string_view text) {
  FH_ASSIGN_OR_RETURN(const std::int64_t micros, ParseScaledInteger(text, 6, text));
  return CheckRange(micros, text);
}

Result<TimestampUs> ParseUnixMillis(std::string_view text) {
  FH_ASSIGN_OR_RETURN(const std::int64_t micros, ParseScaledInteger(text, 3, text));
  return CheckRange(micros, text);
}

TimestampUs NowUs() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return TimestampUs(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

struct BusinessCalendar::Zone {
  cctz::time_zone zone;
  bool is_utc = true;
};

BusinessCalendar::BusinessCalendar()
    : zone_(std::make_shared<Zone>(Zone{cctz::utc_time_zone(), true})), zone_name_("UTC") {}

Result<BusinessCalendar> BusinessCalendar::ForZone(std::string_view zone_name) {
  BusinessCalendar calendar;
  if (zone_name == "UTC" || zone_name == "Etc/UTC") return calendar;
  cctz::time_zone zone;
  if (!cctz::load_time_zone(std::string(zone_name), &zone)) {
    return InvalidArgument("unknown time zone '" + std::string(zone_name) +
                           "' (an IANA name such as UTC or Europe/Berlin)");
  }
  calendar.zone_ = std::make_shared<Zone>(Zone{zone, false});
  calendar.zone_name_ = std::string(zone_name);
  return calendar;
}

BusinessDate BusinessCalendar::DateOf(TimestampUs time) const {
  std::int64_t micros = time.value();
  if (zone_->is_utc) {
    std::int64_t days = micros / kMicrosPerDay;
    if (micros % kMicrosPerDay < 0) --days;
    return BusinessDate(static_cast<std::int32_t>(days));
  }
  const auto point = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>(
      std::chrono::seconds(micros >= 0 ? micros / kMicrosPerSecond
                                       : (micros - kMicrosPerSecond + 1) / kMicrosPerSecond));
  const cctz::civil_day day = cctz::civil_day(cctz::convert(point, zone_->zone));
  return BusinessDate::FromCivil(static_cast<int>(day.year()), day.month(), day.day());
}

TimestampUs BusinessCalendar::StartOf(BusinessDate date) const {
  const std::int64_t days = date.days_since_epoch();
  if (zone_->is_utc) return TimestampUs(days * kMicrosPerDay);
  const std::string text = date.ToString();
  const cctz::civil_second midnight(std::stoi(text.substr(0, 4)), std::stoi(text.substr(5, 2)),
                                    std::stoi(text.substr(8, 2)), 0, 0, 0);
  const auto lookup = zone_->zone.lookup(midnight);
  // In a gap (no local midnight) the day starts at the transition.
  const auto start = lookup.kind == cctz::time_zone::civil_lookup::SKIPPED ? lookup.trans
                                                                           : lookup.pre;
  return TimestampUs(std::chrono::duration_cast<std::chrono::microseconds>(
                         start.time_since_epoch()).count());
}

}  // namespace firehose
