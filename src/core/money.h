// Exact money: ISO 4217 currencies and decimal text <-> integer minor units.
//
// No floating point anywhere on this path. A decimal string is parsed digit by digit into an
// int64 count of minor units; more fraction digits than the currency's exponent is an error,
// never a rounding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"

namespace firehose {

// An active ISO 4217 alphabetic code with its minor-unit exponent (JPY 0, USD 2, KWD 3, CLF 4).
class Currency {
 public:
  Currency() = default;
  // Accepts the code in either ASCII case ("usd" and "USD" are both USD).
  static Result<Currency> FromCode(std::string_view code);
  std::string_view code() const { return {code_, 3}; }
  int exponent() const { return exponent_; }
  bool operator==(const Currency& other) const { return code() == other.code(); }
  auto operator<=>(const Currency& other) const { return code() <=> other.code(); }

 private:
  char code_[3] = {'X', 'X', 'X'};
  std::uint8_t exponent_ = 0;
};

// Every way a money string can be malformed, each with its own name (used as the quarantine
// reason and in error messages).
enum class MoneyError : std::uint8_t {
  kEmpty,                  // ""
  kWhitespace,             // " 12.00", "12.00 ", "1 2"
  kPlusSign,               // "+12.00": a sign other than a single leading '-'
  kMissingDigits,          // "-", ".5", "12.", "-.5"
  kExponentNotation,       // "1e3", "1.5E2"
  kInvalidCharacter,       // "12,00", "$12", "0x10", "1..2"
  kTooManyFractionDigits,  // "12.345" in USD, "1.5" in JPY
  kOverflow,               // beyond int64 minor units
};

std::string_view MoneyErrorName(MoneyError error);  // e.g. "amount_too_many_fraction_digits"

struct MoneyParse {
  bool ok = false;
  MoneyError error = MoneyError::kEmpty;
  AmountMinor amount;
};

// "12.34" in USD -> 1234; "-0.5" in KWD -> -500; "1500" in JPY -> 1500.
MoneyParse ParseDecimalAmount(std::string_view text, int exponent);

// An amount already in minor units, written as an integer: "1234", "-5".
MoneyParse ParseMinorUnits(std::string_view text);

// 1234 with exponent 2 -> "12.34"; -5 with exponent 3 -> "-0.005"; 1500 with exponent 0 -> "1500".
std::string FormatAmount(AmountMinor amount, int exponent);

// Status form of a failed parse: InvalidArgument naming the error and the currency.
Status MoneyErrorStatus(MoneyError error, std::string_view text, std::string_view currency);

}  // namespace firehose
