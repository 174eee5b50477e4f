#include "core/money.h"

#include <algorithm>
#include <array>
#include <limits>

namespace firehose {

namespace {

struct CurrencyEntry {
  const char* code;
  std::uint8_t exponent;
};

// Active ISO 4217 codes with a defined minor unit (ISO 4217 list one, 2025 edition).
// Precious metals, SDR and test codes (XAU, XDR, XTS, XXX, ...) have no minor unit and are
// deliberately absent: money in them is not a payment.
constexpr std::array kCurrencies = std::to_array<CurrencyEntry>({
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2},
    {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2},
    {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2},
    {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2},
    {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2},
    {"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2},
    {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2},
    {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0},
    {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2},
    {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3},
    {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0},
    {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2},
    {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2},
    {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
    {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2},
    {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2},
    {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2},
    {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
    {"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2},
    {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2},
    {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2},
    {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2},
    {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0},
    {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
});

constexpr bool IsSortedByCode() {
  for (std::size_t i = 1; i < kCurrencies.size(); ++i) {
    if (std::string_view(kCurrencies[i - 1].code) >= std::string_view(kCurrencies[i].code)) {
      return false;
    }
  }
  return true;
}
static_assert(IsSortedByCode(), "the currency table must stay sorted for binary search");

constexpr std::int64_t kPowersOfTen[] = {1, 10, 100, 1000, 10000};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

MoneyParse Fail(MoneyError error) { return {false, error, AmountMinor(0)}; }

// Classifies a string that failed the strict grammar, so that each malformed case has its
// own name. Called only on the error path.
MoneyError ClassifyMalformed(std::string_view text) {
  if (std::any_of(text.begin(), text.end(), IsSpace)) return MoneyError::kWhitespace;
  if (text.find('+') != std::string_view::npos) return MoneyError::kPlusSign;
  const bool has_exponent_letter =
      text.find_first_of("eE") != std::string_view::npos &&
      std::all_of(text.begin(), text.end(), [](char c) {
        return IsDigit(c) || c == '.' || c == '-' || c == 'e' || c == 'E';
      });
  if (has_exponent_letter) return MoneyError::kExponentNotation;
  return MoneyError::kInvalidCharacter;
}

// Accumulates digits into `magnitude` (as a negative number, so that INT64_MIN is reachable).
bool AccumulateNegative(std::string_view digits, std::int64_t* magnitude) {
  for (char c : digits) {
    if (__builtin_mul_overflow(*magnitude, 10, magnitude)) return false;
    if (__builtin_sub_overflow(*magnitude, c - '0', magnitude)) return false;
  }
  return true;
}

}  // namespace

Result<Currency> Currency::FromCode(std::string_view code) {
  if (code.size() != 3) {
    return InvalidArgument("currency '" + std::string(code) + "' is not a 3-letter ISO 4217 code");
  }
  char upper[3];
  for (int i = 0; i < 3; ++i) {
    const char c = code[i];
    if (c >= 'a' && c <= 'z') {
      upper[i] = static_cast<char>(c - 'a' + 'A');
    } else if (c >= 'A' && c <= 'Z') {
      upper[i] = c;
    } else {
      return InvalidArgument("currency '" + std::string(code) + "' is not a 3-letter ISO 4217 code");
    }
  }
  const std::string_view key(upper, 3);
  const auto it = std::lower_bound(
      kCurrencies.begin(), kCurrencies.end(), key,
      [](const CurrencyEntry& entry, std::string_view k) { return std::string_view(entry.code) < k; });
  if (it == kCurrencies.end() || std::string_view(it->code) != key) {
    return InvalidArgument("currency '" + std::string(code) + "' is not an active ISO 4217 code");
  }
  Currency currency;
  std::copy_n(upper, 3, currency.code_);
  currency.exponent_ = it->exponent;
  return currency;
}

std::string_view MoneyErrorName(MoneyError error) {
  switch (error) {
    case MoneyError::kEmpty: return "amount_empty";
    case MoneyError::kWhitespace: return "amount_whitespace";
    case MoneyError::kPlusSign: return "amount_plus_sign";
    case MoneyError::kMissingDigits: return "amount_missing_digits";
    case MoneyError::kExponentNotation: return "amount_exponent_notation";
    case MoneyError::kInvalidCharacter: return "amount_invalid_character";
    case MoneyError::kTooManyFractionDigits: return "amount_too_many_fraction_digits";
    case MoneyError::kOverflow: return "amount_overflow";
  }
  return "amount_invalid";
}

MoneyParse ParseDecimalAmount(std::string_view text, int exponent) {
  FH_CHECK(exponent >= 0 && exponent <= 4, "currency exponent outside the ISO 4217 range");
  if (text.empty()) return Fail(MoneyError::kEmpty);

  std::string_view rest = text;
  const bool negative = rest.front() == '-';
  if (negative) rest.remove_prefix(1);

  const std::size_t dot = rest.find('.');
  const std::string_view integer_digits = rest.substr(0, dot);
  const std::string_view fraction_digits =
      dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  const bool well_formed =
      std::all_of(integer_digits.begin(), integer_digits.end(), IsDigit) &&
      std::all_of(fraction_digits.begin(), fraction_digits.end(), IsDigit);
  if (!well_formed) return Fail(ClassifyMalformed(text));
  if (integer_digits.empty() || (dot != std::string_view::npos && fraction_digits.empty())) {
    return Fail(MoneyError::kMissingDigits);
  }
  if (fraction_digits.size() > static_cast<std::size_t>(exponent)) {
    return Fail(MoneyError::kTooManyFractionDigits);
  }

  std::int64_t value = 0;  // accumulated as a negative number
  if (!AccumulateNegative(integer_digits, &value) || !AccumulateNegative(fraction_digits, &value)) {
    return Fail(MoneyError::kOverflow);
  }
  const std::int64_t scale = kPowersOfTen[exponent - static_cast<int>(fraction_digits.size())];
  if (__builtin_mul_overflow(value, scale, &value)) return Fail(MoneyError::kOverflow);
  if (!negative) {
    if (value == std::numeric_limits<std::int64_t>::min()) return Fail(MoneyError::kOverflow);
    value = -value;
  }
  return {true, MoneyError::kEmpty, AmountMinor(value)};
}

MoneyParse ParseMinorUnits(std::string_view text) {
  if (text.find('.') != std::string_view::npos) {
    // "12.00" in a minor-units field: the partner sent a decimal where an integer was promised.
    return Fail(MoneyError::kTooManyFractionDigits);
  }
  return ParseDecimalAmount(text, 0);
}

std::string FormatAmount(AmountMinor amount, int exponent) {
  FH_CHECK(exponent >= 0 && exponent <= 4, "currency exponent outside the ISO 4217 range");
  const std::int64_t value = amount.value();
  // Work on the unsigned magnitude so that INT64_MIN formats correctly.
  const std::uint64_t magnitude =
      value < 0 ? static_cast<std::uint64_t>(-(value + 1)) + 1 : static_cast<std::uint64_t>(value);
  std::string digits = std::to_string(magnitude);
  if (exponent > 0) {
    const auto width = static_cast<std::size_t>(exponent);
    if (digits.size() <= width) digits.insert(0, width + 1 - digits.size(), '0');
    digits.insert(digits.size() - width, 1, '.');
  }
  if (value < 0) digits.insert(0, 1, '-');
  return digits;
}

Status MoneyErrorStatus(MoneyError error, std::string_view text, std::string_view currency) {
  std::string message(MoneyErrorName(error));
  message += ": '";
  message += text.substr(0, 64);
  message += "'";
  if (!currency.empty()) {
    message += " as ";
    message += currency;
  }
  return InvalidArgument(std::move(message));
}

}  // namespace firehose
