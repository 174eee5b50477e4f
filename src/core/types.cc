#include "core/types.h"

#include <simdjson.h>

#include <charconv>
#include <cstdio>

namespace firehose {

bool CheckedAdd(AmountMinor a, AmountMinor b, AmountMinor* out) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a.value(), b.value(), &sum)) return false;
  *out = AmountMinor(sum);
  return true;
}

namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
std::int32_t DaysFromCivil(int year, int month, int day) {
  year -= month <= 2;
  const int era = (year >= 0 ? year : year - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year =
      (153 * static_cast<unsigned>(month + (month > 2 ? -3 : 9)) + 2) / 5 +
      static_cast<unsigned>(day) - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int32_t>(day_of_era) - 719468;
}

void CivilFromDays(std::int32_t days, int* year, int* month, int* day) {
  days += 719468;
  const int era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned mp = (5 * day_of_year + 2) / 153;
  *day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = static_cast<int>(year_of_era) + era * 400 + (*month <= 2);
}

bool ParseDigits(std::string_view text, int* out) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

BusinessDate BusinessDate::FromCivil(int year, int month, int day) {
  return BusinessDate(DaysFromCivil(year, month, day));
}

Result<BusinessDate> BusinessDate::Parse(std::string_view text) {
  int year = 0, month = 0, day = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !ParseDigits(text.substr(0, 4), &year) ||
      !ParseDigits(text.substr(5, 2), &month) || !ParseDigits(text.substr(8, 2), &day)) {
    return InvalidArgument("date '" + std::string(text) + "' is not YYYY-MM-DD");
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return InvalidArgument("date '" + std::string(text) + "' does not exist");
  }
  return FromCivil(year, month, day);
}

std::string BusinessDate::ToString() const {
  int year = 0, month = 0, day = 0;
  CivilFromDays(days_, &year, &month, &day);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d", year, month, day);
  return buffer;
}

bool PartnerId::IsValid(std::string_view text) {
  if (text.empty() || text.size() > kBytesMax) return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<PartnerId> PartnerId::Parse(std::string_view text) {
  if (!IsValid(text)) {
    return InvalidArgument("partner id must match [a-z0-9_-]{1,64}");
  }
  return PartnerId(std::string(text));
}

Result<TxnId> TxnId::Parse(std::string_view text) {
  if (text.empty()) return InvalidArgument("txn_id is empty");
  if (text.size() > kBytesMax) {
    return InvalidArgument("txn_id is " + std::to_string(text.size()) + " bytes, over the limit of " +
                           std::to_string(kBytesMax));
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    return InvalidArgument("txn_id is not valid UTF-8");
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return InvalidArgument("txn_id contains a control character");
  }
  return TxnId(std::string(text));
}

Result<ArrivalId> ArrivalId::Parse(std::string_view text) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  if (text.size() != kChars) return InvalidArgument("arrival id must be 26 characters");
  for (char c : text) {
    if (kAlphabet.find(c) == std::string_view::npos) {
      return InvalidArgument("arrival id has a character outside Crockford base32");
    }
  }
  return ArrivalId(std::string(text));
}

}  // namespace firehose
